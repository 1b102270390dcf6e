// SPDX-License-Identifier: GPL-2.0-or-later
//! The driver's state machine (vfio_ccw_fsm.c): open and close, I/O and
//! async requests, the channel's interrupts, not-operational handling
//! and the host's removal request.

use nix::errno::Errno;
use vfio_ccw_uapi::layout as uapi;

use super::irqs::Irq;
use super::{
    be32, errno_code, host_fields_to_be, ne32, Cc, FsmState, Function, Inner, Pending, StartMode,
    HOST_INTPARM_BASE, IRB_AT, RET_CODE_AT, VFIO_CCW_ISC,
};
use crate::config::Compat;
use crate::cp::{self, actl, fctl, sctl, ChannelProgram, Ending, Orb};

impl Inner {
    pub(super) fn fsm_open(&mut self) {
        match self.state {
            FsmState::Standby => {
                if self.sch.gone {
                    self.state = FsmState::NotOper;
                } else {
                    self.sch.isc = VFIO_CCW_ISC;
                    self.sch.enabled = true;
                    self.state = FsmState::Idle;
                }
            }
            FsmState::NotOper => {}
            _ => {
                self.not_operational_state();
            }
        }
    }

    pub(super) fn fsm_close(&mut self) {
        match self.state {
            FsmState::NotOper => {}
            FsmState::Standby => self.not_operational_state(),
            _ => {
                // Quiesce: the halt's interrupt goes through the normal
                // IRQ path before the subchannel is disabled.
                self.quiesce();
                self.cp = None;
                if self.sch.gone {
                    self.state = FsmState::NotOper;
                } else {
                    self.sch.enabled = false;
                    self.state = FsmState::Standby;
                }
            }
        }
    }

    pub(super) fn not_operational_state(&mut self) {
        self.state = FsmState::NotOper;
        self.cp = None;
        self.sch.active = false;
        self.function = None;
    }

    /// The FSM NOT_OPER event plus the unregistration it schedules.
    pub(super) fn not_operational(&mut self) {
        self.sch.gone = true;
        self.sch.enabled = false;
        if self.state != FsmState::NotOper {
            self.not_operational_state();
        }
        self.request_removal();
    }

    /// Starts the removal of the mdev (see `spawn_repeats`).
    pub(super) fn request_removal(&mut self) {
        if self.removed {
            return;
        }
        if self.open_count == 0 {
            self.mdev_gone();
            return;
        }
        self.removal_pending = true;
        self.fire_request();
        if !self.repeat_thread {
            self.repeat_thread = true;
            self.spawn_repeats = true;
        }
    }

    pub(super) fn fire_request(&mut self) {
        self.stats.removal_requests += 1;
        if !self.signal_irq(Irq::Req) {
            log::info!("vfio-ccw-sim: device removal waits for userspace to close the device");
        }
    }

    pub(super) fn set_io_ret(&mut self, e: Option<Errno>) {
        let code = e.map_or([0; 4], errno_code);
        self.io[RET_CODE_AT..].copy_from_slice(&code);
    }

    pub(super) fn fsm_io_request(&mut self, mode: StartMode) {
        match self.state {
            FsmState::NotOper | FsmState::Standby => self.set_io_ret(Some(Errno::EIO)),
            FsmState::CpProcessing => self.set_io_ret(Some(Errno::EAGAIN)),
            FsmState::CpPending => self.set_io_ret(Some(Errno::EBUSY)),
            FsmState::Idle => self.io_request(mode),
        }
    }

    pub(super) fn decoded_orb(&self) -> Orb {
        let mut b = [0u8; 12];
        b.copy_from_slice(&self.io[0..12]);
        if self.compat == Compat::QemuC {
            host_fields_to_be(&mut b, &[4, 2, 1, 1, 4]);
        }
        Orb::decode(&b)
    }

    pub(super) fn scsw_fctl(&self) -> u8 {
        let mut b = [0u8; 12];
        b.copy_from_slice(&self.io[12..24]);
        if self.compat == Compat::QemuC {
            host_fields_to_be(&mut b, &[2, 2, 4, 1, 1, 2]);
        }
        b[2] & 0x70
    }

    pub(super) fn io_request(&mut self, mode: StartMode) {
        self.state = FsmState::CpProcessing;
        let fc = self.scsw_fctl();
        if fc & fctl::START != 0 {
            let mut orb = self.decoded_orb();
            let r = self.start(&mut orb, mode);
            if let Err(e) = r {
                self.cp = None;
                self.state = FsmState::Idle;
                self.set_io_ret(Some(e));
            }
            return;
        }
        if fc & (fctl::HALT | fctl::CLEAR) != 0 {
            self.set_io_ret(Some(Errno::EOPNOTSUPP));
        }
        self.state = FsmState::Idle;
    }

    /// cp_init + cp_prefetch + SSCH, then (in the model) the channel.
    pub(super) fn start(&mut self, orb: &mut Orb, mode: StartMode) -> Result<(), Errno> {
        if orb.b {
            return Err(Errno::EOPNOTSUPP);
        }
        if !orb.pfch && !self.profile.accepts_non_prefetch() {
            return Err(Errno::EOPNOTSUPP);
        }
        let guest_lpm = orb.lpm;
        if orb.lpm == 0 {
            orb.lpm = self.sch.lpm;
        }
        if !self.profile.passes_key() {
            orb.key = 0;
        }
        let prog = ChannelProgram::translate(orb, &self.dma, self.profile)?;
        match self.ssch(orb) {
            Cc::Zero => {}
            Cc::Busy => return Err(Errno::EBUSY),
            Cc::NotOperational => {
                self.sch.lpm &= !if guest_lpm == 0 { 0xff } else { guest_lpm };
                return Err(if self.sch.gone || self.sch.lpm == 0 {
                    Errno::ENODEV
                } else {
                    Errno::EACCES
                });
            }
        }
        self.cp = Some(prog);
        self.state = FsmState::CpPending;
        self.set_io_ret(None);
        match mode {
            StartMode::Complete => self.begin_function(Function::Start),
            StartMode::Stall => {}
            StartMode::NotOper => self.not_operational(),
        }
        Ok(())
    }

    /// START SUBCHANNEL on the simulated hardware.
    pub(super) fn ssch(&mut self, orb: &Orb) -> Cc {
        let s = &mut self.sch;
        if s.gone || !s.enabled {
            return Cc::NotOperational;
        }
        if s.active || self.function.is_some() {
            return Cc::Busy;
        }
        let usable = s.pim & s.pam & s.pom;
        let tried = orb.lpm & s.pim;
        s.pnom = tried & !usable;
        let avail = orb.lpm & usable;
        if avail == 0 {
            return Cc::NotOperational;
        }
        s.lpum = 0x80 >> avail.leading_zeros();
        s.intparm = HOST_INTPARM_BASE | (s.intparm & 0xffff);
        s.active = true;
        self.stats.ssch += 1;
        self.stats.ssch_by_path[avail.leading_zeros() as usize] += 1;
        Cc::Zero
    }

    /// Runs the outstanding program (if any) and delivers its interrupt.
    pub(super) fn complete_stalled(&mut self) {
        if !self.sch.active {
            return;
        }
        let Some(prog) = self.cp.take() else { return };
        self.function = None;
        let ending = cp::run(&prog, &self.dma, self.device.as_mut(), &mut self.stats);
        let irb = ending.irb(&prog.orb, prog.orb.key);
        self.cp = Some(prog);
        self.sch.active = false;
        self.interrupt(irb);
    }

    /// Halts the active program: it ends with halt status, and whatever
    /// function the channel had scheduled for it is over.
    pub(super) fn halt_active(&mut self) {
        self.function = None;
        let Some(orb) = self.cp.as_ref().map(|p| p.orb) else {
            self.sch.active = false;
            return;
        };
        self.sch.active = false;
        let ending = Ending {
            fctl: fctl::START | fctl::HALT,
            sctl: sctl::PENDING,
            cpa: orb.cpa,
            dstat: 0,
            cstat: 0,
            count: 0,
            sense: None,
        };
        let irb = ending.irb(&orb, orb.key);
        self.interrupt(irb);
    }

    /// The interrupt handler (`fsm_irq`): the IRB goes to the one slot and
    /// the worker is queued; under `Latency::Immediate` the worker's part
    /// runs at once. A second interrupt before the worker overwrites the
    /// first, as on Linux.
    pub(super) fn interrupt(&mut self, irb: [u8; 96]) {
        if matches!(self.state, FsmState::NotOper | FsmState::Standby) || !self.sch.enabled {
            // A disabled subchannel: the handler just disables again.
            return;
        }
        if self.timing.latency().is_immediate() {
            self.deliver(irb);
            self.signal_io();
        } else {
            self.irb_slot = Some(irb);
            self.wake.notify_all();
        }
    }

    /// The I/O worker (`vfio_ccw_sch_io_todo`) up to its signal, called
    /// with `io_mutex` held: back to IDLE after the program's final status,
    /// the IRB into the region. [`Inner::signal_io`] follows.
    pub(super) fn deliver(&mut self, irb: [u8; 96]) {
        let final_status = irb[3] & (actl::SUBCHANNEL_ACTIVE | actl::DEVICE_ACTIVE) == 0;
        let solicited = irb[0] & 0x03 != 0 || irb[3] & 0x1f != sctl::ALERT | sctl::PENDING;
        if solicited && final_status && self.state == FsmState::CpPending {
            // The CPA the channel reported is already a guest address in
            // the model (the kernel translates it back when it falls inside
            // the program, and leaves a host address otherwise).
            self.cp = None;
            self.state = FsmState::Idle;
        }
        self.io[IRB_AT..RET_CODE_AT].copy_from_slice(&irb);
    }

    /// The worker's last step, which Linux takes after it has released
    /// `io_mutex`: userspace woken by it can write at once.
    pub(super) fn signal_io(&mut self) {
        self.signal_irq(Irq::Io);
    }

    pub(super) fn fsm_async_request(&mut self) {
        let code = match self.state {
            FsmState::NotOper | FsmState::Standby => Some(Errno::EIO),
            FsmState::CpProcessing => Some(Errno::EAGAIN),
            FsmState::Idle | FsmState::CpPending => {
                let command = match self.compat {
                    Compat::Architecture => be32(&self.cmd[0..4]),
                    Compat::QemuC => ne32(&self.cmd[0..4]),
                };
                match command {
                    uapi::VFIO_CCW_ASYNC_CMD_HSCH => self.hsch(),
                    uapi::VFIO_CCW_ASYNC_CMD_CSCH => self.csch(),
                    _ => Some(Errno::EINVAL),
                }
            }
        };
        let code = code.map_or([0; 4], errno_code);
        self.cmd[4..8].copy_from_slice(&code);
    }

    pub(super) fn hsch(&mut self) -> Option<Errno> {
        if self.sch.gone || !self.sch.enabled {
            return Some(Errno::ENODEV);
        }
        if matches!(
            self.function,
            Some(Pending {
                function: Function::Halt { .. } | Function::Clear,
                ..
            })
        ) {
            // cc 2: a halt or clear function is already in progress.
            return Some(Errno::EBUSY);
        }
        self.stats.hsch += 1;
        self.begin_function(Function::Halt {
            of_start: self.sch.active,
        });
        None
    }

    pub(super) fn csch(&mut self) -> Option<Errno> {
        if self.sch.gone || !self.sch.enabled {
            return Some(Errno::ENODEV);
        }
        self.stats.csch += 1;
        // The clear function ends a start or halt at once; the device's
        // selective reset and the status follow.
        self.sch.active = false;
        self.sch.pnom = 0;
        self.function = None;
        self.begin_function(Function::Clear);
        None
    }

    pub(super) fn unsolicited(&mut self, dstat_bits: u8) {
        if self.sch.gone {
            return;
        }
        let ending = Ending {
            fctl: 0,
            sctl: sctl::ALERT | sctl::PENDING,
            cpa: 0,
            dstat: dstat_bits,
            cstat: 0,
            count: 0,
            sense: (dstat_bits & crate::ccw_device::dstat::UNIT_CHECK != 0)
                .then(|| self.device.sense()),
        };
        let irb = ending.irb(&Orb::default(), 0);
        self.interrupt(without_format_flag(irb));
    }
}

/// The status a halt or clear function ends with when no program was
/// running: the function, status pending, nothing else.
pub(super) fn idle_function_ending(function: u8) -> [u8; 96] {
    let ending = Ending {
        fctl: function,
        sctl: sctl::PENDING,
        cpa: 0,
        dstat: 0,
        cstat: 0,
        count: 0,
        sense: None,
    };
    without_format_flag(ending.irb(&Orb::default(), 0))
}

/// Halt, clear and unsolicited IRBs describe no start function: no CCW
/// format to report.
fn without_format_flag(mut irb: [u8; 96]) -> [u8; 96] {
    irb[1] &= !0x80;
    irb
}
