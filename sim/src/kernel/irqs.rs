// SPDX-License-Identifier: GPL-2.0-or-later
//! The device's interrupts (vfio_ccw_ops.c's IRQ indexes) and the eventfds
//! userspace connects to them with SET_IRQS.

use std::os::fd::OwnedFd;

use super::{signal, Inner};

/// An IRQ index of the device fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Irq {
    /// `VFIO_CCW_IO_IRQ_INDEX`: an IRB was stored in the I/O region.
    Io,
    /// `VFIO_CCW_CRW_IRQ_INDEX`: a CRW is queued.
    Crw,
    /// `VFIO_CCW_REQ_IRQ_INDEX`: the host wants the device back.
    Req,
}

impl Irq {
    /// The IRQ at `index` (whether the profile has it is the caller's
    /// check).
    pub(super) fn from_index(index: u32) -> Option<Irq> {
        match index {
            0 => Some(Irq::Io),
            1 => Some(Irq::Crw),
            2 => Some(Irq::Req),
            _ => None,
        }
    }
}

/// The eventfd of each IRQ: the model's own duplicates, as the kernel keeps
/// a reference to each.
#[derive(Default)]
pub(super) struct Triggers {
    io: Option<OwnedFd>,
    crw: Option<OwnedFd>,
    req: Option<OwnedFd>,
}

impl Triggers {
    fn slot(&mut self, irq: Irq) -> &mut Option<OwnedFd> {
        match irq {
            Irq::Io => &mut self.io,
            Irq::Crw => &mut self.crw,
            Irq::Req => &mut self.req,
        }
    }

    /// Connects `irq` to an eventfd, or (`None`) releases it.
    pub(super) fn set(&mut self, irq: Irq, fd: Option<OwnedFd>) {
        *self.slot(irq) = fd;
    }
}

impl Inner {
    /// Signals `irq`'s eventfd and counts it; false when none is set.
    pub(super) fn signal_irq(&mut self, irq: Irq) -> bool {
        if !signal(self.triggers.slot(irq)) {
            return false;
        }
        let counts = &mut self.stats.interrupts;
        match irq {
            Irq::Io => counts.io += 1,
            Irq::Crw => counts.crw += 1,
            Irq::Req => counts.req += 1,
        }
        true
    }
}
