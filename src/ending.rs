// SPDX-License-Identifier: GPL-2.0-or-later
//! How a host error becomes guest-visible state: one table for the
//! condition codes of SSCH, HSCH and CSCH and for the SCSW status of a
//! failed IRB read. Upstream spreads this over four switch statements.

use nix::errno::Errno;

use crate::css::{
    Scsw, SCSW_ACTL_DEVICE_ACTIVE, SCSW_ACTL_START_PEND, SCSW_ACTL_SUBCH_ACTIVE,
    SCSW_CSTAT_CHN_CTRL_CHK, SCSW_CSTAT_DATA_CHECK, SCSW_CSTAT_PROG_CHECK, SCSW_CTRL_MASK_STCTL,
    SCSW_DSTAT_UNIT_EXCEP, SCSW_FLAGS_MASK_CC, SCSW_STCTL_ALERT, SCSW_STCTL_PRIMARY,
    SCSW_STCTL_SECONDARY, SCSW_STCTL_STATUS_PEND,
};

/// QEMU's `IOInstEnding`: the condition code of an I/O instruction.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoInstEnding {
    Expected = 0,
    StatusPresent = 1,
    Busy = 2,
    NotOperational = 3,
}

/// The instructions that write a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instruction {
    Start,
    Halt,
    Clear,
}

/// What the guest sees of an instruction whose region write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// cc 2: busy with an earlier function. Only SSCH and HSCH have it.
    Busy,
    /// cc 3: not operational. Halt and clear hand the errno back to css.
    NotOperational(Errno),
    /// The instruction completes with cc 0, but the operation failed: the
    /// subchannel gets unit exception status and an I/O interrupt.
    UnitException,
}

/// SCSW status for an I/O interrupt whose IRB could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrbStatus {
    /// The device went away: a deferred condition code 3.
    DeferredCc3,
    /// Memory problem: channel data check.
    ChannelDataCheck,
    /// Any other failure: channel program check.
    ProgramCheck,
    /// Fewer bytes than an IRB: an information transfer error,
    /// channel-control check.
    ChannelControlCheck,
}

/// A failed region access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The syscall failed with this errno. EAGAIN here means the retries
    /// ran out.
    Errno(Errno),
    /// The syscall transferred fewer bytes than the region holds.
    Short,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub ssch: Ending,
    pub hsch: Ending,
    pub csch: Ending,
    pub irb_read: IrbStatus,
}

/// The table. Rows follow the Linux driver's meanings: EBUSY (cc 1/2 from
/// the hardware, or a program already running), ENODEV (cc 3, no path
/// left), EACCES (cc 3 with paths left), EAGAIN (the driver's lock stayed
/// held past our retries: busy where the instruction has a busy cc; CSCH
/// has none), EFAULT (a guest address could not be accessed).
pub fn row(error: HostError) -> Row {
    use Ending::*;
    match error {
        HostError::Errno(e @ (Errno::ENODEV | Errno::EACCES)) => Row {
            ssch: NotOperational(e),
            hsch: NotOperational(e),
            csch: NotOperational(e),
            irb_read: if e == Errno::ENODEV {
                IrbStatus::DeferredCc3
            } else {
                IrbStatus::ProgramCheck
            },
        },
        HostError::Errno(Errno::EBUSY | Errno::EAGAIN) => Row {
            ssch: Busy,
            hsch: Busy,
            csch: UnitException,
            irb_read: IrbStatus::ProgramCheck,
        },
        HostError::Errno(Errno::EFAULT) => Row {
            ssch: UnitException,
            hsch: UnitException,
            csch: UnitException,
            irb_read: IrbStatus::ChannelDataCheck,
        },
        HostError::Short => Row {
            ssch: UnitException,
            hsch: UnitException,
            csch: UnitException,
            irb_read: IrbStatus::ChannelControlCheck,
        },
        HostError::Errno(_) => Row {
            ssch: UnitException,
            hsch: UnitException,
            csch: UnitException,
            irb_read: IrbStatus::ProgramCheck,
        },
    }
}

/// The ending of `instruction` after `error`.
pub fn ending(instruction: Instruction, error: HostError) -> Ending {
    let row = row(error);
    match instruction {
        Instruction::Start => row.ssch,
        Instruction::Halt => row.hsch,
        Instruction::Clear => row.csch,
    }
}

/// Unit exception status, as QEMU's `sch_gen_unit_exception` makes it.
pub fn set_unit_exception(scsw: &mut Scsw, channel_prog: u32) {
    scsw.ctrl &= !(SCSW_ACTL_DEVICE_ACTIVE | SCSW_ACTL_SUBCH_ACTIVE);
    scsw.ctrl |=
        SCSW_STCTL_PRIMARY | SCSW_STCTL_SECONDARY | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
    scsw.cpa = channel_prog.wrapping_add(8);
    scsw.dstat = SCSW_DSTAT_UNIT_EXCEP;
}

/// Applies the status of a failed IRB read to the subchannel's SCSW.
pub fn set_irb_status(scsw: &mut Scsw, status: IrbStatus) {
    let cstat = match status {
        IrbStatus::DeferredCc3 => {
            scsw.flags |= SCSW_FLAGS_MASK_CC;
            scsw.ctrl &= !SCSW_CTRL_MASK_STCTL;
            scsw.ctrl |= SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
            return;
        }
        IrbStatus::ChannelDataCheck => SCSW_CSTAT_DATA_CHECK,
        IrbStatus::ProgramCheck => SCSW_CSTAT_PROG_CHECK,
        IrbStatus::ChannelControlCheck => SCSW_CSTAT_CHN_CTRL_CHK,
    };
    scsw.ctrl &= !(SCSW_ACTL_START_PEND | SCSW_CTRL_MASK_STCTL);
    scsw.cstat = cstat;
    scsw.ctrl |=
        SCSW_STCTL_PRIMARY | SCSW_STCTL_SECONDARY | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
}
