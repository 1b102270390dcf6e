// SPDX-License-Identifier: GPL-2.0-or-later
//! Channel-subsystem structures, in two representations.
//!
//! The structs are QEMU's layouts from `include/hw/s390x/ioinst.h`: fields
//! in host byte order, exactly what `SubchDev` holds. They cross the C ABI
//! unchanged (the header names them `QvcOrb`, `QvcScsw`, ...).
//!
//! The vfio-ccw regions hold the same structures in s390 architecture byte
//! order, big-endian, on every host. `to_be_bytes`/`from_be_bytes` are the
//! only conversion between the two, and this module is the only place that
//! converts: nothing else in the crate looks at a region's multi-byte field.

/// Operation request block (command mode), QEMU's `ORB`.
#[doc(alias = "ORB")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orb {
    pub intparm: u32,
    pub ctrl0: u16,
    pub lpm: u8,
    pub ctrl1: u8,
    pub cpa: u32,
}

/// Subchannel status word (command mode), QEMU's `SCSW`.
#[doc(alias = "SCSW")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scsw {
    pub flags: u16,
    pub ctrl: u16,
    pub cpa: u32,
    pub dstat: u8,
    pub cstat: u8,
    pub count: u16,
}

/// Path management control word, QEMU's `PMCW`.
#[doc(alias = "PMCW")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pmcw {
    pub intparm: u32,
    pub flags: u16,
    pub devno: u16,
    pub lpm: u8,
    pub pnom: u8,
    pub lpum: u8,
    pub pim: u8,
    pub mbi: u16,
    pub pom: u8,
    pub pam: u8,
    pub chpid: [u8; 8],
    pub chars: u32,
}

/// Subchannel information block, QEMU's (packed) `SCHIB`.
#[doc(alias = "SCHIB")]
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schib {
    pub pmcw: Pmcw,
    pub scsw: Scsw,
    pub mba: u64,
    pub mda: [u8; 4],
}

/// Format-0 extended-status word, QEMU's (packed) `ESW`.
#[doc(alias = "ESW")]
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Esw {
    pub word0: u32,
    pub erw: u32,
    pub word2: u64,
    pub word4: u32,
}

/// Channel report word, QEMU's `CRW`.
#[doc(alias = "CRW")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crw {
    pub flags: u16,
    pub rsid: u16,
}

/// Interruption response block as the I/O region's `irb_area` carries it.
/// The extended-control word holds sense bytes and stays a byte array.
#[doc(alias = "IRB")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irb {
    pub scsw: Scsw,
    pub esw: Esw,
    pub ecw: [u8; 32],
    pub emw: [u8; 32],
}

/// Sizes and masks, with QEMU's names; Rust-only (QEMU has its own).
/// cbindgen:ignore
mod consts {
    pub const ORB_SIZE: usize = 12;
    pub const SCSW_SIZE: usize = 12;
    pub const PMCW_SIZE: usize = 28;
    pub const SCHIB_SIZE: usize = 52;
    pub const ESW_SIZE: usize = 20;
    pub const IRB_SIZE: usize = 96;
    pub const CRW_SIZE: usize = 4;

    pub const ORB_CTRL0_MASK_PFCH: u16 = 0x0040;
    pub const SCSW_FLAGS_MASK_CC: u16 = 0x0300;
    pub const SCSW_FLAGS_MASK_PNO: u16 = 0x0001;
    pub const SCSW_CTRL_MASK_FCTL: u16 = 0x7000;
    pub const SCSW_CTRL_MASK_STCTL: u16 = 0x001f;
    pub const SCSW_FCTL_CLEAR_FUNC: u16 = 0x1000;
    pub const SCSW_FCTL_HALT_FUNC: u16 = 0x2000;
    pub const SCSW_FCTL_START_FUNC: u16 = 0x4000;
    pub const SCSW_ACTL_DEVICE_ACTIVE: u16 = 0x0040;
    pub const SCSW_ACTL_SUBCH_ACTIVE: u16 = 0x0080;
    pub const SCSW_ACTL_CLEAR_PEND: u16 = 0x0100;
    pub const SCSW_ACTL_HALT_PEND: u16 = 0x0200;
    pub const SCSW_ACTL_START_PEND: u16 = 0x0400;
    pub const SCSW_STCTL_STATUS_PEND: u16 = 0x0001;
    pub const SCSW_STCTL_SECONDARY: u16 = 0x0002;
    pub const SCSW_STCTL_PRIMARY: u16 = 0x0004;
    pub const SCSW_STCTL_ALERT: u16 = 0x0010;
    pub const SCSW_DSTAT_UNIT_CHECK: u8 = 0x02;
    pub const SCSW_DSTAT_UNIT_EXCEP: u8 = 0x01;
    pub const SCSW_CSTAT_PROG_CHECK: u8 = 0x20;
    pub const SCSW_CSTAT_DATA_CHECK: u8 = 0x08;
    pub const SCSW_CSTAT_CHN_CTRL_CHK: u8 = 0x04;
    pub const PMCW_CHARS_MASK_CSENSE: u32 = 0x0000_0001;
}
pub use consts::*;

const _: () = {
    assert!(std::mem::size_of::<Orb>() == ORB_SIZE);
    assert!(std::mem::size_of::<Scsw>() == SCSW_SIZE);
    assert!(std::mem::size_of::<Pmcw>() == PMCW_SIZE);
    assert!(std::mem::size_of::<Schib>() == SCHIB_SIZE);
    assert!(std::mem::size_of::<Esw>() == ESW_SIZE);
    assert!(std::mem::size_of::<Crw>() == CRW_SIZE);
};

/// Reads big-endian fields off a byte slice whose length the caller checked.
struct BeReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BeReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BeReader { bytes, pos: 0 }
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.pos..self.pos + N]);
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

/// Writes big-endian fields into a byte slice whose length the caller checked.
struct BeWriter<'a> {
    bytes: &'a mut [u8],
    pos: usize,
}

impl<'a> BeWriter<'a> {
    fn new(bytes: &'a mut [u8]) -> Self {
        BeWriter { bytes, pos: 0 }
    }
    fn put(&mut self, src: &[u8]) {
        self.bytes[self.pos..self.pos + src.len()].copy_from_slice(src);
        self.pos += src.len();
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }
}

impl Orb {
    /// The architecture (big-endian) image of this ORB.
    pub fn to_be_bytes(&self) -> [u8; ORB_SIZE] {
        let mut out = [0u8; ORB_SIZE];
        let mut w = BeWriter::new(&mut out);
        w.u32(self.intparm);
        w.u16(self.ctrl0);
        w.u8(self.lpm);
        w.u8(self.ctrl1);
        w.u32(self.cpa);
        out
    }

    /// Decodes an architecture (big-endian) ORB image.
    pub fn from_be_bytes(bytes: &[u8; ORB_SIZE]) -> Self {
        let mut r = BeReader::new(bytes);
        Orb {
            intparm: r.u32(),
            ctrl0: r.u16(),
            lpm: r.u8(),
            ctrl1: r.u8(),
            cpa: r.u32(),
        }
    }
}

impl Scsw {
    /// The architecture (big-endian) image of this SCSW.
    pub fn to_be_bytes(&self) -> [u8; SCSW_SIZE] {
        let mut out = [0u8; SCSW_SIZE];
        self.write_be(&mut BeWriter::new(&mut out));
        out
    }

    /// Decodes an architecture (big-endian) SCSW image.
    pub fn from_be_bytes(bytes: &[u8; SCSW_SIZE]) -> Self {
        Self::read_be(&mut BeReader::new(bytes))
    }

    fn write_be(&self, w: &mut BeWriter<'_>) {
        w.u16(self.flags);
        w.u16(self.ctrl);
        w.u32(self.cpa);
        w.u8(self.dstat);
        w.u8(self.cstat);
        w.u16(self.count);
    }

    fn read_be(r: &mut BeReader<'_>) -> Self {
        Scsw {
            flags: r.u16(),
            ctrl: r.u16(),
            cpa: r.u32(),
            dstat: r.u8(),
            cstat: r.u8(),
            count: r.u16(),
        }
    }
}

impl Pmcw {
    fn write_be(&self, w: &mut BeWriter<'_>) {
        w.u32(self.intparm);
        w.u16(self.flags);
        w.u16(self.devno);
        w.u8(self.lpm);
        w.u8(self.pnom);
        w.u8(self.lpum);
        w.u8(self.pim);
        w.u16(self.mbi);
        w.u8(self.pom);
        w.u8(self.pam);
        w.put(&self.chpid);
        w.u32(self.chars);
    }

    fn read_be(r: &mut BeReader<'_>) -> Self {
        Pmcw {
            intparm: r.u32(),
            flags: r.u16(),
            devno: r.u16(),
            lpm: r.u8(),
            pnom: r.u8(),
            lpum: r.u8(),
            pim: r.u8(),
            mbi: r.u16(),
            pom: r.u8(),
            pam: r.u8(),
            chpid: r.take(),
            chars: r.u32(),
        }
    }
}

impl Schib {
    /// The architecture (big-endian) image of this SCHIB.
    pub fn to_be_bytes(&self) -> [u8; SCHIB_SIZE] {
        let mut out = [0u8; SCHIB_SIZE];
        let mut w = BeWriter::new(&mut out);
        let (pmcw, scsw, mba, mda) = (self.pmcw, self.scsw, self.mba, self.mda);
        pmcw.write_be(&mut w);
        scsw.write_be(&mut w);
        w.u64(mba);
        w.put(&mda);
        out
    }

    /// Decodes an architecture (big-endian) SCHIB image.
    pub fn from_be_bytes(bytes: &[u8; SCHIB_SIZE]) -> Self {
        let mut r = BeReader::new(bytes);
        Schib {
            pmcw: Pmcw::read_be(&mut r),
            scsw: Scsw::read_be(&mut r),
            mba: r.u64(),
            mda: r.take(),
        }
    }
}

impl Esw {
    fn write_be(&self, w: &mut BeWriter<'_>) {
        let (word0, erw, word2, word4) = (self.word0, self.erw, self.word2, self.word4);
        w.u32(word0);
        w.u32(erw);
        w.u64(word2);
        w.u32(word4);
    }

    fn read_be(r: &mut BeReader<'_>) -> Self {
        Esw {
            word0: r.u32(),
            erw: r.u32(),
            word2: r.u64(),
            word4: r.u32(),
        }
    }
}

impl Irb {
    /// The architecture (big-endian) image of this IRB.
    pub fn to_be_bytes(&self) -> [u8; IRB_SIZE] {
        let mut out = [0u8; IRB_SIZE];
        let mut w = BeWriter::new(&mut out);
        self.scsw.write_be(&mut w);
        self.esw.write_be(&mut w);
        w.put(&self.ecw);
        w.put(&self.emw);
        out
    }

    /// Decodes an architecture (big-endian) IRB image.
    pub fn from_be_bytes(bytes: &[u8; IRB_SIZE]) -> Self {
        let mut r = BeReader::new(bytes);
        Irb {
            scsw: Scsw::read_be(&mut r),
            esw: Esw::read_be(&mut r),
            ecw: r.take(),
            emw: r.take(),
        }
    }
}

impl Crw {
    /// The architecture (big-endian) image of this CRW.
    pub fn to_be_bytes(&self) -> [u8; CRW_SIZE] {
        let mut out = [0u8; CRW_SIZE];
        let mut w = BeWriter::new(&mut out);
        w.u16(self.flags);
        w.u16(self.rsid);
        out
    }

    /// Decodes an architecture (big-endian) CRW image.
    pub fn from_be_bytes(bytes: &[u8; CRW_SIZE]) -> Self {
        let mut r = BeReader::new(bytes);
        Crw {
            flags: r.u16(),
            rsid: r.u16(),
        }
    }

    /// A zero CRW is the CRW region's "queue empty" answer.
    pub fn is_zero(&self) -> bool {
        self.flags == 0 && self.rsid == 0
    }
}
