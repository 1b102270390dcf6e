// SPDX-License-Identifier: GPL-2.0-or-later
//! IPL volumes: a formatted 3390 image whose first track carries what an
//! IPL from DASD reads, in the form QEMU's s390-ccw firmware handles
//! (pc-bios/s390-ccw/dasd-ipl.c):
//!
//! - R1 (key "IPL1", 24 bytes): the IPL PSW, a format-0 Read Data CCW of
//!   IPL2 to [`IPL2_ADDR`] chained to a TIC to that address. The firmware
//!   reads R1 with Read IPL, checks for exactly that Read + TIC pair, reads
//!   R2 with the Read's address and count, and runs the program there.
//! - R2 (key "IPL2"): a format-0 channel program that, track by track,
//!   seeks, searches for the track's first payload record (search + TIC
//!   back to it), then reads the track's payload records one after the
//!   other into storage at the load address. It never chains a Read into a
//!   TIC, the pattern at which the firmware splits programs.
//! - R3 (key "VOL1", 80 bytes): a volume label, in EBCDIC.
//! - the payload: records of [`PAYLOAD_RECORD`] bytes (the last one
//!   shorter), R4 onwards on track 0, then from R1 on the following tracks.
//!
//! The IPL PSW is an ESA/390 short-format PSW (mask word bit 12, as the
//! firmware requires to jump to it) addressing the entry point in 31-bit
//! mode.

use std::path::Path;

use crate::ckd::{CkdImage, ImageError, Record, Track, HEADS_3390, TRKSIZE_3390};

/// Where IPL1 has IPL2 read, above the 8 KiB z/Architecture lowcore.
pub const IPL2_ADDR: u32 = 0x2000;
/// Payload record size: twelve of them fill a 3390 track.
pub const PAYLOAD_RECORD: usize = 4096;
/// Payload records per track after the first.
pub const RECORDS_PER_TRACK: usize = 12;
/// Payload records that fit on track 0 after IPL1, IPL2 and the label.
pub const RECORDS_TRACK0: usize = 9;
/// Format-0 CCWs address 24 bits.
pub const ADDR_LIMIT: u64 = 1 << 24;

const FMT0_CC: u8 = 0x40;
const CMD_SEEK: u8 = 0x07;
const CMD_SEARCH: u8 = 0x31;
const CMD_TIC: u8 = 0x08;
const CMD_READ: u8 = 0x06;

/// What to put on the volume.
pub struct IplSpec<'a> {
    pub cylinders: u32,
    pub volser: &'a str,
    pub payload: &'a [u8],
    pub load_addr: u32,
    pub entry: u32,
}

/// A format-0 CCW.
pub fn ccw0(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    let a = cda.to_be_bytes();
    let c = count.to_be_bytes();
    [cmd, a[1], a[2], a[3], flags, 0, c[0], c[1]]
}

/// The 24 bytes of IPL1 for an IPL2 of `ipl2_len` bytes.
pub fn ipl1(entry: u32, ipl2_len: u16) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[0..4].copy_from_slice(&0x0008_0000u32.to_be_bytes());
    b[4..8].copy_from_slice(&(0x8000_0000 | entry).to_be_bytes());
    b[8..16].copy_from_slice(&ccw0(CMD_READ, FMT0_CC, ipl2_len, IPL2_ADDR));
    b[16..24].copy_from_slice(&ccw0(CMD_TIC, 0, 0, IPL2_ADDR));
    b
}

/// Where each payload record goes: (cylinder, head, record).
fn payload_places(records: usize) -> Vec<(u16, u16, u8)> {
    let mut v = Vec::with_capacity(records);
    for i in 0..records {
        if i < RECORDS_TRACK0 {
            v.push((0, 0, (4 + i) as u8));
        } else {
            let j = i - RECORDS_TRACK0;
            let track = 1 + j / RECORDS_PER_TRACK;
            let cyl = track / HEADS_3390 as usize;
            let head = track % HEADS_3390 as usize;
            v.push((cyl as u16, head as u16, (1 + j % RECORDS_PER_TRACK) as u8));
        }
    }
    v
}

/// A track's payload reads: (cylinder, head) and each record's number and
/// length.
type TrackReads = ((u16, u16), Vec<(u8, usize)>);

/// The IPL2 channel program, built to live at [`IPL2_ADDR`].
pub fn ipl2(payload_len: usize, load_addr: u32) -> Vec<u8> {
    let records = payload_len.div_ceil(PAYLOAD_RECORD);
    let places = payload_places(records);
    // Group the records by track, in order.
    let mut tracks: Vec<TrackReads> = Vec::new();
    for (i, &(c, h, r)) in places.iter().enumerate() {
        let len = PAYLOAD_RECORD.min(payload_len - i * PAYLOAD_RECORD);
        match tracks.last_mut() {
            Some((t, recs)) if *t == (c, h) => recs.push((r, len)),
            _ => tracks.push(((c, h), vec![(r, len)])),
        }
    }
    // CCWs first, then their seek and search arguments.
    let nccws: usize = tracks.iter().map(|(_, recs)| 3 + recs.len()).sum();
    let args_at = IPL2_ADDR + 8 * nccws as u32;
    let mut ccws: Vec<u8> = Vec::new();
    let mut args: Vec<u8> = Vec::new();
    let mut dest = load_addr;
    let mut reads_left = records;
    for ((c, h), recs) in &tracks {
        let seek_arg = args_at + args.len() as u32;
        args.extend_from_slice(&[0, 0]);
        args.extend_from_slice(&c.to_be_bytes());
        args.extend_from_slice(&h.to_be_bytes());
        args.extend_from_slice(&[0, 0]);
        let search_arg = args_at + args.len() as u32;
        args.extend_from_slice(&c.to_be_bytes());
        args.extend_from_slice(&h.to_be_bytes());
        args.push(recs[0].0);
        args.extend_from_slice(&[0, 0, 0]);
        let search_at = IPL2_ADDR + ccws.len() as u32 + 8;
        ccws.extend_from_slice(&ccw0(CMD_SEEK, FMT0_CC, 6, seek_arg));
        ccws.extend_from_slice(&ccw0(CMD_SEARCH, FMT0_CC, 5, search_arg));
        ccws.extend_from_slice(&ccw0(CMD_TIC, 0, 0, search_at));
        for &(_, len) in recs {
            reads_left -= 1;
            let flags = if reads_left > 0 { FMT0_CC } else { 0 };
            ccws.extend_from_slice(&ccw0(CMD_READ, flags, len as u16, dest));
            dest += len as u32;
        }
    }
    ccws.extend_from_slice(&args);
    ccws
}

/// The 80-byte VOL1 label record, laid out as dasdinit writes it: volume
/// serial, the VTOC pointer (cylinder 0 head 1 record 1, an empty track:
/// there is no VTOC) and the owner, in EBCDIC.
pub fn vol1(volser: &str) -> Vec<u8> {
    let mut v: Vec<u8> = format!("VOL1{volser:<6} ").bytes().map(ebcdic).collect();
    v.extend_from_slice(&[0, 0, 0, 1, 1]);
    v.extend(format!("{:25}{:<10}", "", "VFIOCCW").bytes().map(ebcdic));
    v.resize(80, 0x40);
    v
}

/// ASCII to EBCDIC (code page 037) for label characters.
fn ebcdic(c: u8) -> u8 {
    match c {
        b'A'..=b'I' => 0xc1 + (c - b'A'),
        b'J'..=b'R' => 0xd1 + (c - b'J'),
        b'S'..=b'Z' => 0xe2 + (c - b'S'),
        b'0'..=b'9' => 0xf0 + (c - b'0'),
        b'$' => 0x5b,
        b'#' => 0x7b,
        b'@' => 0x7c,
        _ => 0x40,
    }
}

fn key(s: &str) -> Vec<u8> {
    s.bytes().map(ebcdic).collect()
}

/// Checks the spec; `Err` says what is wrong.
pub fn check(spec: &IplSpec<'_>) -> Result<(), String> {
    if spec.payload.is_empty() {
        return Err("the payload is empty".into());
    }
    if spec.volser.is_empty()
        || spec.volser.len() > 6
        || !spec
            .volser
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || b"$#@".contains(&c))
    {
        return Err(format!(
            "volume serial {:?}: 1 to 6 of A-Z 0-9 $ # @",
            spec.volser
        ));
    }
    let records = spec.payload.len().div_ceil(PAYLOAD_RECORD);
    let tracks_needed = 1 + records
        .saturating_sub(RECORDS_TRACK0)
        .div_ceil(RECORDS_PER_TRACK);
    let tracks = spec.cylinders as usize * HEADS_3390 as usize;
    if tracks_needed > tracks {
        return Err(format!(
            "a {}-byte payload needs {tracks_needed} tracks; {} cylinders have {tracks}",
            spec.payload.len(),
            spec.cylinders
        ));
    }
    let load = u64::from(spec.load_addr);
    let load_end = load + spec.payload.len() as u64;
    if load_end > ADDR_LIMIT {
        return Err(format!(
            "payload 0x{load:x}..0x{load_end:x} ends above 16 MiB, which format-0 CCWs cannot address"
        ));
    }
    if spec.entry >= 0x8000_0000 {
        return Err(format!(
            "entry point 0x{:x} is not a 31-bit address",
            spec.entry
        ));
    }
    let ipl2_len = ipl2(spec.payload.len(), spec.load_addr).len();
    // IPL2 must fit track 0 beside IPL1, the label and the payload there.
    let track0 = 5
        + 16
        + (8 + 4 + 24)
        + (8 + 4 + ipl2_len)
        + (8 + 4 + 80)
        + RECORDS_TRACK0.min(records) * (8 + PAYLOAD_RECORD)
        + 8;
    if ipl2_len > usize::from(u16::MAX) || track0 > TRKSIZE_3390 {
        return Err(format!(
            "a {}-byte payload needs a {ipl2_len}-byte IPL2 program, too big for track 0",
            spec.payload.len()
        ));
    }
    let ipl2_end = u64::from(IPL2_ADDR) + ipl2_len as u64;
    if load < ipl2_end {
        return Err(format!(
            "load address 0x{load:x} is below 0x{ipl2_end:x}, the end of IPL2 (at 0x{IPL2_ADDR:x})"
        ));
    }
    Ok(())
}

/// Creates the volume at `path`.
pub fn make_volume(path: &Path, spec: &IplSpec<'_>) -> Result<CkdImage, ImageError> {
    check(spec).map_err(|c| ImageError(format!("dasd image {}: {c}", path.display())))?;
    let img = CkdImage::create(path, spec.cylinders)?;
    let ipl2 = ipl2(spec.payload.len(), spec.load_addr);
    let mut t0 = Track::formatted(0, 0);
    let rec = |cyl: u16, head: u16, rec: u8, key: Vec<u8>, data: Vec<u8>| Record {
        cyl,
        head,
        rec,
        key,
        data,
    };
    t0.records.push(rec(
        0,
        0,
        1,
        key("IPL1"),
        ipl1(spec.entry, ipl2.len() as u16).to_vec(),
    ));
    t0.records.push(rec(0, 0, 2, key("IPL2"), ipl2));
    t0.records
        .push(rec(0, 0, 3, key("VOL1"), vol1(spec.volser)));
    let mut tracks = vec![t0];
    let places = payload_places(spec.payload.len().div_ceil(PAYLOAD_RECORD));
    for (chunk, &(c, h, r)) in spec.payload.chunks(PAYLOAD_RECORD).zip(&places) {
        if tracks.last().map(|t| (t.cyl, t.head)) != Some((c, h)) {
            tracks.push(Track::formatted(c, h));
        }
        let t = tracks.last_mut().expect("pushed above");
        t.records.push(rec(c, h, r, Vec::new(), chunk.to_vec()));
    }
    for t in &tracks {
        img.write_track(t)?;
    }
    img.sync()?;
    Ok(img)
}
