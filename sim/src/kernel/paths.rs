// SPDX-License-Identifier: GPL-2.0-or-later
//! Channel paths (vfio_ccw_chp.c and the css machine checks): path
//! events change the subchannel's masks and queue CRWs.

use super::fsm::idle_function_ending;
use super::irqs::Irq;
use super::{Inner, CRW_ERC_INIT, CRW_ERC_PERRN, CRW_RSC_CPATH};
use crate::cp::fctl;

impl Inner {
    pub(super) fn queue_crw(&mut self, erc: u32, chpid: u8) {
        let crw = (CRW_RSC_CPATH << 24) | (erc << 16) | u32::from(chpid);
        self.crws.push_back(crw);
        self.signal_irq(Irq::Crw);
    }

    pub(super) fn chp_offline(&mut self, chpid: u8) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        self.sch.pam &= !mask;
        self.cancel_halt_clear(mask);
        self.queue_crw(CRW_ERC_PERRN, chpid);
    }

    pub(super) fn chp_online(&mut self, chpid: u8) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        self.sch.pam |= mask;
        // vfio_ccw_chp_event, CHP_ONLINE: the path is usable again unless
        // it was varied offline, so an ORB with LPM 0 finds it once more
        // after a cc 3 took it out of the usable mask.
        self.sch.lpm |= mask & self.sch.opm;
        self.queue_crw(CRW_ERC_INIT, chpid);
    }

    pub(super) fn vary(&mut self, chpid: u8, on: bool) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        if on {
            self.sch.opm |= mask;
            self.sch.lpm |= mask;
        } else {
            self.sch.opm &= !mask;
            self.sch.lpm &= !mask;
            self.cancel_halt_clear(mask);
        }
    }

    /// vfio_ccw_chp_event's `cio_cancel_halt_clear` when a path goes
    /// offline or is varied off: it runs whenever the path is the one the
    /// subchannel last used (the PMCW's LPUM), busy or idle, on an enabled
    /// subchannel. A running program is halted. On an idle subchannel
    /// XSCH finds no start to cancel, and the HSCH that follows ends at
    /// once with halt status, which the driver passes on like any other
    /// interrupt. A halt or clear already under way is left to end.
    fn cancel_halt_clear(&mut self, mask: u8) {
        if self.sch.lpum & mask == 0 || self.sch.gone || !self.sch.enabled {
            return;
        }
        if self.sch.active {
            self.stats.hsch += 1;
            self.halt_active();
        } else if self.function.is_none() {
            self.stats.hsch += 1;
            self.interrupt(idle_function_ending(fctl::HALT));
        }
    }
}
