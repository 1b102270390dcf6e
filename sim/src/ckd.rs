// SPDX-License-Identifier: GPL-2.0-or-later
//! Volumes in the CKD image format of the Hercules emulator (uncompressed
//! `CKD_P370` images, as its `dasdinit` creates them), so that volumes
//! people already have work and ours can be checked against an
//! independent implementation.
//!
//! Layout: a 512-byte device header (`CKD_P370`, heads and track size
//! little-endian, device type 0x90 for a 3390, file sequence, high
//! cylinder), then fixed-size tracks. A track is a 5-byte header (0, CC,
//! HH, big-endian), records as an 8-byte count (CC HH R KL DL, big-endian)
//! followed by key and data, and an end marker of eight 0xFF bytes.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const HEADER_SIZE: usize = 512;
const MAGIC: &[u8; 8] = b"CKD_P370";
const COMPRESSED_MAGIC: &[u8; 8] = b"CKD_C370";
pub const DEVTYPE_3390: u8 = 0x90;
pub const HEADS_3390: u32 = 15;
/// Hercules' track size for a 3390: the device's 56664 bytes plus its
/// own headers, rounded up to 512.
pub const TRACK_SIZE_3390: u32 = 56832;
pub const END_OF_TRACK: [u8; 8] = [0xff; 8];
/// The largest record a 3390 track holds after R0 (no key).
pub const MAX_RECORD_3390: u32 = 56664;
/// The smallest image track that holds any 3390 track: the track header,
/// R0 (count and 8 data bytes), a count and the largest record, the end
/// marker.
pub const MIN_TRACK_SIZE_3390: u32 = 5 + 8 + 8 + 8 + MAX_RECORD_3390 + 8;

/// Why an image cannot be used.
#[derive(Debug)]
pub enum CkdError {
    Io(PathBuf, io::Error),
    Format(PathBuf, String),
}

impl fmt::Display for CkdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CkdError::Io(path, e) => write!(f, "dasd image {}: {e}", path.display()),
            CkdError::Format(path, why) => write!(f, "dasd image {}: {why}", path.display()),
        }
    }
}

impl std::error::Error for CkdError {}

/// A record's count field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    pub cyl: u16,
    pub head: u16,
    pub record: u8,
    pub key_len: u8,
    pub data_len: u16,
}

impl Count {
    pub fn to_bytes(self) -> [u8; 8] {
        let c = self.cyl.to_be_bytes();
        let h = self.head.to_be_bytes();
        let d = self.data_len.to_be_bytes();
        [
            c[0],
            c[1],
            h[0],
            h[1],
            self.record,
            self.key_len,
            d[0],
            d[1],
        ]
    }

    /// The count in its 8 bytes, CC HH R KL DL (`b` holds at least 8).
    pub fn from_bytes(b: &[u8]) -> Count {
        Count {
            cyl: u16::from_be_bytes([b[0], b[1]]),
            head: u16::from_be_bytes([b[2], b[3]]),
            record: b[4],
            key_len: b[5],
            data_len: u16::from_be_bytes([b[6], b[7]]),
        }
    }

    /// The record's identifier CCHHR, as Search ID compares it.
    pub fn id(self) -> [u8; 5] {
        let b = self.to_bytes();
        [b[0], b[1], b[2], b[3], b[4]]
    }
}

/// One record of a track: its count and where its key and data lie in the
/// track buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub count: Count,
    /// Offset of the count field in the track.
    pub offset: usize,
}

impl Record {
    pub fn key_range(&self) -> std::ops::Range<usize> {
        let start = self.offset + 8;
        start..start + usize::from(self.count.key_len)
    }

    pub fn data_range(&self) -> std::ops::Range<usize> {
        let start = self.key_range().end;
        start..start + usize::from(self.count.data_len)
    }
}

/// An open image.
#[derive(Debug)]
pub struct CkdImage {
    path: PathBuf,
    file: File,
    pub heads: u32,
    pub track_size: u32,
    pub cylinders: u32,
    writable: bool,
}

fn format_error(path: &Path, why: impl Into<String>) -> CkdError {
    CkdError::Format(path.to_owned(), why.into())
}

impl CkdImage {
    /// Opens and checks an image: magic, device type, geometry, size.
    /// An image the process may not write (its permissions, a read-only
    /// file system, an immutable file) is opened read-only rather than
    /// refused, as Hercules does, so that a shared or archived volume
    /// still reads; `writable` tells which.
    pub fn open(path: &Path) -> Result<CkdImage, CkdError> {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => CkdImage::check(path, file, true),
            Err(e)
                if e.kind() == io::ErrorKind::PermissionDenied
                    || e.raw_os_error() == Some(libc::EROFS) =>
            {
                log::info!("dasd image {}: {e}; opened read-only", path.display());
                CkdImage::open_read_only(path)
            }
            Err(e) => Err(CkdError::Io(path.to_owned(), e)),
        }
    }

    /// Opens and checks an image for reading only, even if the file could
    /// be written.
    pub fn open_read_only(path: &Path) -> Result<CkdImage, CkdError> {
        let file = File::open(path).map_err(|e| CkdError::Io(path.to_owned(), e))?;
        CkdImage::check(path, file, false)
    }

    /// Whether the image was opened for writing.
    pub fn writable(&self) -> bool {
        self.writable
    }

    fn check(path: &Path, mut file: File, writable: bool) -> Result<CkdImage, CkdError> {
        let io_err = |e| CkdError::Io(path.to_owned(), e);
        let mut header = [0u8; HEADER_SIZE];
        let len = file.metadata().map_err(io_err)?.len();
        if len < HEADER_SIZE as u64 {
            return Err(format_error(
                path,
                format!("truncated: {len} bytes, not even the 512-byte header"),
            ));
        }
        file.read_exact(&mut header).map_err(io_err)?;
        if &header[0..8] == COMPRESSED_MAGIC {
            return Err(format_error(
                path,
                "a compressed (CCKD) image; convert it with Hercules' cckd2ckd first",
            ));
        }
        if &header[0..8] != MAGIC {
            return Err(format_error(path, "not a CKD image (no CKD_P370 header)"));
        }
        let heads = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let track_size = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        let devtype = header[16];
        let fileseq = header[17];
        let highcyl = u16::from_le_bytes([header[18], header[19]]);
        if devtype != DEVTYPE_3390 {
            return Err(format_error(
                path,
                format!("device type {devtype:02x}, expected 90 (a 3390)"),
            ));
        }
        if fileseq != 0 || highcyl != 0 {
            return Err(format_error(
                path,
                "one file of a multi-file image; only single-file images are supported",
            ));
        }
        if !(MIN_TRACK_SIZE_3390..=65536).contains(&track_size) {
            // Smaller tracks could not take the full-track record every
            // real 3390 takes, so such a file was not made for a 3390.
            return Err(format_error(
                path,
                format!(
                    "{track_size}-byte tracks cannot hold a 3390 track ({MIN_TRACK_SIZE_3390} bytes at least)"
                ),
            ));
        }
        if heads != HEADS_3390 {
            return Err(format_error(
                path,
                format!("geometry of {heads} heads and {track_size}-byte tracks is not a 3390's"),
            ));
        }
        let tracks = (len - HEADER_SIZE as u64) / u64::from(track_size);
        let rest = (len - HEADER_SIZE as u64) % u64::from(track_size);
        if tracks == 0 || rest != 0 || tracks % u64::from(heads) != 0 {
            return Err(format_error(
                path,
                format!(
                    "truncated: {tracks} whole tracks and {rest} more bytes, not a whole number of {heads}-track cylinders"
                ),
            ));
        }
        let cylinders = u32::try_from(tracks / u64::from(heads))
            .ok()
            .filter(|&c| c <= 65520)
            .ok_or_else(|| format_error(path, format!("{tracks} tracks: too many cylinders")))?;
        let mut image = CkdImage {
            path: path.to_owned(),
            file,
            heads,
            track_size,
            cylinders,
            writable,
        };
        image.check_tracks()?;
        Ok(image)
    }

    /// Reads the image once, front to back, checking every track's header
    /// and record chain, so that a damaged image is refused when it is
    /// opened rather than found by a channel program.
    fn check_tracks(&mut self) -> Result<(), CkdError> {
        let io_err = |e| CkdError::Io(self.path.clone(), e);
        self.file
            .seek(SeekFrom::Start(HEADER_SIZE as u64))
            .map_err(io_err)?;
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &self.file);
        let mut track = vec![0u8; self.track_size as usize];
        for cyl in 0..self.cylinders as u16 {
            for head in 0..self.heads as u16 {
                reader.read_exact(&mut track).map_err(io_err)?;
                check_track(&self.path, &track, cyl, head)?;
            }
        }
        Ok(())
    }

    /// Creates an image of `cylinders` cylinders, every track holding R0.
    pub fn create(path: &Path, cylinders: u32) -> Result<CkdImage, CkdError> {
        let io_err = |e| CkdError::Io(path.to_owned(), e);
        if cylinders == 0 || cylinders > 65520 {
            return Err(format_error(
                path,
                format!("{cylinders} cylinders: a 3390 has 1 to 65520"),
            ));
        }
        let mut file = File::create(path).map_err(io_err)?;
        let mut header = [0u8; HEADER_SIZE];
        header[0..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&HEADS_3390.to_le_bytes());
        header[12..16].copy_from_slice(&TRACK_SIZE_3390.to_le_bytes());
        header[16] = DEVTYPE_3390;
        file.write_all(&header).map_err(io_err)?;
        for cyl in 0..cylinders {
            for head in 0..HEADS_3390 {
                let track = empty_track(cyl as u16, head as u16);
                file.write_all(&track).map_err(io_err)?;
            }
        }
        file.sync_all().map_err(io_err)?;
        drop(file);
        CkdImage::open(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn track_offset(&self, cyl: u16, head: u16) -> u64 {
        HEADER_SIZE as u64
            + (u64::from(cyl) * u64::from(self.heads) + u64::from(head))
                * u64::from(self.track_size)
    }

    /// Reads a track and checks its header.
    pub fn read_track(&mut self, cyl: u16, head: u16) -> Result<Vec<u8>, CkdError> {
        let io_err = |e| CkdError::Io(self.path.clone(), e);
        let mut track = vec![0u8; self.track_size as usize];
        self.file
            .seek(SeekFrom::Start(self.track_offset(cyl, head)))
            .map_err(io_err)?;
        self.file.read_exact(&mut track).map_err(io_err)?;
        check_track(&self.path, &track, cyl, head)?;
        Ok(track)
    }

    /// Writes a track back.
    pub fn write_track(&mut self, cyl: u16, head: u16, track: &[u8]) -> Result<(), CkdError> {
        let io_err = |e| CkdError::Io(self.path.clone(), e);
        self.file
            .seek(SeekFrom::Start(self.track_offset(cyl, head)))
            .map_err(io_err)?;
        self.file.write_all(track).map_err(io_err)?;
        self.file.flush().map_err(io_err)
    }
}

/// Checks a track's header (it must name the track) and its record chain.
fn check_track(path: &Path, track: &[u8], cyl: u16, head: u16) -> Result<(), CkdError> {
    let want = [
        0,
        (cyl >> 8) as u8,
        cyl as u8,
        (head >> 8) as u8,
        head as u8,
    ];
    if track[0..5] != want {
        return Err(format_error(
            path,
            format!(
                "track {cyl}/{head} has the header {:02x?}, expected {want:02x?}",
                &track[0..5]
            ),
        ));
    }
    records(track).map_err(|why| format_error(path, format!("track {cyl}/{head}: {why}")))?;
    Ok(())
}

/// A track holding only R0 (8 data bytes of zeros).
pub fn empty_track(cyl: u16, head: u16) -> Vec<u8> {
    let mut track = vec![0u8; TRACK_SIZE_3390 as usize];
    track[1..3].copy_from_slice(&cyl.to_be_bytes());
    track[3..5].copy_from_slice(&head.to_be_bytes());
    let r0 = Count {
        cyl,
        head,
        record: 0,
        key_len: 0,
        data_len: 8,
    };
    track[5..13].copy_from_slice(&r0.to_bytes());
    track[21..29].copy_from_slice(&END_OF_TRACK);
    track
}

/// The records of a track, checked to lie within it and to end with the
/// end-of-track marker.
pub fn records(track: &[u8]) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let mut at = 5;
    loop {
        if at + 8 > track.len() {
            return Err("records run past the end of the track".into());
        }
        if track[at..at + 8] == END_OF_TRACK {
            return Ok(out);
        }
        let count = Count::from_bytes(&track[at..at + 8]);
        let record = Record { count, offset: at };
        at = record.data_range().end;
        if at > track.len() {
            return Err(format!(
                "record {} runs past the end of the track",
                count.record
            ));
        }
        out.push(record);
    }
}

/// Appends a record to a track (before its end marker). Errors if it does
/// not fit.
pub fn append(track: &mut [u8], count: Count, key: &[u8], data: &[u8]) -> Result<(), String> {
    debug_assert_eq!(key.len(), usize::from(count.key_len));
    debug_assert_eq!(data.len(), usize::from(count.data_len));
    let records = records(track)?;
    let at = records.last().map_or(5, |r| r.data_range().end);
    let end = at + 8 + key.len() + data.len();
    if end + 8 > track.len() {
        return Err(format!("record {} does not fit on the track", count.record));
    }
    track[at..at + 8].copy_from_slice(&count.to_bytes());
    track[at + 8..at + 8 + key.len()].copy_from_slice(key);
    track[at + 8 + key.len()..end].copy_from_slice(data);
    track[end..end + 8].copy_from_slice(&END_OF_TRACK);
    Ok(())
}
