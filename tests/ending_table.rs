// SPDX-License-Identifier: GPL-2.0-or-later
//! The errno table: how each host error becomes the guest's condition code
//! or SCSW status. One test per row.

use nix::errno::Errno;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::ending::{
    ending, row, set_irb_status, set_unit_exception, Ending, HostError, Instruction, IrbStatus, Row,
};

fn row_of(e: Errno) -> Row {
    row(HostError::Errno(e))
}

#[test]
fn ebusy_is_busy_for_start_and_halt_and_a_unit_exception_for_clear() {
    assert_eq!(
        row_of(Errno::EBUSY),
        Row {
            ssch: Ending::Busy,
            hsch: Ending::Busy,
            csch: Ending::UnitException,
            irb_read: IrbStatus::ProgramCheck,
        }
    );
}

#[test]
fn enodev_is_not_operational_everywhere_and_a_deferred_cc3_on_irb_read() {
    assert_eq!(
        row_of(Errno::ENODEV),
        Row {
            ssch: Ending::NotOperational(Errno::ENODEV),
            hsch: Ending::NotOperational(Errno::ENODEV),
            csch: Ending::NotOperational(Errno::ENODEV),
            irb_read: IrbStatus::DeferredCc3,
        }
    );
}

#[test]
fn eacces_is_not_operational_and_a_program_check_on_irb_read() {
    assert_eq!(
        row_of(Errno::EACCES),
        Row {
            ssch: Ending::NotOperational(Errno::EACCES),
            hsch: Ending::NotOperational(Errno::EACCES),
            csch: Ending::NotOperational(Errno::EACCES),
            irb_read: IrbStatus::ProgramCheck,
        }
    );
}

#[test]
fn eagain_after_the_retries_is_busy_where_the_instruction_has_a_busy_cc() {
    assert_eq!(
        row_of(Errno::EAGAIN),
        Row {
            ssch: Ending::Busy,
            hsch: Ending::Busy,
            csch: Ending::UnitException,
            irb_read: IrbStatus::ProgramCheck,
        }
    );
}

#[test]
fn efault_is_a_unit_exception_and_a_channel_data_check_on_irb_read() {
    assert_eq!(
        row_of(Errno::EFAULT),
        Row {
            ssch: Ending::UnitException,
            hsch: Ending::UnitException,
            csch: Ending::UnitException,
            irb_read: IrbStatus::ChannelDataCheck,
        }
    );
}

#[test]
fn short_transfer_is_a_unit_exception_and_a_channel_control_check_on_irb_read() {
    assert_eq!(
        row(HostError::Short),
        Row {
            ssch: Ending::UnitException,
            hsch: Ending::UnitException,
            csch: Ending::UnitException,
            irb_read: IrbStatus::ChannelControlCheck,
        }
    );
}

#[test]
fn any_other_errno_is_a_unit_exception_and_a_program_check_on_irb_read() {
    for e in [
        Errno::EIO,
        Errno::EINVAL,
        Errno::EPERM,
        Errno::EOPNOTSUPP,
        Errno::ENOMEM,
    ] {
        assert_eq!(
            row_of(e),
            Row {
                ssch: Ending::UnitException,
                hsch: Ending::UnitException,
                csch: Ending::UnitException,
                irb_read: IrbStatus::ProgramCheck,
            },
            "{e}"
        );
    }
}

#[test]
fn ending_picks_the_column_of_the_instruction() {
    let e = HostError::Errno(Errno::EBUSY);
    assert_eq!(ending(Instruction::Start, e), Ending::Busy);
    assert_eq!(ending(Instruction::Halt, e), Ending::Busy);
    assert_eq!(ending(Instruction::Clear, e), Ending::UnitException);
}

#[test]
fn unit_exception_status_matches_qemus_sch_gen_unit_exception() {
    let mut scsw = Scsw {
        flags: 0x0080,
        ctrl: SCSW_FCTL_START_FUNC | SCSW_ACTL_SUBCH_ACTIVE | SCSW_ACTL_DEVICE_ACTIVE,
        cpa: 0,
        dstat: 0,
        cstat: 0,
        count: 7,
    };
    set_unit_exception(&mut scsw, 0x1000);
    assert_eq!(
        scsw,
        Scsw {
            flags: 0x0080,
            ctrl: SCSW_FCTL_START_FUNC
                | SCSW_STCTL_PRIMARY
                | SCSW_STCTL_SECONDARY
                | SCSW_STCTL_ALERT
                | SCSW_STCTL_STATUS_PEND,
            cpa: 0x1008,
            dstat: SCSW_DSTAT_UNIT_EXCEP,
            cstat: 0,
            count: 7,
        }
    );
}

#[test]
fn deferred_cc3_sets_the_cc_bits_and_alert_status_only() {
    let mut scsw = Scsw {
        ctrl: SCSW_FCTL_START_FUNC | SCSW_ACTL_START_PEND | SCSW_STCTL_PRIMARY,
        ..Scsw::default()
    };
    set_irb_status(&mut scsw, IrbStatus::DeferredCc3);
    assert_eq!(scsw.flags & SCSW_FLAGS_MASK_CC, SCSW_FLAGS_MASK_CC);
    assert_eq!(
        scsw.ctrl,
        SCSW_FCTL_START_FUNC | SCSW_ACTL_START_PEND | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND
    );
    assert_eq!(scsw.cstat, 0);
}

#[test]
fn irb_read_checks_clear_start_pending_and_end_the_function() {
    for (status, cstat) in [
        (IrbStatus::ChannelDataCheck, SCSW_CSTAT_DATA_CHECK),
        (IrbStatus::ProgramCheck, SCSW_CSTAT_PROG_CHECK),
        (IrbStatus::ChannelControlCheck, SCSW_CSTAT_CHN_CTRL_CHK),
    ] {
        let mut scsw = Scsw {
            ctrl: SCSW_FCTL_START_FUNC | SCSW_ACTL_START_PEND | SCSW_STCTL_ALERT,
            ..Scsw::default()
        };
        set_irb_status(&mut scsw, status);
        assert_eq!(scsw.cstat, cstat, "{status:?}");
        assert_eq!(
            scsw.ctrl,
            SCSW_FCTL_START_FUNC
                | SCSW_STCTL_PRIMARY
                | SCSW_STCTL_SECONDARY
                | SCSW_STCTL_ALERT
                | SCSW_STCTL_STATUS_PEND,
            "{status:?}"
        );
    }
}
