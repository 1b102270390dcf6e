// SPDX-License-Identifier: GPL-2.0-or-later
//! A simulated IBM 3390 behind a 3990 control unit, backed by a Hercules
//! CKD image ([`crate::ckd`]).
//!
//! The model is the classic (pre-Define-Extent) CKD command set, enough for
//! QEMU's s390-ccw firmware to IPL and for channel programs that seek,
//! search and read or rewrite records:
//!
//! - orientation: after a seek the head is at the track's index point.
//!   Search ID compares the next count field that comes under the head
//!   (R0 included) and moves past it; the read and write commands act on
//!   the record whose count a search or Read Count just passed, or else on
//!   the next record after R0.
//! - passing the index point twice without finding what a command looks
//!   for ends it with unit check, "no record found".
//!
//! Errors end the command with unit check; the sense bytes follow the
//! 3990's basic layout (byte 0: command reject 0x80, equipment check 0x10;
//! byte 1: end of cylinder 0x20, no record found 0x08, file protected
//! 0x04). [`Dasd::last_error`] says in words what went wrong.

use std::path::Path;

use crate::ccw_device::{dstat, CcwDevice, Response, Transfer};
use crate::ckd::{CkdImage, ImageError, Track};

/// Command codes the device accepts.
pub mod cmd {
    pub const WRITE_DATA: u8 = 0x05;
    pub const READ_IPL: u8 = 0x02;
    pub const NOOP: u8 = 0x03;
    pub const SENSE: u8 = 0x04;
    pub const READ_DATA: u8 = 0x06;
    pub const SEEK: u8 = 0x07;
    pub const READ_COUNT: u8 = 0x12;
    pub const READ_CKD: u8 = 0x1e;
    pub const SEARCH_ID_EQ: u8 = 0x31;
    pub const READ_DATA_MT: u8 = 0x86;
    pub const READ_COUNT_MT: u8 = 0x92;
    pub const READ_CKD_MT: u8 = 0x9e;
    pub const SEARCH_ID_EQ_MT: u8 = 0xb1;
    pub const SENSE_ID: u8 = 0xe4;
}

/// Sense bits.
pub mod sense {
    /// Byte 0.
    pub const COMMAND_REJECT: u8 = 0x80;
    pub const EQUIPMENT_CHECK: u8 = 0x10;
    /// Byte 1.
    pub const END_OF_CYLINDER: u8 = 0x20;
    pub const NO_RECORD_FOUND: u8 = 0x08;
    pub const FILE_PROTECTED: u8 = 0x04;
}

/// Sense ID data: FF, control unit 3990 model E9, device 3390 model 0C.
pub const SENSE_ID_DATA: [u8; 7] = [0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c];

const CE_DE: u8 = dstat::CHANNEL_END | dstat::DEVICE_END;

/// Why a command ended in unit check: sense byte, bit, and the words.
struct Check {
    byte: usize,
    bit: u8,
    why: String,
}

fn reject(why: impl Into<String>) -> Check {
    Check {
        byte: 0,
        bit: sense::COMMAND_REJECT,
        why: why.into(),
    }
}

/// The simulated 3390.
pub struct Dasd {
    image: CkdImage,
    cyl: u16,
    head: u16,
    /// The track under the head (read from the image on first use).
    track: Option<Track>,
    /// Index of the record whose count comes under the head next.
    next: usize,
    /// The record whose count field a search or Read Count just passed:
    /// read and write data commands act on it.
    found: Option<usize>,
    /// Index points passed since the last orientation.
    passes: u8,
    sense: [u8; 32],
    last_error: Option<String>,
}

impl Dasd {
    /// Opens a 3390 image; `writable` false makes writes fail with "file
    /// protected".
    pub fn open(path: &Path, writable: bool) -> Result<Dasd, ImageError> {
        Ok(Dasd::new(CkdImage::open(path, writable)?))
    }

    pub fn new(image: CkdImage) -> Dasd {
        Dasd {
            image,
            cyl: 0,
            head: 0,
            track: None,
            next: 0,
            found: None,
            passes: 0,
            sense: [0; 32],
            last_error: None,
        }
    }

    pub fn image(&self) -> &CkdImage {
        &self.image
    }

    /// The cause of the last unit check, in words.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    fn name(&self) -> String {
        format!("3390 {}", self.image.path().display())
    }

    fn load(&mut self) -> Result<&Track, Check> {
        if self.track.is_none() {
            let t = self
                .image
                .read_track(self.cyl, self.head)
                .map_err(|e| Check {
                    byte: 0,
                    bit: sense::EQUIPMENT_CHECK,
                    why: e.to_string(),
                })?;
            self.track = Some(t);
        }
        Ok(self.track.as_ref().expect("loaded above"))
    }

    fn seek_to(&mut self, cyl: u16, head: u16) {
        if (cyl, head) != (self.cyl, self.head) {
            self.track = None;
        }
        self.cyl = cyl;
        self.head = head;
        self.orient_index();
    }

    fn orient_index(&mut self) {
        self.next = 0;
        self.found = None;
        self.passes = 0;
    }

    /// Moves past the end of the track: to the next head for multitrack
    /// commands, else round through the index point.
    fn end_of_track(&mut self, multitrack: bool, what: &str) -> Result<(), Check> {
        if multitrack {
            if u32::from(self.head) + 1 >= self.image.heads() {
                return Err(Check {
                    byte: 1,
                    bit: sense::END_OF_CYLINDER,
                    why: format!(
                        "{what}: end of cylinder {} reached by a multitrack operation",
                        self.cyl
                    ),
                });
            }
            let (c, h) = (self.cyl, self.head + 1);
            self.seek_to(c, h);
            return Ok(());
        }
        self.passes += 1;
        if self.passes >= 2 {
            return Err(Check {
                byte: 1,
                bit: sense::NO_RECORD_FOUND,
                why: format!(
                    "{what}: no record found on cylinder {} head {} after a full revolution",
                    self.cyl, self.head
                ),
            });
        }
        self.next = 0;
        Ok(())
    }

    /// The record a read or write data operation acts on.
    fn data_record(&mut self, multitrack: bool, what: &str) -> Result<usize, Check> {
        if let Some(i) = self.found {
            return Ok(i);
        }
        self.next_record(multitrack, what)
    }

    /// The next record after R0 to come under the head.
    fn next_record(&mut self, multitrack: bool, what: &str) -> Result<usize, Check> {
        loop {
            let n = self.load()?.records.len();
            if self.next == 0 {
                self.next = 1;
            }
            if self.next < n {
                return Ok(self.next);
            }
            self.end_of_track(multitrack, what)?;
        }
    }

    fn search_id(&mut self, arg: &[u8], multitrack: bool) -> Result<bool, Check> {
        if arg.is_empty() {
            return Err(reject("search ID equal without an argument"));
        }
        let k = arg.len().min(5);
        loop {
            let n = self.load()?.records.len();
            if self.next >= n {
                self.end_of_track(multitrack, "search ID equal")?;
                continue;
            }
            break;
        }
        let i = self.next;
        let id = self.track.as_ref().expect("loaded").records[i].id();
        self.next = i + 1;
        if id[..k] == arg[..k] {
            self.found = Some(i);
            self.passes = 0;
            Ok(true)
        } else {
            self.found = None;
            Ok(false)
        }
    }

    fn seek(&mut self, arg: &[u8]) -> Result<(), Check> {
        if arg.len() < 6 {
            return Err(reject(format!(
                "seek with {} bytes of seek address, 6 needed",
                arg.len()
            )));
        }
        let bb = u16::from_be_bytes([arg[0], arg[1]]);
        let cyl = u16::from_be_bytes([arg[2], arg[3]]);
        let head = u16::from_be_bytes([arg[4], arg[5]]);
        if bb != 0
            || u32::from(cyl) >= self.image.cylinders()
            || u32::from(head) >= self.image.heads()
        {
            return Err(reject(format!(
                "invalid seek address {bb:04x} {cyl:04x} {head:04x} ({} cylinders, {} heads)",
                self.image.cylinders(),
                self.image.heads()
            )));
        }
        self.seek_to(cyl, head);
        Ok(())
    }

    fn read_ipl(&mut self) -> Result<Vec<u8>, Check> {
        self.seek_to(0, 0);
        let t = self.load()?;
        let Some(i) = t.records.iter().position(|r| r.rec == 1) else {
            return Err(Check {
                byte: 1,
                bit: sense::NO_RECORD_FOUND,
                why: "read IPL: no record 1 on cylinder 0 head 0".into(),
            });
        };
        let data = t.records[i].data.clone();
        self.next = i + 1;
        self.found = None;
        Ok(data)
    }

    fn read_data(&mut self, multitrack: bool) -> Result<Vec<u8>, Check> {
        let i = self.data_record(multitrack, "read data")?;
        let data = self.track.as_ref().expect("loaded").records[i].data.clone();
        self.next = i + 1;
        self.found = None;
        self.passes = 0;
        Ok(data)
    }

    fn read_count(&mut self, multitrack: bool) -> Result<Vec<u8>, Check> {
        let i = self.next_record(multitrack, "read count")?;
        let count = self.track.as_ref().expect("loaded").records[i].count();
        self.next = i + 1;
        self.found = Some(i);
        self.passes = 0;
        Ok(count.to_vec())
    }

    fn read_ckd(&mut self, multitrack: bool) -> Result<Vec<u8>, Check> {
        let i = self.next_record(multitrack, "read count, key and data")?;
        let r = &self.track.as_ref().expect("loaded").records[i];
        let mut v = r.count().to_vec();
        v.extend_from_slice(&r.key);
        v.extend_from_slice(&r.data);
        self.next = i + 1;
        self.found = None;
        self.passes = 0;
        Ok(v)
    }

    fn write_data(&mut self, data: &[u8]) -> Result<usize, Check> {
        let Some(i) = self.found else {
            return Err(reject(
                "write data not preceded by a successful search ID or read count",
            ));
        };
        if !self.image.writable() {
            return Err(Check {
                byte: 1,
                bit: sense::FILE_PROTECTED,
                why: "write data: the image is read-only".into(),
            });
        }
        let mut track = self
            .track
            .clone()
            .expect("a found record's track is loaded");
        let rec = &mut track.records[i];
        if data.len() != rec.data.len() {
            return Err(reject(format!(
                "write data of {} bytes to R{} on cylinder {} head {}, whose data length is {}",
                data.len(),
                rec.rec,
                self.cyl,
                self.head,
                rec.data.len()
            )));
        }
        rec.data.copy_from_slice(data);
        self.image.write_track(&track).map_err(|e| Check {
            byte: 0,
            bit: sense::EQUIPMENT_CHECK,
            why: e.to_string(),
        })?;
        self.track = Some(track);
        self.next = i + 1;
        self.found = None;
        self.passes = 0;
        Ok(data.len())
    }
}

/// Copies `bytes` to the start of a read buffer; the answer's length is
/// the device's, whatever the buffer's.
fn give(data: Transfer<'_>, bytes: &[u8]) -> usize {
    if let Transfer::Read(buf) = data {
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
    }
    bytes.len()
}

fn written<'a>(data: &'a Transfer<'_>) -> &'a [u8] {
    match data {
        Transfer::Write(b) => b,
        _ => &[],
    }
}

impl CcwDevice for Dasd {
    fn command(&mut self, code: u8, data: Transfer<'_>) -> Response {
        let ok = |len: usize| Response { dstat: CE_DE, len };
        let result: Result<Response, Check> = match code {
            cmd::SENSE_ID => Ok(ok(give(data, &SENSE_ID_DATA))),
            cmd::SENSE => {
                let s = self.sense;
                self.sense = [0; 32];
                return ok(give(data, &s));
            }
            cmd::NOOP => Ok(ok(0)),
            cmd::READ_IPL => self.read_ipl().map(|d| ok(give(data, &d))),
            cmd::SEEK => self.seek(written(&data)).map(|()| ok(6)),
            cmd::SEARCH_ID_EQ | cmd::SEARCH_ID_EQ_MT => self
                .search_id(written(&data), code == cmd::SEARCH_ID_EQ_MT)
                .map(|equal| Response {
                    dstat: if equal {
                        CE_DE | dstat::STATUS_MODIFIER
                    } else {
                        CE_DE
                    },
                    len: 5,
                }),
            cmd::READ_DATA | cmd::READ_DATA_MT => self
                .read_data(code == cmd::READ_DATA_MT)
                .map(|d| ok(give(data, &d))),
            cmd::READ_COUNT | cmd::READ_COUNT_MT => self
                .read_count(code == cmd::READ_COUNT_MT)
                .map(|d| ok(give(data, &d))),
            cmd::READ_CKD | cmd::READ_CKD_MT => self
                .read_ckd(code == cmd::READ_CKD_MT)
                .map(|d| ok(give(data, &d))),
            cmd::WRITE_DATA => self.write_data(written(&data)).map(ok),
            other => Err(reject(format!("command 0x{other:02x} not supported"))),
        };
        match result {
            Ok(r) => {
                self.sense = [0; 32];
                self.last_error = None;
                r
            }
            Err(c) => {
                log::warn!("{}: unit check: {}", self.name(), c.why);
                self.sense = [0; 32];
                self.sense[c.byte] = c.bit;
                self.last_error = Some(c.why);
                self.found = None;
                Response {
                    dstat: CE_DE | dstat::UNIT_CHECK,
                    len: 0,
                }
            }
        }
    }

    fn sense(&self) -> [u8; 32] {
        self.sense
    }

    fn reset(&mut self) {
        self.orient_index();
        self.sense = [0; 32];
    }
}
