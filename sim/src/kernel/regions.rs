// SPDX-License-Identifier: GPL-2.0-or-later
//! The regions behind the device fd (vfio_ccw_ops.c, vfio_ccw_async.c,
//! vfio_ccw_chp.c): the I/O region write that starts I/O, the async
//! command region, the SCHIB and CRW images.

use super::*;

impl Inner {
    /// What a region read and write do first: count the operation, apply
    /// the faults that act before it, refuse an access past the region's
    /// end; returns the faults that act after it and the bytes to move
    /// (fewer for a `short` fault).
    fn begin_access(
        &mut self,
        kind: OpKind,
        index: u64,
        pos: usize,
        len: usize,
    ) -> Result<(Vec<FaultAction>, usize), Errno> {
        self.stats.ops.bump(kind);
        let after = self.pre_faults(kind)?;
        let (size, _, _) = region_desc(index as u32);
        if pos + len > size {
            return Err(Errno::EINVAL);
        }
        let count = Self::short(&after).map_or(len, |n| n.min(len));
        Ok((after, count))
    }

    pub(super) fn region_read(&mut self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let index = offset >> uapi::VFIO_CCW_OFFSET_SHIFT;
        let pos = (offset & 0x3ff) as usize;
        if index >= u64::from(self.num_regions()) {
            return Err(Errno::EINVAL);
        }
        let kind = [
            OpKind::IoRead,
            OpKind::CmdRead,
            OpKind::SchibRead,
            OpKind::CrwRead,
        ][index as usize];
        let (after, count) = self.begin_access(kind, index, pos, buf.len())?;
        let image: Vec<u8> = match index {
            0 => self.io.to_vec(),
            1 => self.cmd.to_vec(),
            2 => self.schib()?.to_vec(),
            _ => self.crw_dequeue().to_vec(),
        };
        buf[..count].copy_from_slice(&image[pos..pos + count]);
        self.post_faults(&after);
        Ok(count)
    }

    pub(super) fn region_write(&mut self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let index = offset >> uapi::VFIO_CCW_OFFSET_SHIFT;
        let pos = (offset & 0x3ff) as usize;
        if index >= u64::from(self.num_regions()) {
            return Err(Errno::EINVAL);
        }
        let kind = match index {
            0 => OpKind::IoWrite,
            1 => OpKind::CmdWrite,
            // SCHIB and CRW regions are read-only.
            _ => return Err(Errno::EINVAL),
        };
        let (after, count) = self.begin_access(kind, index, pos, buf.len())?;
        let ret = if index == 0 {
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
        if !self.crws.is_empty() && signal(&self.triggers[1]) {
            self.stats.interrupts.crw += 1;
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
