// SPDX-License-Identifier: GPL-2.0-or-later
//! Hercules CKD disk images (the uncompressed single-file "CKD_P370" form
//! that Hercules' `dasdinit` writes), the backing store of the simulated
//! 3390.
//!
//! Layout: a 512-byte header (devid "CKD_P370", heads and track size as
//! little-endian 32-bit words, device type byte 0x90 for a 3390, file
//! sequence byte, high cylinder as a little-endian 16-bit word), then every
//! track as a fixed-size slot of `trksize` bytes: a 5-byte track header
//! (0, CC, HH big-endian), the records as count (CCHHR, KL, DL big-endian),
//! key and data, and an end-of-track marker of eight 0xFF bytes.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const HEADER_SIZE: u64 = 512;
pub const DEVID: &[u8; 8] = b"CKD_P370";
/// Track-slot size `dasdinit` uses for a 3390.
pub const TRKSIZE_3390: usize = 56832;
pub const HEADS_3390: u32 = 15;
pub const DEVTYPE_3390: u8 = 0x90;
pub const TRACK_HEADER: usize = 5;
pub const COUNT_SIZE: usize = 8;
pub const END_OF_TRACK: [u8; 8] = [0xff; 8];
/// The largest cylinder count a 3390 (model 9, the largest non-EAV one)
/// addresses with a 16-bit cylinder number.
pub const MAX_CYLS: u32 = 65520;

/// Why an image could not be opened, read or written; the message names
/// the image file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError(pub String);

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImageError {}

/// One record of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub cyl: u16,
    pub head: u16,
    pub rec: u8,
    pub key: Vec<u8>,
    pub data: Vec<u8>,
}

impl Record {
    /// The 8-byte count field: CC HH R KL DL.
    pub fn count(&self) -> [u8; 8] {
        let mut c = [0u8; 8];
        c[0..2].copy_from_slice(&self.cyl.to_be_bytes());
        c[2..4].copy_from_slice(&self.head.to_be_bytes());
        c[4] = self.rec;
        c[5] = self.key.len() as u8;
        c[6..8].copy_from_slice(&(self.data.len() as u16).to_be_bytes());
        c
    }

    /// The record's ID as Search ID compares it: CC HH R.
    pub fn id(&self) -> [u8; 5] {
        let mut id = [0u8; 5];
        id.copy_from_slice(&self.count()[0..5]);
        id
    }

    /// Bytes the record takes in a track slot.
    pub fn image_len(&self) -> usize {
        COUNT_SIZE + self.key.len() + self.data.len()
    }
}

/// The records of one track, R0 first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub cyl: u16,
    pub head: u16,
    pub records: Vec<Record>,
}

impl Track {
    /// A freshly formatted track: only R0, with 8 bytes of zero data.
    pub fn formatted(cyl: u16, head: u16) -> Track {
        Track {
            cyl,
            head,
            records: vec![Record {
                cyl,
                head,
                rec: 0,
                key: Vec::new(),
                data: vec![0; 8],
            }],
        }
    }

    /// Bytes the track takes in its slot, end marker included.
    pub fn image_len(&self) -> usize {
        TRACK_HEADER
            + self.records.iter().map(Record::image_len).sum::<usize>()
            + END_OF_TRACK.len()
    }

    /// Encodes the track into a slot of `trksize` bytes, or `None` if the
    /// records do not fit.
    pub fn encode(&self, trksize: usize) -> Option<Vec<u8>> {
        if self.image_len() > trksize {
            return None;
        }
        let mut b = Vec::with_capacity(trksize);
        b.push(0);
        b.extend_from_slice(&self.cyl.to_be_bytes());
        b.extend_from_slice(&self.head.to_be_bytes());
        for r in &self.records {
            b.extend_from_slice(&r.count());
            b.extend_from_slice(&r.key);
            b.extend_from_slice(&r.data);
        }
        b.extend_from_slice(&END_OF_TRACK);
        b.resize(trksize, 0);
        Some(b)
    }

    /// Decodes a track slot; `Err` says what is wrong with it.
    pub fn decode(slot: &[u8], cyl: u16, head: u16) -> Result<Track, String> {
        if slot.len() < TRACK_HEADER + END_OF_TRACK.len() {
            return Err("track slot too small".into());
        }
        let bin = slot[0];
        let c = u16::from_be_bytes([slot[1], slot[2]]);
        let h = u16::from_be_bytes([slot[3], slot[4]]);
        if bin != 0 || c != cyl || h != head {
            return Err(format!(
                "bad track header {:02x} {c:04x} {h:04x} (expected 00 {cyl:04x} {head:04x})",
                bin
            ));
        }
        let mut at = TRACK_HEADER;
        let mut records: Vec<Record> = Vec::new();
        loop {
            if at + COUNT_SIZE > slot.len() {
                return Err("record chain runs past the end of the track".into());
            }
            let cnt = &slot[at..at + COUNT_SIZE];
            if cnt == END_OF_TRACK {
                break;
            }
            let rc = u16::from_be_bytes([cnt[0], cnt[1]]);
            let rh = u16::from_be_bytes([cnt[2], cnt[3]]);
            let r = cnt[4];
            let kl = usize::from(cnt[5]);
            let dl = usize::from(u16::from_be_bytes([cnt[6], cnt[7]]));
            let n = records.len();
            if n == 0 && r != 0 {
                return Err(format!("first record is R{r}, not R0"));
            }
            if n > 0 && r == 0 {
                return Err(format!("record {n} is a second R0"));
            }
            let start = at + COUNT_SIZE;
            if start + kl + dl > slot.len() {
                return Err(format!(
                    "record {n} (R{r}, key {kl}, data {dl}) runs past the end of the track"
                ));
            }
            records.push(Record {
                cyl: rc,
                head: rh,
                rec: r,
                key: slot[start..start + kl].to_vec(),
                data: slot[start + kl..start + kl + dl].to_vec(),
            });
            at = start + kl + dl;
        }
        if records.is_empty() {
            return Err("no R0 (track not formatted)".into());
        }
        Ok(Track { cyl, head, records })
    }
}

/// An open CKD image file.
#[derive(Debug)]
pub struct CkdImage {
    file: File,
    path: PathBuf,
    heads: u32,
    cyls: u32,
    trksize: usize,
    writable: bool,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> ImageError {
    ImageError(format!("dasd image {}: {what}: {e}", path.display()))
}

impl CkdImage {
    /// Opens and validates an image: header, size and every track.
    pub fn open(path: &Path, writable: bool) -> Result<CkdImage, ImageError> {
        let fail = |cause: String| ImageError(format!("dasd image {}: {cause}", path.display()));
        let mut file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| io_err(path, "cannot open", e))?;
        let size = file
            .metadata()
            .map_err(|e| io_err(path, "cannot stat", e))?
            .len();
        if size < HEADER_SIZE {
            return Err(fail(format!(
                "truncated: {size} bytes, shorter than the {HEADER_SIZE}-byte header"
            )));
        }
        let mut hdr = [0u8; HEADER_SIZE as usize];
        file.read_exact(&mut hdr)
            .map_err(|e| io_err(path, "cannot read the header", e))?;
        let devid = &hdr[0..8];
        if devid != DEVID {
            let cause = match devid {
                b"CKD_C370" | b"CKD_C064" => {
                    "compressed CCKD image; convert it with `dasdcopy` to an uncompressed one"
                        .into()
                }
                b"CKD_S370" | b"CKD_S064" => "CCKD shadow file; not supported".into(),
                b"CKD_P064" => "64-bit (CKD64) image; not supported".into(),
                _ => format!(
                    "not a Hercules CKD image (devid {:02x?}, expected \"CKD_P370\")",
                    devid
                ),
            };
            return Err(fail(cause));
        }
        let heads = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
        let trksize = u32::from_le_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]) as usize;
        let devtype = hdr[16];
        let fileseq = hdr[17];
        let highcyl = u32::from(u16::from_le_bytes([hdr[18], hdr[19]]));
        if devtype != DEVTYPE_3390 {
            return Err(fail(format!(
                "device type 0x{devtype:02x} is not a 3390 (0x{DEVTYPE_3390:02x})"
            )));
        }
        if fileseq != 0 {
            return Err(fail(format!(
                "part {fileseq} of a split multi-file volume; only single-file images are supported"
            )));
        }
        if heads != HEADS_3390 {
            return Err(fail(format!(
                "{heads} heads per cylinder; a 3390 has {HEADS_3390}"
            )));
        }
        if trksize < TRACK_HEADER + COUNT_SIZE + 8 + END_OF_TRACK.len() || trksize > 65536 {
            return Err(fail(format!("implausible track size {trksize}")));
        }
        let body = size - HEADER_SIZE;
        let present = body / trksize as u64;
        let expected = if highcyl != 0 {
            u64::from(highcyl + 1) * u64::from(heads)
        } else {
            // dasdinit leaves highcyl 0 in a single-file image: the size
            // then says how many cylinders there are, whole ones only.
            present.div_ceil(u64::from(heads)).max(1) * u64::from(heads)
        };
        if body % trksize as u64 != 0 || present < expected {
            return Err(fail(format!(
                "truncated: {present} tracks present, expected {expected}"
            )));
        }
        if present > expected {
            return Err(fail(format!(
                "{present} tracks present, but the header's high cylinder {highcyl} allows {expected}"
            )));
        }
        let cyls = (expected / u64::from(heads)) as u32;
        if cyls > MAX_CYLS {
            return Err(fail(format!(
                "{cyls} cylinders; at most {MAX_CYLS} are addressable"
            )));
        }
        let img = CkdImage {
            file,
            path: path.to_path_buf(),
            heads,
            cyls,
            trksize,
            writable,
        };
        img.validate_tracks()?;
        Ok(img)
    }

    fn validate_tracks(&self) -> Result<(), ImageError> {
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &self.file);
        reader
            .seek(SeekFrom::Start(HEADER_SIZE))
            .map_err(|e| io_err(&self.path, "cannot seek", e))?;
        let mut slot = vec![0u8; self.trksize];
        for cyl in 0..self.cyls {
            for head in 0..self.heads {
                reader
                    .read_exact(&mut slot)
                    .map_err(|e| io_err(&self.path, "cannot read", e))?;
                Track::decode(&slot, cyl as u16, head as u16).map_err(|c| {
                    ImageError(format!(
                        "dasd image {}: cylinder {cyl} head {head}: {c}",
                        self.path.display()
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Creates an image of `cyls` cylinders, every track formatted with R0.
    pub fn create(path: &Path, cyls: u32) -> Result<CkdImage, ImageError> {
        if cyls == 0 || cyls > MAX_CYLS {
            return Err(ImageError(format!(
                "dasd image {}: cannot create {cyls} cylinders (1 to {MAX_CYLS})",
                path.display()
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_err(path, "cannot create", e))?;
        let mut hdr = [0u8; HEADER_SIZE as usize];
        hdr[0..8].copy_from_slice(DEVID);
        hdr[8..12].copy_from_slice(&HEADS_3390.to_le_bytes());
        hdr[12..16].copy_from_slice(&(TRKSIZE_3390 as u32).to_le_bytes());
        hdr[16] = DEVTYPE_3390;
        // fileseq 0 and highcyl 0, as dasdinit writes a single-file image.
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &file);
        w.write_all(&hdr)
            .map_err(|e| io_err(path, "cannot write", e))?;
        for cyl in 0..cyls {
            for head in 0..HEADS_3390 {
                let slot = Track::formatted(cyl as u16, head as u16)
                    .encode(TRKSIZE_3390)
                    .expect("R0 fits in any track");
                w.write_all(&slot)
                    .map_err(|e| io_err(path, "cannot write", e))?;
            }
        }
        w.flush().map_err(|e| io_err(path, "cannot write", e))?;
        drop(w);
        Ok(CkdImage {
            file,
            path: path.to_path_buf(),
            heads: HEADS_3390,
            cyls,
            trksize: TRKSIZE_3390,
            writable: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn cylinders(&self) -> u32 {
        self.cyls
    }

    pub fn heads(&self) -> u32 {
        self.heads
    }

    pub fn track_size(&self) -> usize {
        self.trksize
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    fn offset(&self, cyl: u16, head: u16) -> Result<u64, ImageError> {
        if u32::from(cyl) >= self.cyls || u32::from(head) >= self.heads {
            return Err(ImageError(format!(
                "dasd image {}: no track cylinder {cyl} head {head} ({} cylinders, {} heads)",
                self.path.display(),
                self.cyls,
                self.heads
            )));
        }
        let track = u64::from(cyl) * u64::from(self.heads) + u64::from(head);
        Ok(HEADER_SIZE + track * self.trksize as u64)
    }

    /// Reads and decodes one track.
    pub fn read_track(&self, cyl: u16, head: u16) -> Result<Track, ImageError> {
        let off = self.offset(cyl, head)?;
        let mut slot = vec![0u8; self.trksize];
        read_exact_at(&self.file, &mut slot, off)
            .map_err(|e| io_err(&self.path, "cannot read", e))?;
        Track::decode(&slot, cyl, head).map_err(|c| {
            ImageError(format!(
                "dasd image {}: cylinder {cyl} head {head}: {c}",
                self.path.display()
            ))
        })
    }

    /// Encodes and writes one track back to its slot.
    pub fn write_track(&self, track: &Track) -> Result<(), ImageError> {
        if !self.writable {
            return Err(ImageError(format!(
                "dasd image {}: opened read-only",
                self.path.display()
            )));
        }
        let off = self.offset(track.cyl, track.head)?;
        let slot = track.encode(self.trksize).ok_or_else(|| {
            ImageError(format!(
                "dasd image {}: cylinder {} head {}: {} bytes of records do not fit a {}-byte track",
                self.path.display(),
                track.cyl,
                track.head,
                track.image_len(),
                self.trksize
            ))
        })?;
        write_all_at(&self.file, &slot, off).map_err(|e| io_err(&self.path, "cannot write", e))
    }

    /// Forces written tracks to stable storage.
    pub fn sync(&self) -> Result<(), ImageError> {
        self.file
            .sync_data()
            .map_err(|e| io_err(&self.path, "cannot sync", e))
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, off)
}

fn write_all_at(file: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, off)
}
