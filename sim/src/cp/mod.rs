// SPDX-License-Identifier: GPL-2.0-or-later
//! Channel programs: their formats (ORB, CCW, IDAW, the IRB's SCSW), the
//! kernel's translation at SSCH ([`translate`], Linux's cp.c) and the
//! channel that then runs the program against the device ([`execute`]).
//!
//! Everything here decodes the architecture's bytes itself (ORB, CCWs,
//! IDAWs, IRB) rather than through the library's `css` module, so the
//! library is tested against an independent reading of the formats.

mod execute;
mod translate;

pub(crate) use execute::run;
pub use translate::ChannelProgram;

/// The kernel reads this many bytes of CCWs per segment (256 CCWs).
pub const SEGMENT_BYTES: u64 = 2048;
/// CCWs per segment; a longer chain is refused with `EINVAL`.
pub const SEGMENT_CCWS: usize = 256;
/// The channel ends a program that has executed this many CCWs (TICs
/// included) with a program check: a bound on TIC loops.
pub const MAX_CCWS_EXECUTED: u64 = 65536;

/// `CCW_CMD_TIC`.
const CMD_TIC: u8 = 0x08;
/// `CCW_CMD_NOOP`.
const CMD_NOOP: u8 = 0x03;

/// CCW flag bits (format-1 byte 1, format-0 byte 4).
pub mod flag {
    pub const CD: u8 = 0x80;
    pub const CC: u8 = 0x40;
    pub const SLI: u8 = 0x20;
    pub const SKIP: u8 = 0x10;
    pub const PCI: u8 = 0x08;
    pub const IDA: u8 = 0x04;
    pub const SUSPEND: u8 = 0x02;
}

/// Channel-status bits (SCSW byte 9).
pub mod cstat {
    pub const INCORRECT_LENGTH: u8 = 0x40;
    pub const PROGRAM_CHECK: u8 = 0x20;
    pub const PROTECTION_CHECK: u8 = 0x10;
}

/// SCSW function control (byte 2, high bits).
pub mod fctl {
    pub const START: u8 = 0x40;
    pub const HALT: u8 = 0x20;
    pub const CLEAR: u8 = 0x10;
}

/// SCSW activity control (bits of byte 2 low nibble and byte 3 high bits).
pub mod actl {
    /// Byte 3.
    pub const SUBCHANNEL_ACTIVE: u8 = 0x80;
    /// Byte 3.
    pub const DEVICE_ACTIVE: u8 = 0x40;
    /// Byte 2.
    pub const HALT_PENDING: u8 = 0x02;
    /// Byte 2.
    pub const CLEAR_PENDING: u8 = 0x01;
}

/// SCSW status control (byte 3, low bits).
pub mod sctl {
    pub const ALERT: u8 = 0x10;
    pub const INTERMEDIATE: u8 = 0x08;
    pub const PRIMARY: u8 = 0x04;
    pub const SECONDARY: u8 = 0x02;
    pub const PENDING: u8 = 0x01;
}

/// A command-mode ORB, decoded from its 12 big-endian bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orb {
    pub intparm: u32,
    pub key: u8,
    /// Suspend control (S).
    pub suspend: bool,
    /// Byte 5: F P I A U b H T.
    pub fmt1: bool,
    pub pfch: bool,
    pub isic: bool,
    pub alcc: bool,
    pub ssic: bool,
    /// The transport-mode bit (byte 5, 0x04).
    pub b: bool,
    /// Format-2 (64-bit) IDAWs.
    pub h: bool,
    /// 2K format-2 IDAWs.
    pub t: bool,
    pub lpm: u8,
    /// Byte 7.
    pub ils: bool,
    pub x: bool,
    pub cpa: u32,
}

impl Orb {
    /// Decodes the architecture's byte image.
    pub fn decode(b: &[u8; 12]) -> Orb {
        Orb {
            intparm: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            key: b[4] >> 4,
            suspend: b[4] & 0x08 != 0,
            fmt1: b[5] & 0x80 != 0,
            pfch: b[5] & 0x40 != 0,
            isic: b[5] & 0x20 != 0,
            alcc: b[5] & 0x10 != 0,
            ssic: b[5] & 0x08 != 0,
            b: b[5] & 0x04 != 0,
            h: b[5] & 0x02 != 0,
            t: b[5] & 0x01 != 0,
            lpm: b[6],
            ils: b[7] & 0x80 != 0,
            x: b[7] & 0x01 != 0,
            cpa: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    /// IDAW block size: 2 KiB for format-1 IDAWs or with T, else 4 KiB.
    fn idaw_block(&self) -> u64 {
        if !self.h || self.t {
            2048
        } else {
            4096
        }
    }
}

/// A CCW in format-1 form (the kernel converts format-0 on copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ccw {
    pub cmd: u8,
    pub flags: u8,
    pub count: u16,
    pub cda: u32,
}

impl Ccw {
    fn decode(b: &[u8], fmt1: bool) -> Ccw {
        if fmt1 {
            Ccw {
                cmd: b[0],
                flags: b[1],
                count: u16::from_be_bytes([b[2], b[3]]),
                cda: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            }
        } else {
            // Format 0: cmd, 24-bit address, flags, reserved, count. A
            // format-0 opcode with low nibble 8 is a TIC whatever its high
            // nibble; convert_ccw0_to_ccw1 makes it the format-1 TIC with
            // flags and count zero, so its chaining flags count for nothing.
            let cda = u32::from_be_bytes([0, b[1], b[2], b[3]]);
            if b[0] & 0x0f == CMD_TIC {
                return Ccw {
                    cmd: CMD_TIC,
                    flags: 0,
                    count: 0,
                    cda,
                };
            }
            Ccw {
                cmd: b[0],
                flags: b[4],
                count: u16::from_be_bytes([b[6], b[7]]),
                cda,
            }
        }
    }

    fn is_tic(&self) -> bool {
        self.cmd == CMD_TIC
    }

    fn chains(&self) -> bool {
        self.flags & (flag::CD | flag::CC) != 0
    }

    /// `ccw_is_read`, `ccw_is_read_backward`, `ccw_is_sense` of cp.c.
    fn is_read_like(&self) -> bool {
        self.cmd & 0x03 == 0x02 || self.cmd & 0x0f == 0x0c || self.cmd & 0x0f == 0x04
    }

    /// Whether the kernel pins data pages for this CCW.
    fn moves_data(&self) -> bool {
        self.count != 0
            && self.cmd != CMD_NOOP
            && !(self.flags & flag::SKIP != 0 && self.is_read_like())
    }
}

/// The bytes IDAW number `n` covers out of a CCW count `count`: the first
/// runs to its block boundary, the others a block each.
fn idaw_extent(first: u64, idaw: u64, n: usize, count: u64, block: u64) -> (u64, u64) {
    let first_len = (block - first % block).min(count);
    if n == 0 {
        return (idaw, first_len);
    }
    let before = first_len + (n as u64 - 1) * block;
    (idaw, count.saturating_sub(before).min(block))
}

/// How a channel program ended, as the IRB's SCSW and ECW report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    pub fctl: u8,
    pub sctl: u8,
    pub cpa: u32,
    pub dstat: u8,
    pub cstat: u8,
    pub count: u16,
    /// Concurrent sense bytes (unit check).
    pub sense: Option<[u8; 32]>,
}

impl Ending {
    fn program_check(cpa: u64) -> Ending {
        Ending {
            fctl: fctl::START,
            sctl: sctl::PENDING | sctl::PRIMARY | sctl::SECONDARY | sctl::ALERT,
            cpa: cpa as u32,
            dstat: 0,
            cstat: cstat::PROGRAM_CHECK,
            count: 0,
            sense: None,
        }
    }

    /// The 96-byte IRB: SCSW with the kernel's ORB flags (format-1 CCWs,
    /// since the kernel converts), ESW with the concurrent-sense bits, ECW.
    pub fn irb(&self, orb: &Orb, key: u8) -> [u8; 96] {
        let mut irb = [0u8; 96];
        irb[0] = key << 4;
        let mut b1 = 0x80; // F: the kernel always hands the channel format-1 CCWs
        if orb.pfch {
            b1 |= 0x40;
        }
        if orb.isic {
            b1 |= 0x20;
        }
        if orb.alcc {
            b1 |= 0x10;
        }
        if orb.ssic {
            b1 |= 0x08;
        }
        irb[1] = b1;
        irb[2] = self.fctl;
        irb[3] = self.sctl;
        irb[4..8].copy_from_slice(&self.cpa.to_be_bytes());
        irb[8] = self.dstat;
        irb[9] = self.cstat;
        irb[10..12].copy_from_slice(&self.count.to_be_bytes());
        if let Some(sense) = self.sense {
            irb[0] |= 0x04; // L: a format-0 ESW is stored
            irb[1] |= 0x02; // E: the ECW holds information (the sense)
            irb[16] = 0x01; // ERW cons: concurrent sense in the ECW
            irb[17] = 32; // ERW scnt
            irb[32..64].copy_from_slice(&sense);
        }
        irb
    }
}
