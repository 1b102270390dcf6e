// SPDX-License-Identifier: GPL-2.0-or-later
//! An IBM 3390 behind a 3990 control unit, backed by a CKD image: what
//! QEMU's s390-ccw firmware needs to IPL from it (Sense ID, Read IPL,
//! Seek, Search ID Equal, Read Data, Sense) plus Write Data, Read Key and
//! Data, Read Count, Read Count-Key-Data and Read Home Address, with the
//! multitrack forms of the reads and of the search; and what Linux's DASD
//! driver needs to set it online and read and write its blocks (path
//! groups, Read Configuration Data, Read Device Characteristics, Perform
//! Subsystem Function with Read Subsystem Data, Define Extent and Locate
//! Record; the data they carry is in `eckd`).
//!
//! Orientation follows the disk: after a Seek the head is at the index
//! point; each Search ID or Read Count looks at the next count field to
//! pass under the head and moves past it; a search that passes the index
//! point twice without a match is "no record found". Read and Write Data
//! act on the record a search just matched, or else on the next record.
//! A multitrack command (code bit 0x80) that reaches the index point goes
//! on at the next head instead of going round the same track.
//!
//! Define Extent limits the rest of its channel program to a range of
//! tracks; Locate Record seeks and searches within it and opens a domain
//! of records that the following reads or writes work through, going on
//! from track to track (R0 is not part of a domain) as a 3990 does.
//!
//! Formatting is what Linux's dasd_eckd_build_format sends for `dasdfmt`:
//! a format-write domain (Locate Record operation 3) oriented to R0's
//! count, in which each Write Count, Key and Data (0x1D) writes the next
//! record after the last one and erases the rest of the track, and its
//! next-track form (0x9D) moves to the next track of the extent first;
//! or, to write R0 too, a domain oriented to the home address that
//! starts each track with Write Record Zero (0x15). The count field
//! alone is transferred (a CCW count of 8): the control unit writes
//! zeros for the key and data it does not get. Write Home Address is not
//! modelled: dasd_eckd.c refuses that format intensity ("currently not
//! supported") and sends none.

use std::path::Path;

use crate::ccw_device::{dstat, CcwDevice, Response, Transfer};
use crate::ckd::{records, CkdError, CkdImage, Count, Record, END_OF_TRACK};
use crate::eckd::{
    self, Extent, Locate, Operation, Orientation, PathGroup, Refusal, PGID_LEN, PRSSD_LEN, RCD_LEN,
    RDC_LEN, SSC_LEN,
};

pub const CMD_WRITE_DATA: u8 = 0x05;
pub const CMD_READ_IPL: u8 = 0x02;
pub const CMD_NOP: u8 = 0x03;
pub const CMD_SENSE: u8 = 0x04;
pub const CMD_READ_DATA: u8 = 0x06;
pub const CMD_SEEK: u8 = 0x07;
pub const CMD_READ_KEY_DATA: u8 = 0x0e;
pub const CMD_READ_COUNT: u8 = 0x12;
pub const CMD_READ_HA: u8 = 0x1a;
pub const CMD_READ_CKD: u8 = 0x1e;
pub const CMD_SEARCH_ID_EQUAL: u8 = 0x31;
pub const CMD_READ_DATA_MT: u8 = 0x86;
pub const CMD_READ_KEY_DATA_MT: u8 = 0x8e;
pub const CMD_READ_COUNT_MT: u8 = 0x92;
pub const CMD_READ_HA_MT: u8 = 0x9a;
pub const CMD_READ_CKD_MT: u8 = 0x9e;
pub const CMD_SEARCH_ID_EQUAL_MT: u8 = 0xb1;
pub const CMD_SENSE_ID: u8 = 0xe4;
pub const CMD_WRITE_KEY_DATA: u8 = 0x0d;
pub const CMD_WRITE_DATA_MT: u8 = 0x85;
pub const CMD_WRITE_KEY_DATA_MT: u8 = 0x8d;
pub const CMD_PSF: u8 = 0x27;
pub const CMD_SENSE_PGID: u8 = 0x34;
pub const CMD_RSSD: u8 = 0x3e;
pub const CMD_LOCATE_RECORD: u8 = 0x47;
pub const CMD_DEFINE_EXTENT: u8 = 0x63;
pub const CMD_RDC: u8 = 0x64;
pub const CMD_SET_PGID: u8 = 0xaf;
pub const CMD_RCD: u8 = 0xfa;
/// The multitrack bit of the read and search command codes.
pub const CMD_WRITE_R0: u8 = 0x15;
pub const CMD_WRITE_CKD: u8 = 0x1d;
/// Write Count, Key and Data Next Track.
pub const CMD_WRITE_CKD_NEXT_TRACK: u8 = 0x9d;
pub const CMD_MULTITRACK: u8 = 0x80;

/// The device's command set, decoded once from a CCW command code; the
/// reads and the search carry the code's multitrack bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    SenseId,
    SensePathGroupId,
    SetPathGroupId,
    ReadConfigurationData,
    ReadDeviceCharacteristics,
    PerformSubsystemFunction,
    ReadSubsystemData,
    DefineExtent,
    LocateRecord,
    Sense,
    Nop,
    ReadIpl,
    Seek,
    SearchIdEqual { multitrack: bool },
    ReadData { multitrack: bool },
    ReadKeyData { multitrack: bool },
    ReadHomeAddress { multitrack: bool },
    ReadCount { multitrack: bool },
    ReadCountKeyData { multitrack: bool },
    WriteData { multitrack: bool },
    WriteKeyData { multitrack: bool },
    Format(Format),
}

/// The formatting writes: each writes a whole record and erases the rest
/// of the track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// Write Record Zero.
    RecordZero,
    /// Write Count, Key and Data.
    CountKeyData,
    /// Write Count, Key and Data Next Track.
    CountKeyDataNextTrack,
}

impl Command {
    /// The command a code names, or None for one the device does not
    /// execute (command reject, invalid command).
    fn decode(code: u8) -> Option<Command> {
        let multitrack = code & CMD_MULTITRACK != 0;
        Some(match code {
            CMD_SENSE_ID => Command::SenseId,
            CMD_SENSE_PGID => Command::SensePathGroupId,
            CMD_SET_PGID => Command::SetPathGroupId,
            CMD_RCD => Command::ReadConfigurationData,
            CMD_RDC => Command::ReadDeviceCharacteristics,
            CMD_PSF => Command::PerformSubsystemFunction,
            CMD_RSSD => Command::ReadSubsystemData,
            CMD_DEFINE_EXTENT => Command::DefineExtent,
            CMD_LOCATE_RECORD => Command::LocateRecord,
            CMD_SENSE => Command::Sense,
            CMD_NOP => Command::Nop,
            CMD_READ_IPL => Command::ReadIpl,
            CMD_SEEK => Command::Seek,
            CMD_SEARCH_ID_EQUAL | CMD_SEARCH_ID_EQUAL_MT => Command::SearchIdEqual { multitrack },
            CMD_READ_DATA | CMD_READ_DATA_MT => Command::ReadData { multitrack },
            CMD_READ_KEY_DATA | CMD_READ_KEY_DATA_MT => Command::ReadKeyData { multitrack },
            CMD_READ_HA | CMD_READ_HA_MT => Command::ReadHomeAddress { multitrack },
            CMD_READ_COUNT | CMD_READ_COUNT_MT => Command::ReadCount { multitrack },
            CMD_READ_CKD | CMD_READ_CKD_MT => Command::ReadCountKeyData { multitrack },
            CMD_WRITE_DATA | CMD_WRITE_DATA_MT => Command::WriteData { multitrack },
            CMD_WRITE_KEY_DATA | CMD_WRITE_KEY_DATA_MT => Command::WriteKeyData { multitrack },
            CMD_WRITE_R0 => Command::Format(Format::RecordZero),
            CMD_WRITE_CKD => Command::Format(Format::CountKeyData),
            CMD_WRITE_CKD_NEXT_TRACK => Command::Format(Format::CountKeyDataNextTrack),
            _ => return None,
        })
    }

    /// Whether the command changes the volume, which a write-inhibited
    /// device refuses.
    fn writes(self) -> bool {
        matches!(
            self,
            Command::WriteData { .. } | Command::WriteKeyData { .. } | Command::Format(_)
        )
    }
}

pub use crate::eckd::SENSE_ID;

pub use crate::sense::*;

const END: u8 = dstat::CHANNEL_END | dstat::DEVICE_END;

/// Opens the 3390 backed by the image at `path`; read-only (writes are
/// inhibited) if the process may not write the file.
pub fn open_device(path: &Path) -> Result<Box<dyn CcwDevice>, CkdError> {
    Ok(Box::new(Dasd3390::open(path)?))
}

pub struct Dasd3390 {
    image: CkdImage,
    cyl: u16,
    head: u16,
    track: Vec<u8>,
    records: Vec<Record>,
    /// Index of the record whose count field passes under the head next.
    next: usize,
    /// Index points passed since the last positioning.
    index_passes: u8,
    /// Nothing has passed under the head since it came to this track, so
    /// the home address is the next thing it meets.
    at_index: bool,
    /// The record the previous command (a search) matched.
    found: Option<usize>,
    /// Where on this track the next formatting write goes: how many of
    /// its records (counted from R0) it keeps. Set by a format-write
    /// Locate Record and by each formatting write; None elsewhere.
    format_at: Option<usize>,
    /// The last formatting write was a Write Record Zero that began this
    /// track, so a Write CKD Next Track that follows stays on it.
    track_begun_by_r0: bool,
    sense: [u8; 32],
    /// The Define Extent of the running channel program.
    extent: Option<Extent>,
    /// The Locate Record domain of the running channel program.
    domain: Option<Domain>,
    path_group: PathGroup,
    /// What the next Read Subsystem Data returns, as the last Perform
    /// Subsystem Function prepared it.
    subsystem_data: Option<Vec<u8>>,
    serial: String,
}

/// A Locate Record domain: its operation and the records still to go.
#[derive(Clone, Copy, Debug)]
struct Domain {
    operation: Operation,
    remaining: u8,
}

impl Dasd3390 {
    pub fn open(path: &Path) -> Result<Dasd3390, CkdError> {
        Dasd3390::with_image(CkdImage::open(path)?)
    }

    /// Opens the 3390 with writes inhibited, whatever the file allows.
    pub fn open_read_only(path: &Path) -> Result<Dasd3390, CkdError> {
        Dasd3390::with_image(CkdImage::open_read_only(path)?)
    }

    fn with_image(mut image: CkdImage) -> Result<Dasd3390, CkdError> {
        let track = image.read_track(0, 0)?;
        let records = records(&track).expect("read_track checked the track");
        let serial = eckd::serial_for(image.path());
        Ok(Dasd3390 {
            image,
            cyl: 0,
            head: 0,
            track,
            records,
            next: 0,
            index_passes: 0,
            at_index: true,
            found: None,
            format_at: None,
            track_begun_by_r0: false,
            sense: [0; 32],
            extent: None,
            domain: None,
            path_group: PathGroup::default(),
            subsystem_data: None,
            serial,
        })
    }

    fn check(&mut self, byte0: u8, byte1: u8) -> Response {
        self.sense = [0; 32];
        self.sense[0] = byte0;
        self.sense[1] = byte1;
        self.sense[27] = SENSE27_24_BYTE;
        Response {
            dstat: END | dstat::UNIT_CHECK,
            len: 0,
        }
    }

    fn reject(&mut self, message: u8) -> Response {
        let check = self.check(SENSE0_COMMAND_REJECT, 0);
        self.sense[7] = message;
        check
    }

    /// Moves the head to a track: the track becomes current, oriented at
    /// its index point.
    fn seek_track(&mut self, cyl: u16, head: u16) -> Result<(), Response> {
        if u32::from(cyl) >= self.image.cylinders || u32::from(head) >= self.image.heads {
            return Err(self.reject(SENSE7_INVALID_ARGUMENT));
        }
        if (cyl, head) != (self.cyl, self.head) {
            match self.image.read_track(cyl, head) {
                Ok(track) => {
                    self.records = records(&track).expect("read_track checked the track");
                    self.track = track;
                    self.cyl = cyl;
                    self.head = head;
                }
                Err(e) => {
                    log::error!("3390: {e}");
                    return Err(self.check(SENSE0_EQUIPMENT_CHECK, 0));
                }
            }
        }
        self.next = 0;
        self.index_passes = 0;
        self.at_index = true;
        self.format_at = None;
        Ok(())
    }

    /// The index point as a multitrack command meets it: the next head of
    /// the cylinder, or past the last one, unit check, end of cylinder.
    fn next_head(&mut self) -> Result<(), Response> {
        if u32::from(self.head) + 1 >= self.image.heads {
            return Err(self.check(0, SENSE1_END_OF_CYLINDER));
        }
        self.seek_within_extent(self.cyl, self.head + 1)
    }

    fn track_number(&self) -> u32 {
        u32::from(self.cyl) * self.image.heads + u32::from(self.head)
    }

    /// A seek that a Define Extent in the program limits: a track outside
    /// its extent is file protected.
    fn seek_within_extent(&mut self, cyl: u16, head: u16) -> Result<(), Response> {
        if let Some(extent) = self.extent {
            let track = u32::from(cyl) * self.image.heads + u32::from(head);
            if !extent.contains(track) {
                return Err(self.check(0, SENSE1_FILE_PROTECTED));
            }
        }
        self.seek_track(cyl, head)
    }

    fn refuse(&mut self, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Reject(message) => self.reject(message),
            Refusal::FileProtected => self.check(0, SENSE1_FILE_PROTECTED),
        }
    }

    /// The next data record after the head on this track, moving past its
    /// count field.
    fn next_data_record_here(&mut self) -> Option<usize> {
        while self.next < self.records.len() {
            let i = self.next;
            self.next += 1;
            self.at_index = false;
            if self.records[i].count.record != 0 {
                return Some(i);
            }
        }
        None
    }

    /// The next record of a Locate Record domain: on this track, or past
    /// its end on the first data record of the next track of the extent
    /// (beyond the extent: file protected; a track without one: no record
    /// found).
    fn domain_next(&mut self) -> Result<usize, Response> {
        if let Some(i) = self.next_data_record_here() {
            return Ok(i);
        }
        let track = self.track_number() + 1;
        let heads = self.image.heads;
        self.seek_within_extent((track / heads) as u16, (track % heads) as u16)?;
        match self.next_data_record_here() {
            Some(i) => Ok(i),
            None => Err(self.check(0, SENSE1_NO_RECORD_FOUND)),
        }
    }

    /// Takes one record's turn in the domain, if one is open: the command
    /// must suit the domain's operation, and the domain must not be used
    /// up.
    fn domain_turn(&mut self, operation: Operation) -> Result<bool, Response> {
        let Some(domain) = self.domain.as_mut() else {
            return Ok(false);
        };
        if domain.operation != operation || domain.remaining == 0 {
            return Err(self.reject(SENSE7_INVALID_SEQUENCE));
        }
        domain.remaining -= 1;
        Ok(true)
    }

    /// The record a read or write acts on: the located or searched one,
    /// else the domain's next, else the next data record.
    fn record_for(
        &mut self,
        found: Option<usize>,
        operation: Operation,
        multitrack: bool,
    ) -> Result<usize, Response> {
        if self.domain_turn(operation)? {
            return match found {
                Some(i) => Ok(i),
                None => self.domain_next(),
            };
        }
        self.data_record(found, multitrack)
    }

    /// The next count field for Read Count and Read Count-Key-Data.
    fn count_for(&mut self, multitrack: bool) -> Result<usize, Response> {
        if self.domain_turn(Operation::Read)? {
            return self.domain_next();
        }
        self.next_count(multitrack)
    }

    fn define_extent(&mut self, arg: &[u8]) -> Response {
        // One extent per channel program, as on a 3990.
        if self.extent.is_some() {
            return self.reject(SENSE7_INVALID_SEQUENCE);
        }
        match Extent::parse(arg, self.image.cylinders, self.image.heads) {
            Ok((extent, len)) => {
                self.extent = Some(extent);
                Response { dstat: END, len }
            }
            Err(refusal) => self.refuse(refusal),
        }
    }

    /// Locate Record: seek the track and search for the record the search
    /// argument names, leaving the head just past its count field (so a
    /// Read Data reads it, a Read Count the one after it).
    fn locate_record(&mut self, arg: &[u8]) -> Response {
        let Some(extent) = self.extent else {
            return self.reject(SENSE7_INVALID_SEQUENCE);
        };
        let locate = match Locate::parse(arg, &extent, self.image.heads) {
            Ok(locate) => locate,
            Err(refusal) => return self.refuse(refusal),
        };
        self.domain = None;
        let heads = self.image.heads;
        let (cyl, head) = ((locate.track / heads) as u16, (locate.track % heads) as u16);
        if let Err(check) = self.seek_track(cyl, head) {
            return check;
        }
        if locate.orientation == Orientation::HomeAddress {
            // The home address holds the track's CCHH, which the search
            // argument must name; the track is formatted from R0 on.
            let [c0, c1] = cyl.to_be_bytes();
            let [h0, h1] = head.to_be_bytes();
            if locate.search[..4] != [c0, c1, h0, h1] {
                return self.check(0, SENSE1_NO_RECORD_FOUND);
            }
            self.at_index = false;
            self.format_at = Some(0);
            return self.open_domain(locate);
        }
        loop {
            let Some(i) = self.pass_count() else {
                return self.check(0, SENSE1_NO_RECORD_FOUND);
            };
            if self.records[i].count.id() == locate.search {
                // A format write keeps the located record and writes
                // after it; the other operations act on it.
                if locate.operation == Operation::Format {
                    self.format_at = Some(i + 1);
                } else {
                    self.found = Some(i);
                }
                break;
            }
        }
        self.open_domain(locate)
    }

    fn open_domain(&mut self, locate: Locate) -> Response {
        self.domain = Some(Domain {
            operation: locate.operation,
            remaining: locate.count,
        });
        Response {
            dstat: END,
            len: eckd::LOCATE_RECORD_LEN,
        }
    }

    /// The next track of a format write's extent, from its start: how
    /// many records a formatting write there keeps (its R0, if it has
    /// one).
    fn format_next_track(&mut self) -> Result<usize, Response> {
        let track = self.track_number() + 1;
        let heads = self.image.heads;
        self.seek_within_extent((track / heads) as u16, (track % heads) as u16)?;
        self.at_index = false;
        Ok(usize::from(
            self.records.first().is_some_and(|r| r.count.record == 0),
        ))
    }

    /// Write Record Zero, Write Count, Key and Data and its next-track
    /// form: where the record goes, then the record written there.
    fn format_write(&mut self, format: Format, found: Option<usize>, arg: &[u8]) -> Response {
        if arg.len() < 8 {
            return self.reject(SENSE7_COUNT_TOO_SHORT);
        }
        let permitted = self.extent.is_none_or(|extent| {
            if format == Format::RecordZero {
                extent.formats_r0
            } else {
                extent.formats
            }
        });
        if !permitted {
            return self.check(0, SENSE1_FILE_PROTECTED);
        }
        let in_domain = match self.domain_turn(Operation::Format) {
            Ok(in_domain) => in_domain,
            Err(check) => return check,
        };
        let begun_by_r0 =
            std::mem::replace(&mut self.track_begun_by_r0, format == Format::RecordZero);
        let at = match (format, in_domain) {
            // dasd_eckd.c's Write Record Zero, then Write CKD Next Track
            // for R1, is one move to the next track, not two.
            (Format::CountKeyDataNextTrack, true) if begun_by_r0 => self
                .format_at
                .ok_or_else(|| self.reject(SENSE7_INVALID_SEQUENCE)),
            (Format::CountKeyDataNextTrack, true) => self.format_next_track(),
            // R0 starts a track: one already formatted in this domain
            // is done, so R0 goes on the next (dasd_eckd.c chains Write
            // Record Zero straight after the last record of the track
            // before).
            (Format::RecordZero, true) => match self.format_at {
                Some(0) => Ok(0),
                Some(_) => self.format_next_track().map(|_| 0),
                None => Err(self.reject(SENSE7_INVALID_SEQUENCE)),
            },
            // Outside a domain Write CKD follows a matching Search ID
            // Equal or another Write CKD, as on a 3990.
            (Format::CountKeyData, _) => match found.map(|i| i + 1).or(self.format_at) {
                Some(at) => Ok(at),
                None => Err(self.reject(SENSE7_INVALID_SEQUENCE)),
            },
            // Outside a format-write domain there is no track for R0 to
            // start nor a next track to go on to.
            (Format::RecordZero | Format::CountKeyDataNextTrack, false) => {
                Err(self.reject(SENSE7_INVALID_SEQUENCE))
            }
        };
        match at {
            Ok(at) => self.write_formatted(at, arg),
            Err(check) => check,
        }
    }

    /// Writes a record, count, key and data, after the first `at`
    /// records of the track and erases the rest of the track. What the
    /// CCW does not transfer of the key and data is written as zeros.
    fn write_formatted(&mut self, at: usize, arg: &[u8]) -> Response {
        let count = Count::from_bytes(&arg[..8]);
        let len = 8 + usize::from(count.key_len) + usize::from(count.data_len);
        let start = at
            .checked_sub(1)
            .map_or(5, |last| self.records[last].data_range().end);
        let end = start + len;
        if end + END_OF_TRACK.len() > self.track.len() {
            return self.check(0, SENSE1_INVALID_TRACK_FORMAT);
        }
        let before = self.track[start..end + END_OF_TRACK.len()].to_vec();
        let given = arg.len().min(len);
        self.track[start..start + given].copy_from_slice(&arg[..given]);
        self.track[start + given..end].fill(0);
        self.track[end..end + END_OF_TRACK.len()].copy_from_slice(&END_OF_TRACK);
        if let Err(e) = self.image.write_track(self.cyl, self.head, &self.track) {
            log::error!("3390: {e}");
            self.track[start..end + END_OF_TRACK.len()].copy_from_slice(&before);
            return self.check(SENSE0_EQUIPMENT_CHECK, 0);
        }
        self.records.truncate(at);
        self.records.push(Record {
            count,
            offset: start,
        });
        self.format_at = Some(at + 1);
        self.next = at + 1;
        self.index_passes = 0;
        self.at_index = false;
        Response { dstat: END, len }
    }

    fn perform_subsystem_function(&mut self, arg: &[u8]) -> Response {
        match arg.first() {
            Some(&eckd::PSF_PREPARE_READ_SUBSYSTEM_DATA) => {
                if arg.len() < PRSSD_LEN {
                    return self.reject(SENSE7_COUNT_TOO_SHORT);
                }
                match eckd::subsystem_data(arg[6]) {
                    Some(data) => {
                        self.subsystem_data = Some(data);
                        Response {
                            dstat: END,
                            len: PRSSD_LEN,
                        }
                    }
                    // Format 0 message 4, which Linux's alias and volume
                    // queries read as "suborder not supported".
                    None => self.reject(SENSE7_INVALID_ARGUMENT),
                }
            }
            // Setting subsystem characteristics (PAV on or off) changes
            // nothing on a control unit without aliases.
            Some(&eckd::PSF_SET_SUBSYSTEM_CHARACTERISTICS) => {
                if arg.len() < SSC_LEN {
                    return self.reject(SENSE7_COUNT_TOO_SHORT);
                }
                Response {
                    dstat: END,
                    len: SSC_LEN,
                }
            }
            _ => self.reject(SENSE7_INVALID_ARGUMENT),
        }
    }

    fn give(buf: &mut [u8], bytes: &[u8]) -> Response {
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Response {
            dstat: END,
            len: bytes.len(),
        }
    }

    /// The next count field under the head, moving past it, for a
    /// search or count read: a multitrack one goes on at the next head
    /// where a single-track one goes round through the index point.
    fn next_count(&mut self, multitrack: bool) -> Result<usize, Response> {
        // A loop, as a track may hold no records at all.
        while multitrack && self.next >= self.records.len() {
            self.next_head()?;
        }
        match self.pass_count() {
            Some(i) => Ok(i),
            None => Err(self.check(0, SENSE1_NO_RECORD_FOUND)),
        }
    }

    /// The next count field under the head, moving past it; None after
    /// the index point has gone by twice.
    fn pass_count(&mut self) -> Option<usize> {
        if self.next >= self.records.len() {
            self.next = 0;
            self.index_passes += 1;
        }
        if self.index_passes >= 2 {
            return None;
        }
        let i = self.next;
        self.next += 1;
        self.at_index = false;
        Some(i)
    }

    /// The record Read Data acts on: the one a search or Read Count just
    /// passed, or the next data record (R0 is not one). A multitrack read
    /// that reaches the end of the track goes on at the next head's index
    /// point, and past the cylinder's last head ends in unit check, end of
    /// cylinder; a single-track one goes round through the index point.
    fn data_record(&mut self, found: Option<usize>, multitrack: bool) -> Result<usize, Response> {
        if let Some(i) = found {
            return Ok(i);
        }
        loop {
            let i = self.next_count(multitrack)?;
            if self.records[i].count.record != 0 {
                return Ok(i);
            }
        }
    }

    fn read(&self, range: std::ops::Range<usize>, buf: &mut [u8]) -> Response {
        let bytes = &self.track[range];
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Response {
            dstat: END,
            len: bytes.len(),
        }
    }

    /// Writes a record's data area, or its key and data areas.
    fn write_record(&mut self, range: std::ops::Range<usize>, data: &[u8]) -> Response {
        let len = range.len();
        // A short write pads the record, as the control unit does.
        let n = data.len().min(len);
        let before = self.track[range.clone()].to_vec();
        self.track[range.start..range.start + n].copy_from_slice(&data[..n]);
        self.track[range.start + n..range.end].fill(0);
        if let Err(e) = self.image.write_track(self.cyl, self.head, &self.track) {
            log::error!("3390: {e}");
            // The record keeps what the volume has, not what failed to
            // reach it.
            self.track[range].copy_from_slice(&before);
            return self.check(SENSE0_EQUIPMENT_CHECK, 0);
        }
        Response { dstat: END, len }
    }
}

/// The commands, one method each, as `command` dispatches them.
impl Dasd3390 {
    fn sense_id(buf: &mut [u8]) -> Response {
        Self::give(buf, &SENSE_ID)
    }

    fn sense_path_group_id(&self, buf: &mut [u8]) -> Response {
        Self::give(buf, &self.path_group.sense())
    }

    fn set_path_group_id(&mut self, arg: &[u8]) -> Response {
        let Ok(arg) = <&[u8; PGID_LEN]>::try_from(arg.get(..PGID_LEN).unwrap_or(&[])) else {
            return self.reject(SENSE7_COUNT_TOO_SHORT);
        };
        self.path_group.set(arg);
        Response {
            dstat: END,
            len: PGID_LEN,
        }
    }

    fn read_configuration_data(&self, buf: &mut [u8]) -> Response {
        let rcd: [u8; RCD_LEN] = eckd::configuration_data(&self.serial);
        Self::give(buf, &rcd)
    }

    fn read_device_characteristics(&self, buf: &mut [u8]) -> Response {
        let rdc: [u8; RDC_LEN] = eckd::device_characteristics(self.image.cylinders);
        Self::give(buf, &rdc)
    }

    /// What the Perform Subsystem Function before it prepared, once.
    fn read_subsystem_data(&mut self, buf: &mut [u8]) -> Response {
        match self.subsystem_data.take() {
            Some(data) => Self::give(buf, &data),
            None => self.reject(SENSE7_INVALID_SEQUENCE),
        }
    }

    /// Sense: the sense bytes, which reading clears.
    fn read_sense(&mut self, buf: &mut [u8]) -> Response {
        let n = buf.len().min(32);
        buf[..n].copy_from_slice(&self.sense[..n]);
        self.sense = [0; 32];
        Response {
            dstat: END,
            len: 32,
        }
    }

    /// Read IPL: seek cylinder 0 head 0 and read R1's data.
    fn read_ipl(&mut self, buf: &mut [u8]) -> Response {
        if let Err(check) = self.seek_track(0, 0) {
            return check;
        }
        match self.records.iter().position(|r| r.count.record == 1) {
            Some(i) => {
                self.next = i + 1;
                self.at_index = false;
                self.read(self.records[i].data_range(), buf)
            }
            None => self.check(0, SENSE1_NO_RECORD_FOUND),
        }
    }

    /// Seek to the track a BBCCHH argument names (BB must be zero).
    fn seek(&mut self, arg: &[u8]) -> Response {
        if arg.len() < 6 {
            return self.reject(SENSE7_COUNT_TOO_SHORT);
        }
        if arg[0] != 0 || arg[1] != 0 {
            return self.reject(SENSE7_INVALID_ARGUMENT);
        }
        let cyl = u16::from_be_bytes([arg[2], arg[3]]);
        let head = u16::from_be_bytes([arg[4], arg[5]]);
        match self.seek_within_extent(cyl, head) {
            Ok(()) => Response { dstat: END, len: 6 },
            Err(check) => check,
        }
    }

    /// Compares the next count field's CCHHR with the argument; a match
    /// ends with status modifier, so the channel skips the TIC back to
    /// the search, and leaves the record for the next command.
    fn search_id_equal(&mut self, arg: &[u8], multitrack: bool) -> Response {
        if arg.len() < 5 {
            return self.reject(SENSE7_COUNT_TOO_SHORT);
        }
        let i = match self.next_count(multitrack) {
            Ok(i) => i,
            Err(check) => return check,
        };
        if self.records[i].count.id()[..] == arg[..5] {
            self.found = Some(i);
            Response {
                dstat: END | dstat::STATUS_MODIFIER,
                len: 5,
            }
        } else {
            Response { dstat: END, len: 5 }
        }
    }

    fn read_data(&mut self, found: Option<usize>, multitrack: bool, buf: &mut [u8]) -> Response {
        match self.record_for(found, Operation::Read, multitrack) {
            Ok(i) => self.read(self.records[i].data_range(), buf),
            Err(check) => check,
        }
    }

    fn read_key_data(
        &mut self,
        found: Option<usize>,
        multitrack: bool,
        buf: &mut [u8],
    ) -> Response {
        match self.record_for(found, Operation::Read, multitrack) {
            Ok(i) => {
                let record = self.records[i];
                self.read(record.key_range().start..record.data_range().end, buf)
            }
            Err(check) => check,
        }
    }

    fn read_home_address(&mut self, multitrack: bool, buf: &mut [u8]) -> Response {
        // The home address lies just after the index point. Unless the
        // head is already there it goes on to the index point, which a
        // multitrack command meets on the next head.
        if multitrack && !self.at_index {
            if let Err(check) = self.next_head() {
                return check;
            }
        }
        self.next = 0;
        self.index_passes = 0;
        self.at_index = false;
        let [c0, c1] = self.cyl.to_be_bytes();
        let [h0, h1] = self.head.to_be_bytes();
        let home_address = [0, c0, c1, h0, h1];
        let n = buf.len().min(home_address.len());
        buf[..n].copy_from_slice(&home_address[..n]);
        Response {
            dstat: END,
            len: home_address.len(),
        }
    }

    fn read_count(&mut self, multitrack: bool, buf: &mut [u8]) -> Response {
        match self.count_for(multitrack) {
            Ok(i) => {
                // Read Data next reads this record's data area.
                self.found = Some(i);
                let start = self.records[i].offset;
                self.read(start..start + 8, buf)
            }
            Err(check) => check,
        }
    }

    fn read_count_key_data(&mut self, multitrack: bool, buf: &mut [u8]) -> Response {
        match self.count_for(multitrack) {
            Ok(i) => {
                let record = self.records[i];
                self.read(record.offset..record.data_range().end, buf)
            }
            Err(check) => check,
        }
    }

    fn write_data(&mut self, found: Option<usize>, multitrack: bool, data: &[u8]) -> Response {
        match self.record_to_update(found, multitrack) {
            Ok(record) => self.write_record(record.data_range(), data),
            Err(check) => check,
        }
    }

    fn write_key_data(&mut self, found: Option<usize>, multitrack: bool, data: &[u8]) -> Response {
        match self.record_to_update(found, multitrack) {
            Ok(record) => {
                self.write_record(record.key_range().start..record.data_range().end, data)
            }
            Err(check) => check,
        }
    }

    /// The record Write Data or Write Key and Data updates: the next of a
    /// write domain, or else the one a search just matched.
    fn record_to_update(
        &mut self,
        found: Option<usize>,
        multitrack: bool,
    ) -> Result<Record, Response> {
        if self.extent.is_some_and(|extent| !extent.writes) {
            return Err(self.check(0, SENSE1_FILE_PROTECTED));
        }
        let i = if self.domain.is_some() {
            self.record_for(found, Operation::Write, multitrack)?
        } else {
            match found {
                Some(i) => i,
                // Writing needs orientation from a search.
                None => return Err(self.reject(SENSE7_INVALID_SEQUENCE)),
            }
        };
        Ok(self.records[i])
    }
}

impl CcwDevice for Dasd3390 {
    fn command(&mut self, cmd: u8, data: Transfer<'_>) -> Response {
        // Only the command right after a matching search acts on its record.
        let found = self.found.take();
        let Some(command) = Command::decode(cmd) else {
            return self.reject(SENSE7_INVALID_COMMAND);
        };
        match (command, data) {
            (Command::Nop, _) => Response { dstat: END, len: 0 },
            // Linux's dasd_3990_erp.c reports write inhibited as a
            // command reject with this bit, and fails the request.
            (command, Transfer::Write(_)) if command.writes() && !self.image.writable() => {
                self.check(SENSE0_COMMAND_REJECT, SENSE1_WRITE_INHIBITED)
            }
            (Command::SenseId, Transfer::Read(buf)) => Self::sense_id(buf),
            (Command::SensePathGroupId, Transfer::Read(buf)) => self.sense_path_group_id(buf),
            (Command::SetPathGroupId, Transfer::Write(arg)) => self.set_path_group_id(arg),
            (Command::ReadConfigurationData, Transfer::Read(buf)) => {
                self.read_configuration_data(buf)
            }
            (Command::ReadDeviceCharacteristics, Transfer::Read(buf)) => {
                self.read_device_characteristics(buf)
            }
            (Command::PerformSubsystemFunction, Transfer::Write(arg)) => {
                self.perform_subsystem_function(arg)
            }
            (Command::ReadSubsystemData, Transfer::Read(buf)) => self.read_subsystem_data(buf),
            (Command::DefineExtent, Transfer::Write(arg)) => self.define_extent(arg),
            (Command::LocateRecord, Transfer::Write(arg)) => self.locate_record(arg),
            (Command::Sense, Transfer::Read(buf)) => self.read_sense(buf),
            (Command::ReadIpl, Transfer::Read(buf)) => self.read_ipl(buf),
            (Command::Seek, Transfer::Write(arg)) => self.seek(arg),
            (Command::SearchIdEqual { multitrack }, Transfer::Write(arg)) => {
                self.search_id_equal(arg, multitrack)
            }
            (Command::ReadData { multitrack }, Transfer::Read(buf)) => {
                self.read_data(found, multitrack, buf)
            }
            (Command::ReadKeyData { multitrack }, Transfer::Read(buf)) => {
                self.read_key_data(found, multitrack, buf)
            }
            (Command::ReadHomeAddress { multitrack }, Transfer::Read(buf)) => {
                self.read_home_address(multitrack, buf)
            }
            (Command::ReadCount { multitrack }, Transfer::Read(buf)) => {
                self.read_count(multitrack, buf)
            }
            (Command::ReadCountKeyData { multitrack }, Transfer::Read(buf)) => {
                self.read_count_key_data(multitrack, buf)
            }
            (Command::WriteData { multitrack }, Transfer::Write(data)) => {
                self.write_data(found, multitrack, data)
            }
            (Command::WriteKeyData { multitrack }, Transfer::Write(data)) => {
                self.write_key_data(found, multitrack, data)
            }
            (Command::Format(format), Transfer::Write(arg)) => {
                self.format_write(format, found, arg)
            }
            // A command the device knows, offered without its data (a CCW
            // count of zero) or in the wrong direction.
            _ => self.reject(SENSE7_COUNT_TOO_SHORT),
        }
    }

    fn sense(&self) -> [u8; 32] {
        self.sense
    }

    fn reset(&mut self) {
        self.found = None;
        self.format_at = None;
        self.track_begun_by_r0 = false;
        self.next = 0;
        self.index_passes = 0;
        self.at_index = true;
        self.sense = [0; 32];
        self.extent = None;
        self.domain = None;
        self.subsystem_data = None;
    }

    fn begin_program(&mut self) {
        self.extent = None;
        self.domain = None;
        self.format_at = None;
        self.track_begun_by_r0 = false;
    }
}
