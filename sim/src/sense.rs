// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3990's sense bytes as the 3390 sets them on a unit check, shared by
//! the CKD commands (`dasd`) and the ECKD ones (`eckd`).

/// Sense byte 0 bits.
pub const SENSE0_COMMAND_REJECT: u8 = 0x80;
pub const SENSE0_EQUIPMENT_CHECK: u8 = 0x10;
/// Sense byte 1 bits.
pub const SENSE1_END_OF_CYLINDER: u8 = 0x20;
/// A record written past the end of the track: a format write that the
/// track cannot hold.
pub const SENSE1_INVALID_TRACK_FORMAT: u8 = 0x40;
pub const SENSE1_NO_RECORD_FOUND: u8 = 0x08;
/// A Locate Record or a record outside the Define Extent's tracks, or a
/// write its mask inhibits (dasd_3990_erp.c fails the request).
pub const SENSE1_FILE_PROTECTED: u8 = 0x04;
pub const SENSE1_WRITE_INHIBITED: u8 = 0x02;
/// Sense byte 7 of a command reject: format 0 (program or system check)
/// in the high nibble, the message in the low one, numbered as Linux's
/// dasd_3990_erp.c decodes them so that a guest's error log names the
/// cause.
pub const SENSE7_INVALID_COMMAND: u8 = 0x01;
pub const SENSE7_INVALID_SEQUENCE: u8 = 0x02;
pub const SENSE7_COUNT_TOO_SHORT: u8 = 0x03;
pub const SENSE7_INVALID_ARGUMENT: u8 = 0x04;
/// Sense byte 27 bit 0: the sense is in the 3990's 24-byte compatible
/// format (bytes 0-23 as above). Without it Linux's dasd_3990_erp.c
/// reads the bytes as 32-byte sense, finds program action code 0 in
/// byte 25 and retries every unit check 256 times, a command reject
/// for an unsupported suborder included.
pub const SENSE27_24_BYTE: u8 = 0x80;
