// SPDX-License-Identifier: GPL-2.0-or-later
//! Channel paths (vfio_ccw_chp.c and the css machine checks): path
//! events change the subchannel's masks and queue CRWs.

use super::irqs::Irq;
use super::{Inner, CRW_ERC_INIT, CRW_ERC_PERRN, CRW_RSC_CPATH};

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
        if self.sch.active && self.sch.lpum & mask != 0 {
            self.halt_active();
        }
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
            if self.sch.active && self.sch.lpum & mask != 0 {
                self.halt_active();
            }
        }
    }
}
