// SPDX-License-Identifier: GPL-2.0-or-later
//! Makes a 3390 volume IPLable: IPL1, IPL2 and the program records, the
//! way QEMU's s390-ccw firmware IPLs a DASD (pc-bios/s390-ccw/dasd-ipl.c).
//!
//! - Record 1 (IPL1, 24 bytes): the IPL PSW (ESA/390, 31-bit, at the
//!   entry point), a Read Data CCW for IPL2 and a TIC to it. The firmware
//!   reads it to address 0 with Read IPL, then runs the Read itself after
//!   a Seek and Search for record 2.
//! - Record 2 (IPL2): a format-0 channel program that, for each program
//!   record, seeks its track, searches its id (a TIC loops back until the
//!   search matches) and reads it to its place in storage.
//! - Record 3: the volume label. Program records follow, on track 0 and
//!   the tracks after it.
//!
//! The firmware then jumps through the PSW at address 0 (a "load normal",
//! which runs the program in ESA/390 mode).

use std::path::Path;

use crate::ckd::{append, records, CkdError, CkdImage, Count};
use crate::ebcdic;

/// Where IPL2's channel program is read to: above the prefix area.
pub const IPL2_ADDRESS: u32 = 0x4000;
/// The program's records' size (twelve fit a 3390 track).
pub const PROGRAM_RECORD: usize = 4096;
pub(crate) const EBCDIC_IPL1: [u8; 4] = [0xc9, 0xd7, 0xd3, 0xf1];
pub(crate) const EBCDIC_IPL2: [u8; 4] = [0xc9, 0xd7, 0xd3, 0xf2];
pub(crate) const EBCDIC_VOL1: [u8; 4] = [0xe5, 0xd6, 0xd3, 0xf1];

const CCW_READ_DATA: u8 = 0x06;
const CCW_SEEK: u8 = 0x07;
const CCW_TIC: u8 = 0x08;
const CCW_SEARCH_ID_EQUAL: u8 = 0x31;
const CCW_FLAG_CC: u8 = 0x40;

/// A format-0 CCW: command, 24-bit address, flags, count.
fn ccw0(cmd: u8, cda: u32, flags: u8, count: u16) -> [u8; 8] {
    let a = cda.to_be_bytes();
    let c = count.to_be_bytes();
    [cmd, a[1], a[2], a[3], flags, 0, c[0], c[1]]
}

/// Where the payload goes and starts.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    pub bytes: &'a [u8],
    pub load_address: u32,
    pub entry: u32,
}

/// A program record's place: cylinder, head, record.
type Place = (u16, u16, u8);

/// Creates `path` as a `cylinders`-cylinder 3390 labelled `volser` that
/// IPLs `payload`.
pub fn make_ipl_volume(
    path: &Path,
    cylinders: u32,
    volser: &str,
    payload: &Payload<'_>,
) -> Result<(), CkdError> {
    let bad = |why: String| CkdError::Format(path.to_owned(), why);
    check_payload(payload).map_err(bad)?;
    let mut image = CkdImage::create(path, cylinders)?;
    let chunks: Vec<&[u8]> = payload.bytes.chunks(PROGRAM_RECORD).collect();
    let places = program_places(chunks.len(), image.heads);
    if places
        .last()
        .is_some_and(|&(c, _, _)| u32::from(c) >= image.cylinders)
    {
        return Err(bad(format!(
            "the payload does not fit on {cylinders} cylinders"
        )));
    }
    let ipl2 = ipl2_program(&chunks, &places, payload.load_address);
    if IPL2_ADDRESS as usize + ipl2.len() > 0x10000 {
        return Err(bad(
            "the payload needs too many records for one IPL2 program".into(),
        ));
    }
    let ipl1 = ipl1_record(payload.entry, ipl2.len());
    let label = volume_label(volser);
    let track0: [(&[u8], &[u8]); 3] = [
        (&EBCDIC_IPL1, &ipl1),
        (&EBCDIC_IPL2, &ipl2),
        (&EBCDIC_VOL1, &label),
    ];
    let keyed = track0
        .iter()
        .zip(1u8..)
        .map(|(&(k, d), r)| ((0, 0, r), k, d));
    let program = places.iter().zip(&chunks).map(|(&p, &d)| (p, &[][..], d));
    write_records(&mut image, keyed.chain(program)).map_err(|e| match e {
        WriteError::Ckd(e) => e,
        WriteError::Track(why) => bad(why),
    })
}

/// Format-0 CCWs address 24 bits, and low storage is the firmware's.
fn check_payload(payload: &Payload<'_>) -> Result<(), String> {
    let end = u64::from(payload.load_address) + payload.bytes.len() as u64;
    if end > 1 << 24 || payload.load_address < 0x10000 {
        return Err(format!(
            "the payload must load between 64 KiB and 16 MiB (format-0 CCWs address 24 bits; \
             low storage belongs to the firmware): {:#x}..{end:#x}",
            payload.load_address
        ));
    }
    if !(payload.load_address..end as u32).contains(&payload.entry) {
        return Err(format!(
            "entry point {:#x} is outside the payload",
            payload.entry
        ));
    }
    Ok(())
}

/// Where `count` program records go: after the label on track 0, then
/// twelve per track.
fn program_places(count: usize, heads: u32) -> Vec<Place> {
    let mut places = Vec::with_capacity(count);
    let (mut cyl, mut head, mut record) = (0u16, 0u16, 4u8);
    for _ in 0..count {
        // Track 0 also holds IPL1, IPL2 and the label (records 1 to 3).
        let last = if (cyl, head) == (0, 0) { 12 + 3 } else { 12 };
        if record > last {
            head += 1;
            record = 1;
            if u32::from(head) == heads {
                head = 0;
                cyl += 1;
            }
        }
        places.push((cyl, head, record));
        record += 1;
    }
    places
}

/// IPL2: per record Seek, Search, TIC back, Read; the Seek and Search
/// arguments follow the CCWs.
fn ipl2_program(chunks: &[&[u8]], places: &[Place], load_address: u32) -> Vec<u8> {
    let ccw_bytes = chunks.len() * 32;
    let mut ipl2 = vec![0u8; ccw_bytes + chunks.len() * 16];
    for (i, (chunk, &(c, h, r))) in chunks.iter().zip(places).enumerate() {
        let at = i * 32;
        let args = ccw_bytes + i * 16;
        let seek_arg = IPL2_ADDRESS + args as u32;
        let search_arg = seek_arg + 8;
        let load = load_address + (i * PROGRAM_RECORD) as u32;
        let chain = if i + 1 == chunks.len() {
            0
        } else {
            CCW_FLAG_CC
        };
        let ccws = [
            ccw0(CCW_SEEK, seek_arg, CCW_FLAG_CC, 6),
            ccw0(CCW_SEARCH_ID_EQUAL, search_arg, CCW_FLAG_CC, 5),
            ccw0(CCW_TIC, IPL2_ADDRESS + at as u32 + 8, 0, 0),
            ccw0(CCW_READ_DATA, load, chain, chunk.len() as u16),
        ];
        ipl2[at..at + 32].copy_from_slice(&ccws.concat());
        // Seek: 0000 CCHH; Search: CCHH R.
        ipl2[args + 2..args + 4].copy_from_slice(&c.to_be_bytes());
        ipl2[args + 4..args + 6].copy_from_slice(&h.to_be_bytes());
        ipl2[args + 8..args + 10].copy_from_slice(&c.to_be_bytes());
        ipl2[args + 10..args + 12].copy_from_slice(&h.to_be_bytes());
        ipl2[args + 12] = r;
    }
    ipl2
}

/// IPL1: ESA/390 PSW (bit 12 set, 31-bit), Read IPL2 chained to a TIC.
fn ipl1_record(entry: u32, ipl2_len: usize) -> [u8; 24] {
    let mut ipl1 = [0u8; 24];
    ipl1[0..4].copy_from_slice(&0x0008_0000u32.to_be_bytes());
    ipl1[4..8].copy_from_slice(&(0x8000_0000 | entry).to_be_bytes());
    ipl1[8..16].copy_from_slice(&ccw0(
        CCW_READ_DATA,
        IPL2_ADDRESS,
        CCW_FLAG_CC,
        ipl2_len as u16,
    ));
    ipl1[16..24].copy_from_slice(&ccw0(CCW_TIC, IPL2_ADDRESS, 0, 0));
    ipl1
}

/// The VOL1 label.
pub(crate) fn volume_label(volser: &str) -> [u8; 80] {
    let mut label = [0x40u8; 80];
    label[0..4].copy_from_slice(&EBCDIC_VOL1);
    label[4..10].copy_from_slice(&ebcdic::padded::<6>(volser));
    // The VTOC pointer (CCHHR), as dasdinit writes it: cylinder 0 head 1
    // record 1, a track left empty (there is no VTOC). Blanks there would
    // send Hercules' tools to a track beyond the volume.
    label[11..16].copy_from_slice(&[0, 0, 0, 1, 1]);
    label
}

enum WriteError {
    Ckd(CkdError),
    Track(String),
}

/// Appends the records (place, key, data), in track order, to the
/// image's tracks.
fn write_records<'a>(
    image: &mut CkdImage,
    records_in_order: impl Iterator<Item = (Place, &'a [u8], &'a [u8])>,
) -> Result<(), WriteError> {
    let mut current = (0u16, 0u16);
    let mut track = image.read_track(0, 0).map_err(WriteError::Ckd)?;
    for ((c, h, r), key, data) in records_in_order {
        if (c, h) != current {
            image
                .write_track(current.0, current.1, &track)
                .map_err(WriteError::Ckd)?;
            track = image.read_track(c, h).map_err(WriteError::Ckd)?;
            current = (c, h);
        }
        let count = Count {
            cyl: c,
            head: h,
            record: r,
            key_len: key.len() as u8,
            data_len: data.len() as u16,
        };
        append(&mut track, count, key, data).map_err(WriteError::Track)?;
    }
    image
        .write_track(current.0, current.1, &track)
        .map_err(WriteError::Ckd)?;
    debug_assert!(records(&track).is_ok());
    Ok(())
}
