// SPDX-License-Identifier: GPL-2.0-or-later
//! The device fd's ioctls (vfio_ccw_ops.c): device, region and IRQ info,
//! SET_IRQS, RESET.

use nix::errno::Errno;
use vfio_ccw_uapi::layout::{
    self as uapi, vfio_device_info, vfio_irq_info, VFIO_DEVICE_FLAGS_CCW, VFIO_DEVICE_FLAGS_RESET,
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_BOOL,
    VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE, VFIO_REGION_INFO_CAP_TYPE,
    VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_TYPE_CCW,
};

use super::irqs::Irq;
use super::regions::Region;
use super::{eventfd_get, ne32, FsmState, Inner, IRQ_SET_FLAGS_MASK};
use crate::faults::{CapsCorruption, FaultAction};
use crate::stats::OpKind;

impl Inner {
    /// The frame of every device-fd ioctl: counted, the faults that act
    /// before it applied (an injected failure replaces it), then `op`, then
    /// the faults that act after it if it succeeded. `op` sees the latter
    /// (`corrupt-caps` is one it applies itself).
    fn ioctl_op<T>(
        &mut self,
        kind: OpKind,
        op: impl FnOnce(&mut Self, &[FaultAction]) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        self.stats.ops.bump(kind);
        let after = self.pre_faults(kind)?;
        let r = op(self, &after)?;
        self.post_faults(&after);
        Ok(r)
    }

    pub(super) fn get_device_info(&mut self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.ioctl_op(OpKind::GetDeviceInfo, |g, _| {
            if info.argsz < 16 {
                return Err(Errno::EINVAL);
            }
            info.flags = VFIO_DEVICE_FLAGS_CCW | VFIO_DEVICE_FLAGS_RESET;
            info.num_regions = g.num_regions();
            info.num_irqs = g.profile.num_irqs();
            Ok(())
        })
    }

    pub(super) fn get_region_info(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.ioctl_op(OpKind::GetRegionInfo, |g, after| g.region_info(buf, after))
    }

    fn region_info(&self, buf: &mut [u8], after: &[FaultAction]) -> Result<(), Errno> {
        if buf.len() < 32 {
            return Err(Errno::EFAULT);
        }
        let argsz = ne32(&buf[0..4]);
        let index = ne32(&buf[8..12]);
        if argsz < 32 {
            return Err(Errno::EINVAL);
        }
        let region = Region::from_index(index)
            .filter(|_| index < self.num_regions())
            .ok_or(Errno::EINVAL)?;
        let (size, mut flags, subtype) = (region.size(), region.flags(), region.cap_subtype());
        let corrupt = after.iter().find_map(|a| match a {
            FaultAction::CorruptCaps(c) => Some(*c),
            _ => None,
        });
        let mut new_argsz = argsz;
        let mut cap_offset = ne32(&buf[12..16]);
        if let Some(subtype) = subtype {
            flags |= VFIO_REGION_INFO_FLAG_CAPS;
            if argsz < 48 {
                new_argsz = 48;
                cap_offset = 0;
            } else {
                if buf.len() < 48 {
                    return Err(Errno::EFAULT);
                }
                let mut id = VFIO_REGION_INFO_CAP_TYPE as u16;
                let mut next = 0u32;
                cap_offset = 32;
                match corrupt {
                    Some(CapsCorruption::Loop) => next = 32,
                    Some(CapsCorruption::Outside) => next = argsz.saturating_add(8),
                    Some(CapsCorruption::WrongId) => id = 1,
                    Some(CapsCorruption::BadOffset) => cap_offset = argsz.saturating_add(16),
                    None => {}
                }
                buf[32..34].copy_from_slice(&id.to_ne_bytes());
                buf[34..36].copy_from_slice(&1u16.to_ne_bytes());
                buf[36..40].copy_from_slice(&next.to_ne_bytes());
                buf[40..44].copy_from_slice(&VFIO_REGION_TYPE_CCW.to_ne_bytes());
                buf[44..48].copy_from_slice(&subtype.to_ne_bytes());
            }
        }
        buf[0..4].copy_from_slice(&new_argsz.to_ne_bytes());
        buf[4..8].copy_from_slice(&flags.to_ne_bytes());
        buf[12..16].copy_from_slice(&cap_offset.to_ne_bytes());
        buf[16..24].copy_from_slice(&(size as u64).to_ne_bytes());
        let offset = u64::from(index) << uapi::VFIO_CCW_OFFSET_SHIFT;
        buf[24..32].copy_from_slice(&offset.to_ne_bytes());
        Ok(())
    }

    pub(super) fn get_irq_info(&mut self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.ioctl_op(OpKind::GetIrqInfo, |g, _| {
            if info.argsz < 16 || info.index >= g.profile.num_irqs() {
                return Err(Errno::EINVAL);
            }
            info.flags = VFIO_IRQ_INFO_EVENTFD;
            info.count = 1;
            Ok(())
        })
    }

    pub(super) fn set_irqs(&mut self, buf: &[u8]) -> Result<(), Errno> {
        self.ioctl_op(OpKind::SetIrqs, |g, _| g.irqs_set(buf))
    }

    fn irqs_set(&mut self, buf: &[u8]) -> Result<(), Errno> {
        if buf.len() < 20 {
            return Err(Errno::EFAULT);
        }
        let argsz = ne32(&buf[0..4]);
        let flags = ne32(&buf[4..8]);
        let index = ne32(&buf[8..12]);
        let start = ne32(&buf[12..16]);
        let count = ne32(&buf[16..20]);
        // vfio_set_irqs_validate_and_prepare, with one IRQ per index.
        if argsz < 20
            || index >= self.profile.num_irqs()
            || count >= u32::MAX - start
            || flags & !IRQ_SET_FLAGS_MASK != 0
        {
            return Err(Errno::EINVAL);
        }
        let size: u64 = match flags & 0x07 {
            VFIO_IRQ_SET_DATA_NONE => 0,
            VFIO_IRQ_SET_DATA_BOOL => 1,
            VFIO_IRQ_SET_DATA_EVENTFD => 4,
            _ => return Err(Errno::EINVAL),
        };
        if start >= 1 || start + count > 1 {
            return Err(Errno::EINVAL);
        }
        if u64::from(argsz - 20) < u64::from(count) * size {
            return Err(Errno::EINVAL);
        }
        if flags & VFIO_IRQ_SET_ACTION_TRIGGER == 0 {
            return Err(Errno::EINVAL);
        }
        // From here on `count` is ignored: the data is read even for 0.
        let irq = Irq::from_index(index).ok_or(Errno::EINVAL)?;
        match flags & 0x07 {
            VFIO_IRQ_SET_DATA_NONE => {
                self.signal_irq(irq);
            }
            VFIO_IRQ_SET_DATA_BOOL => {
                let b = *buf.get(20).ok_or(Errno::EFAULT)?;
                if b != 0 {
                    self.signal_irq(irq);
                }
            }
            _ => {
                let raw = buf.get(20..24).ok_or(Errno::EFAULT)?;
                let fd = i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
                match fd {
                    -1 => self.triggers.set(irq, None),
                    fd if fd < -1 => return Err(Errno::EINVAL),
                    fd => self.triggers.set(irq, Some(eventfd_get(fd)?)),
                }
            }
        }
        Ok(())
    }

    pub(super) fn reset(&mut self) -> Result<(), Errno> {
        self.ioctl_op(OpKind::Reset, |g, _| {
            g.fsm_close();
            g.fsm_open();
            Ok(())
        })?;
        if self.state == FsmState::NotOper {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}
