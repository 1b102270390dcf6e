// SPDX-License-Identifier: GPL-2.0-or-later
//! What the 3390 tells an operating system about itself, and the
//! parameters of the ECKD commands that Linux's DASD driver
//! (drivers/s390/block/dasd_eckd.c) sends to set a volume online and read
//! it: the Sense ID command-information words, Read Configuration Data,
//! Read Device Characteristics, the subsystem data of Perform Subsystem
//! Function, path groups, Define Extent and Locate Record.
//!
//! The layouts are the ones Linux decodes (struct dasd_ned, dasd_gneq,
//! dasd_eckd_characteristics, DE_eckd_data, LO_eckd_data in dasd_eckd.h;
//! struct senseid, ciw and pgid of the common I/O layer), so that a guest
//! sets the device online with no error in its log.

use std::path::Path;

use crate::ckd::{HEADS_3390, MAX_RECORD_3390};
use crate::ebcdic;

/// Sense ID: control unit 3990 model E9, device 3390 model 0C, then the
/// command-information words. cio only looks for CIWs when the device
/// sends more than the basic seven bytes; dasd_eckd.c reads the
/// configuration data only if a CIW names Read Configuration Data.
pub const SENSE_ID: [u8; 12] = [
    0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c, 0x00, // basic identification
    0x40, 0xfa, 0x01, 0x00, // CIW: type 0 (RCD), command 0xFA, 256 bytes
];

/// The unit address of the device on its control unit: the low byte of
/// the default device number, as installations usually number them.
pub const UNIT_ADDRESS: u8 = 0x90;
/// The subsystem (logical control unit) id in the general NEQ.
pub const SUBSYSTEM_ID: u16 = 0x0001;

pub const RCD_LEN: usize = 256;
pub const RDC_LEN: usize = 64;

/// A serial number for the volume, stable for one image file: two
/// simulated volumes in one guest must not look like one device seen over
/// two paths (dasd_eckd.c compares the serials of each path's data).
pub fn serial_for(image: &Path) -> String {
    let path = std::fs::canonicalize(image).unwrap_or_else(|_| image.to_owned());
    // FNV-1a: any stable spread will do.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012}", hash % 1_000_000_000_000)
}

/// One node-element descriptor of the configuration data.
fn ned(flags: u8, descriptor: u8, class: u8, kind: &str, model: &str, serial: &str) -> [u8; 32] {
    let mut ned = [0u8; 32];
    ned[0] = flags;
    ned[1] = descriptor;
    ned[2] = class;
    ned[4..10].copy_from_slice(&ebcdic::padded::<6>(kind));
    ned[10..13].copy_from_slice(&ebcdic::padded::<3>(model));
    ned[13..16].copy_from_slice(&ebcdic::padded::<3>("IBM"));
    // Plant of manufacture, then the sequence number.
    ned[16..18].copy_from_slice(&ebcdic::padded::<2>("02"));
    ned[18..30].copy_from_slice(&ebcdic::padded::<12>(serial));
    ned
}

/// NED flag bits: the descriptor kind in the top two bits (3: a NED), a
/// token NED, and a valid serial number.
const NED_IS_NED: u8 = 0xc0;
const NED_TOKEN: u8 = 0x20;
const NED_SERIAL_VALID: u8 = 0x10;
/// The general NEQ's kind in the top two bits.
const GNEQ: u8 = 0x80;

/// Read Configuration Data: the device NED (descriptor 1, which
/// dasd_eckd_identify_conf_parts looks for, carrying the unit address
/// that Linux's UID and alias handling use), the control unit's NED, the
/// token NED, and the general NEQ with the subsystem id at its bytes 8-9.
/// No SNEQ: without one Linux takes the device for a base device.
pub fn configuration_data(serial: &str) -> [u8; RCD_LEN] {
    let mut rcd = [0u8; RCD_LEN];
    let mut device = ned(NED_IS_NED | NED_SERIAL_VALID, 1, 1, "003390", "00C", serial);
    device[31] = UNIT_ADDRESS;
    let control_unit = ned(NED_IS_NED | NED_SERIAL_VALID, 2, 0, "003990", "0E9", serial);
    let token = ned(
        NED_IS_NED | NED_TOKEN | NED_SERIAL_VALID,
        0,
        0,
        "003990",
        "0E9",
        serial,
    );
    rcd[0..32].copy_from_slice(&device);
    rcd[32..64].copy_from_slice(&control_unit);
    rcd[64..96].copy_from_slice(&token);
    rcd[224] = GNEQ;
    rcd[232..234].copy_from_slice(&SUBSYSTEM_ID.to_be_bytes());
    rcd
}

/// Read Device Characteristics (struct dasd_eckd_characteristics): a
/// 3390 of `cylinders` cylinders on a 3990, 15 heads, 224 sectors, 58786
/// bytes a track (its raw capacity), capacity formula 2 with the 3390's
/// factors, one alternate cylinder after the primary ones.
pub fn device_characteristics(cylinders: u32) -> [u8; RDC_LEN] {
    let mut rdc = [0u8; RDC_LEN];
    rdc[0..2].copy_from_slice(&0x3990u16.to_be_bytes());
    rdc[2] = 0xe9;
    rdc[3..5].copy_from_slice(&0x3390u16.to_be_bytes());
    rdc[5] = 0x0c;
    // Facilities (bytes 6-9): none of raw-track access, XRC or PPRC, so
    // Linux uses plain Define Extent and Locate Record.
    // Device class DASD, unit type 3390.
    rdc[10] = 0x20;
    rdc[11] = 0x26;
    // Volumes above 65520 cylinders report 0xfffe here and the count at
    // bytes 60-63; the image format stops at 65520.
    let short = u16::try_from(cylinders).unwrap_or(0xfffe);
    rdc[12..14].copy_from_slice(&short.to_be_bytes());
    rdc[14..16].copy_from_slice(&(HEADS_3390 as u16).to_be_bytes());
    rdc[16] = 224;
    rdc[17..20].copy_from_slice(&58786u32.to_be_bytes()[1..4]);
    rdc[22] = 0x02;
    rdc[23..28].copy_from_slice(&[34, 19, 9, 6, 116]);
    let alternate = cylinders * HEADS_3390;
    rdc[28..30].copy_from_slice(&(alternate as u16).to_be_bytes());
    rdc[30..32].copy_from_slice(&(HEADS_3390 as u16).to_be_bytes());
    rdc[44..46].copy_from_slice(&(MAX_RECORD_3390 as u16 + 662).to_be_bytes());
    rdc[60..64].copy_from_slice(&cylinders.to_be_bytes());
    rdc
}

/// Perform Subsystem Function orders.
pub const PSF_PREPARE_READ_SUBSYSTEM_DATA: u8 = 0x18;
pub const PSF_SET_SUBSYSTEM_CHARACTERISTICS: u8 = 0x1d;
/// Prepare for Read Subsystem Data suborders.
pub const PRSSD_UNIT_ADDRESS_CONFIGURATION: u8 = 0x0e;
pub const PRSSD_FEATURE_CODES: u8 = 0x41;
/// The parameter lengths of the two orders.
pub const PRSSD_LEN: usize = 12;
pub const SSC_LEN: usize = 66;

/// Read Subsystem Data after Prepare for Read Subsystem Data: None for a
/// suborder this control unit does not have (volume storage, logical
/// configuration and host access queries belong to newer storage
/// servers; Linux takes a command reject for "not supported").
pub fn subsystem_data(suborder: u8) -> Option<Vec<u8>> {
    match suborder {
        // No feature bits: Linux then builds no Prefix, track-mode or
        // transport-mode channel programs.
        PRSSD_FEATURE_CODES => Some(vec![0; 256]),
        // Type and base address per unit address; only this unit is
        // configured, as a base device, so Linux sets up no PAV aliases.
        PRSSD_UNIT_ADDRESS_CONFIGURATION => {
            let mut uac = vec![0u8; 512];
            let at = 2 * usize::from(UNIT_ADDRESS);
            uac[at] = 0x01;
            uac[at + 1] = UNIT_ADDRESS;
            Some(uac)
        }
        _ => None,
    }
}

/// Path states of Sense Path Group ID (struct path_state of cio): the
/// group state in the top two bits, multipath mode in bit 4.
pub const PATH_RESET: u8 = 0x00;
pub const PATH_UNGROUPED: u8 = 0x80;
pub const PATH_GROUPED: u8 = 0xc0;
pub const PATH_MULTIPATH: u8 = 0x08;
/// Set Path Group ID function bits.
pub const SPID_MULTIPATH: u8 = 0x80;
pub const SPID_RESIGN: u8 = 0x40;
pub const SPID_DISBAND: u8 = 0x20;
/// The state byte and the 11-byte path group id.
pub const PGID_LEN: usize = 12;

/// The device's path group. Linux's DASD driver refuses a device on which
/// cio could not establish one, so the device keeps the group id the host
/// sets and reports it back.
#[derive(Clone, Copy, Debug, Default)]
pub struct PathGroup {
    state: u8,
    id: [u8; 11],
}

impl PathGroup {
    /// Sense Path Group ID: the path state, then the group id.
    pub fn sense(&self) -> [u8; PGID_LEN] {
        let mut out = [0u8; PGID_LEN];
        out[0] = self.state;
        out[1..].copy_from_slice(&self.id);
        out
    }

    /// Set Path Group ID with the function byte and the id.
    pub fn set(&mut self, arg: &[u8; PGID_LEN]) {
        let function = arg[0];
        if function & SPID_DISBAND != 0 {
            *self = PathGroup::default();
        } else if function & SPID_RESIGN != 0 {
            self.state = PATH_UNGROUPED;
        } else {
            let mode = if function & SPID_MULTIPATH != 0 {
                PATH_MULTIPATH
            } else {
                0
            };
            self.state = PATH_GROUPED | mode;
            self.id.copy_from_slice(&arg[1..]);
        }
    }
}

/// A track's cylinder and head as CCHH, with the high cylinder bits of an
/// extended-address volume in the head's top twelve bits.
fn cchh(b: &[u8]) -> (u32, u16) {
    let cyl = u16::from_be_bytes([b[0], b[1]]);
    let head = u16::from_be_bytes([b[2], b[3]]);
    (u32::from(cyl) | u32::from(head >> 4) << 16, head & 0x0f)
}

/// Why a Define Extent or Locate Record is refused: the message of a
/// command reject (format 0) or file protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Reject(u8),
    FileProtected,
}

/// The Define Extent mask's write control (bits 0-1): 01 inhibits all
/// writes; the other values permit at least the update writes Linux uses.
/// 00 (inhibit writing the home address and R0) and 11 (permit all
/// writes) also permit formatting the records after R0, with Write Count,
/// Key and Data; only 11 permits Write Record Zero.
const WRITE_INHIBIT_ALL: u8 = 0x01;
const WRITE_UPDATES_ONLY: u8 = 0x02;
const WRITE_ALL: u8 = 0x03;
/// Define Extent global attributes extended: an extended parameter (the
/// time stamp) follows, making the parameters 32 bytes.
const GA_EXTENDED_PARAMETER: u8 = 0x02;
/// Architecture mode in the attributes byte: ECKD.
const MODE_ECKD: u8 = 0x03;

/// The tracks and permissions a Define Extent allows for the rest of the
/// channel program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First and last track, as cylinder * heads + head.
    pub first: u32,
    pub last: u32,
    pub writes: bool,
    /// Write Count, Key and Data may format records after R0.
    pub formats: bool,
    /// Write Record Zero may format a track from its R0 on.
    pub formats_r0: bool,
}

impl Extent {
    /// Parses and checks a Define Extent's parameters against the volume;
    /// also returns how many bytes they take.
    pub fn parse(arg: &[u8], cylinders: u32, heads: u32) -> Result<(Extent, usize), Refusal> {
        if arg.len() < 16 {
            return Err(Refusal::Reject(crate::sense::SENSE7_COUNT_TOO_SHORT));
        }
        let len = if arg[7] & GA_EXTENDED_PARAMETER != 0 {
            32
        } else {
            16
        };
        if arg.len() < len {
            return Err(Refusal::Reject(crate::sense::SENSE7_COUNT_TOO_SHORT));
        }
        let invalid = Refusal::Reject(crate::sense::SENSE7_INVALID_ARGUMENT);
        if arg[1] >> 6 != MODE_ECKD {
            return Err(invalid);
        }
        let track = |(cyl, head): (u32, u16)| {
            (cyl < cylinders && u32::from(head) < heads).then_some(cyl * heads + u32::from(head))
        };
        let first = track(cchh(&arg[8..12])).ok_or(invalid)?;
        let last = track(cchh(&arg[12..16])).ok_or(invalid)?;
        if first > last {
            return Err(invalid);
        }
        let write_control = arg[0] >> 6;
        let extent = Extent {
            first,
            last,
            writes: write_control != WRITE_INHIBIT_ALL,
            formats: write_control != WRITE_INHIBIT_ALL && write_control != WRITE_UPDATES_ONLY,
            formats_r0: write_control == WRITE_ALL,
        };
        Ok((extent, len))
    }

    pub fn contains(&self, track: u32) -> bool {
        (self.first..=self.last).contains(&track)
    }
}

/// Locate Record operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Read Data (0x06) and Read (0x16): the domain's records are read.
    Read,
    /// Write Data (0x01): the domain's records are updated in place.
    Write,
    /// Format Write (0x03): the domain's records are written anew, count,
    /// key and data, each track from the located record on erased.
    Format,
}

/// Where a Locate Record leaves the head: just past the count field of
/// the record its search argument names, or (for a format write that
/// starts with Write Record Zero) just past the home address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    Count,
    HomeAddress,
}

pub const LOCATE_RECORD_LEN: usize = 16;

/// A Locate Record's parameters, as far as the device uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locate {
    pub operation: Operation,
    pub orientation: Orientation,
    /// Records in the domain.
    pub count: u8,
    /// The track to seek, as cylinder * heads + head.
    pub track: u32,
    /// The search argument CCHHR.
    pub search: [u8; 5],
}

impl Locate {
    /// Parses a Locate Record's parameters. Orientation to the count area
    /// is modelled (the one Linux uses for reading and writing blocks and
    /// for formatting with Write Count, Key and Data), and to the home
    /// address for a format write only (dasd_eckd.c's locate_record for
    /// Write Record Zero); the sector number is not, as the device does
    /// not rotate.
    pub fn parse(arg: &[u8], extent: &Extent, heads: u32) -> Result<Locate, Refusal> {
        if arg.len() < LOCATE_RECORD_LEN {
            return Err(Refusal::Reject(crate::sense::SENSE7_COUNT_TOO_SHORT));
        }
        let invalid = Refusal::Reject(crate::sense::SENSE7_INVALID_ARGUMENT);
        let operation = match arg[0] & 0x3f {
            0x06 | 0x16 => Operation::Read,
            0x01 => Operation::Write,
            0x03 => Operation::Format,
            _ => return Err(invalid),
        };
        let orientation = match (arg[0] >> 6, operation) {
            (0, _) => Orientation::Count,
            (1, Operation::Format) => Orientation::HomeAddress,
            _ => return Err(invalid),
        };
        if arg[3] == 0 {
            return Err(invalid);
        }
        let (cyl, head) = cchh(&arg[4..8]);
        if u32::from(head) >= heads {
            return Err(invalid);
        }
        let track = cyl * heads + u32::from(head);
        if !extent.contains(track) {
            return Err(Refusal::FileProtected);
        }
        let mut search = [0u8; 5];
        search.copy_from_slice(&arg[8..13]);
        Ok(Locate {
            operation,
            orientation,
            count: arg[3],
            track,
            search,
        })
    }
}
