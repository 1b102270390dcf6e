// SPDX-License-Identifier: GPL-2.0-or-later
//! The regions behind the device fd (vfio_ccw_ops.c, vfio_ccw_async.c,
//! vfio_ccw_chp.c): the I/O region write that starts I/O, the async
//! command region, the SCHIB and CRW images.

use nix::errno::Errno;
use vfio_ccw_uapi::layout::{
    self as uapi, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

use super::irqs::Irq;
use super::{
    be32, Function, Inner, StartMode, CMD_SIZE, CRW_SIZE, IO_SIZE, RET_CODE_AT, SCHIB_SIZE,
};
use crate::config::Compat;
use crate::cp::{actl, fctl};
use crate::faults::FaultAction;
use crate::stats::OpKind;

/// The regions of the device fd, by index: the order in which the driver
/// registers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Region {
    Io,
    AsyncCmd,
    Schib,
    Crw,
}

impl Region {
    pub(super) fn from_index(index: u32) -> Option<Region> {
        match index {
            0 => Some(Region::Io),
            1 => Some(Region::AsyncCmd),
            2 => Some(Region::Schib),
            3 => Some(Region::Crw),
            _ => None,
        }
    }

    /// The region a file offset (`index << 10 | pos`) falls in, and the
    /// position in it.
    pub(super) fn at(offset: u64) -> Option<(Region, usize)> {
        let index = u32::try_from(offset >> uapi::VFIO_CCW_OFFSET_SHIFT).ok()?;
        Some((Region::from_index(index)?, (offset & 0x3ff) as usize))
    }

    pub(super) fn size(self) -> usize {
        match self {
            Region::Io => IO_SIZE,
            Region::AsyncCmd => CMD_SIZE,
            Region::Schib => SCHIB_SIZE,
            Region::Crw => CRW_SIZE,
        }
    }

    /// `VFIO_REGION_INFO_FLAG_*`, capabilities aside.
    pub(super) fn flags(self) -> u32 {
        match self {
            Region::Io | Region::AsyncCmd => {
                VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
            }
            Region::Schib | Region::Crw => VFIO_REGION_INFO_FLAG_READ,
        }
    }

    /// The subtype of its `VFIO_REGION_TYPE_CCW` capability (none for the
    /// I/O region, which has no capability).
    pub(super) fn cap_subtype(self) -> Option<u32> {
        match self {
            Region::Io => None,
            Region::AsyncCmd => Some(uapi::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD),
            Region::Schib => Some(uapi::VFIO_REGION_SUBTYPE_CCW_SCHIB),
            Region::Crw => Some(uapi::VFIO_REGION_SUBTYPE_CCW_CRW),
        }
    }

    fn read_kind(self) -> OpKind {
        match self {
            Region::Io => OpKind::IoRead,
            Region::AsyncCmd => OpKind::CmdRead,
            Region::Schib => OpKind::SchibRead,
            Region::Crw => OpKind::CrwRead,
        }
    }

    /// The operation a write is; `None` for the read-only regions.
    pub(super) fn write_kind(self) -> Option<OpKind> {
        match self {
            Region::Io => Some(OpKind::IoWrite),
            Region::AsyncCmd => Some(OpKind::CmdWrite),
            Region::Schib | Region::Crw => None,
        }
    }
}

impl Inner {
    /// The region at `offset` if it is registered now, and the position.
    fn region_at(&self, offset: u64) -> Result<(Region, usize), Errno> {
        Region::at(offset)
            .filter(|&(r, _)| (r as u32) < self.num_regions())
            .ok_or(Errno::EINVAL)
    }

    /// What a region read and write do first: count the operation, apply
    /// the faults that act before it, refuse an access past the region's
    /// end; returns the faults that act after it and the bytes to move
    /// (fewer for a `short` fault).
    fn begin_access(
        &mut self,
        kind: OpKind,
        region: Region,
        pos: usize,
        len: usize,
    ) -> Result<(Vec<FaultAction>, usize), Errno> {
        self.stats.ops.bump(kind);
        let after = self.pre_faults(kind)?;
        if pos + len > region.size() {
            return Err(Errno::EINVAL);
        }
        let count = Self::short(&after).map_or(len, |n| n.min(len));
        Ok((after, count))
    }

    pub(super) fn region_read(&mut self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let (region, pos) = self.region_at(offset)?;
        let (after, count) = self.begin_access(region.read_kind(), region, pos, buf.len())?;
        let image: Vec<u8> = match region {
            Region::Io => self.io.to_vec(),
            Region::AsyncCmd => self.cmd.to_vec(),
            Region::Schib => self.schib()?.to_vec(),
            Region::Crw => self.crw_dequeue().to_vec(),
        };
        buf[..count].copy_from_slice(&image[pos..pos + count]);
        self.post_faults(&after);
        Ok(count)
    }

    pub(super) fn region_write(&mut self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let (region, pos) = self.region_at(offset)?;
        // The SCHIB and CRW regions are read-only.
        let kind = region.write_kind().ok_or(Errno::EINVAL)?;
        let (after, count) = self.begin_access(kind, region, pos, buf.len())?;
        let ret = if region == Region::Io {
            self.io[pos..pos + count].copy_from_slice(&buf[..count]);
            let mode = if after.contains(&FaultAction::Stall) {
                StartMode::Stall
            } else if after.contains(&FaultAction::NotOper) {
                StartMode::NotOper
            } else {
                StartMode::Complete
            };
            self.fsm_io_request(mode);
            self.io[RET_CODE_AT..].try_into().map(be32).unwrap_or(0)
        } else {
            self.cmd[pos..pos + count].copy_from_slice(&buf[..count]);
            self.fsm_async_request();
            be32(&self.cmd[4..8])
        };
        self.post_faults(&after);
        ret_to_result(ret, count)
    }

    pub(super) fn schib(&mut self) -> Result<[u8; SCHIB_SIZE], Errno> {
        let s = &self.sch;
        if s.gone {
            return Err(Errno::ENODEV);
        }
        let mut b = [0u8; SCHIB_SIZE];
        b[0..4].copy_from_slice(&s.intparm.to_be_bytes());
        b[4] = (s.isc & 7) << 3;
        b[5] = if s.enabled { 0x80 } else { 0 } | 0x01; // E, V
        b[6..8].copy_from_slice(&s.devno.to_be_bytes());
        b[8] = s.lpm;
        b[9] = s.pnom;
        b[10] = s.lpum;
        b[11] = s.pim;
        b[14] = s.pom;
        b[15] = s.pam;
        b[16..24].copy_from_slice(&s.chpids);
        b[27] = 0x01; // S: concurrent sense
        if s.pnom != 0 {
            b[29] |= 0x01; // SCSW N
        }
        if s.active {
            b[30] = fctl::START;
            b[31] = actl::SUBCHANNEL_ACTIVE | actl::DEVICE_ACTIVE;
        }
        // A halt or clear the channel has not finished: its function and
        // its pending bit in the activity control.
        match self.function.map(|p| p.function) {
            Some(Function::Halt { .. }) => b[30] |= fctl::HALT | actl::HALT_PENDING,
            Some(Function::Clear) => b[30] |= fctl::CLEAR | actl::CLEAR_PENDING,
            _ => {}
        }
        if self.compat == Compat::QemuC {
            let flags = u16::from_be_bytes([b[28], b[29]]);
            b[28..30].copy_from_slice(&flags.to_ne_bytes());
        }
        Ok(b)
    }

    pub(super) fn crw_dequeue(&mut self) -> [u8; CRW_SIZE] {
        let crw = self.crws.pop_front().unwrap_or(0);
        let mut b = [0u8; CRW_SIZE];
        match self.compat {
            Compat::Architecture => b[0..4].copy_from_slice(&crw.to_be_bytes()),
            // The C device copies the word into its CRW struct, two host
            // halfwords (flags, then the reporting-source id).
            Compat::QemuC => {
                b[0..2].copy_from_slice(&((crw >> 16) as u16).to_ne_bytes());
                b[2..4].copy_from_slice(&(crw as u16).to_ne_bytes());
            }
        }
        if !self.crws.is_empty() {
            self.signal_irq(Irq::Crw);
        }
        b
    }
}

/// What `write()` returns for a stored `ret_code`: the kernel returns it
/// as an `ssize_t` when nonzero.
fn ret_to_result(ret: u32, count: usize) -> Result<usize, Errno> {
    match ret as i32 {
        0 => Ok(count),
        r if (-4095..0).contains(&r) => Err(Errno::from_raw(-r)),
        r if r > 0 => Ok(r as usize),
        // A value glibc would not see as an errno; the model refuses it.
        _ => Err(Errno::EINVAL),
    }
}
