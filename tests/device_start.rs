// SPDX-License-Identifier: GPL-2.0-or-later
//! START SUBCHANNEL and the I/O interrupt, against the simulated kernel.

mod common;

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use qemu_vfio_ccw::uapi;
use vfio_ccw_sim::{FaultScript, SimConfig};

fn guest_with_read_program() -> Guest {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    guest
}

fn faults(text: &str) -> SimConfig {
    SimConfig {
        faults: FaultScript::parse(text).expect("fault script"),
        ..SimConfig::default()
    }
}

#[test]
fn start_returns_cc0_when_the_kernel_accepts_the_program() {
    let guest = guest_with_read_program();
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!(out.actions, 0, "nothing to apply until the interrupt");
}

#[test]
fn byte_order_start_writes_the_orb_and_scsw_big_endian_into_the_io_region() {
    let guest = guest_with_read_program();
    let (mut device, writes) = guest.realize_recording(Config::default());
    device.start(&orb(CPA), &started_schib(), CPA);
    let writes = writes.lock().unwrap();
    let (offset, bytes) = writes.last().expect("one region write");
    assert_eq!(*offset, device.regions().io.offset);
    assert_eq!(bytes.len(), uapi::IO_REGION_SIZE);
    assert_eq!(
        &bytes[0..12],
        &[0xca, 0xfe, 0xf0, 0x0d, 0x00, 0xc0, 0xff, 0x00, 0x00, 0x00, 0x10, 0x00],
        "ORB: intparm, ctrl0 (format-1 + prefetch), LPM, ctrl1, CPA"
    );
    assert_eq!(
        &bytes[12..24],
        &[0x00, 0x00, 0x44, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
        "SCSW: start function + start pending in byte 2"
    );
    assert!(
        bytes[24..].iter().all(|&b| b == 0),
        "IRB area and ret_code zeroed"
    );
}

#[test]
fn io_interrupt_delivers_the_final_status_and_the_data() {
    let guest = guest_with_read_program();
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    assert_eq!(device.start(&orb(CPA), &schib, CPA).ret, 0);
    let out = device.io_interrupt(&schib);
    assert_eq!(
        out.actions,
        ACTION_SET_SCHIB | ACTION_SET_ESW | ACTION_INJECT_IO_INTERRUPT
    );
    let scsw = out.schib.scsw;
    assert_eq!(scsw.dstat, 0x0c, "channel end + device end");
    assert_eq!(scsw.cstat, 0);
    assert_eq!(scsw.count, 0, "no residual: the record fit exactly");
    assert_eq!(scsw.cpa, CPA + 8, "CPA points after the last CCW");
    assert_ne!(scsw.ctrl & SCSW_STCTL_STATUS_PEND, 0);
    assert_eq!(guest.bytes(DATA, RECORD.len()), RECORD);
    let pmcw = out.schib.pmcw;
    assert_eq!(pmcw.devno, 0x0313, "the rest of the SCHIB is kept");
}

#[test]
fn io_interrupt_without_a_signal_does_nothing() {
    let guest = guest_with_read_program();
    let mut device = guest.realize(Config::default());
    let out = device.io_interrupt(&started_schib());
    assert_eq!(out.actions, 0);
}

#[test]
fn unit_check_with_concurrent_sense_delivers_the_sense_bytes() {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, 0x77, CCW_FLAG_SLI, 8, DATA);
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    assert_eq!(device.start(&orb(CPA), &schib, CPA).ret, 0);
    let out = device.io_interrupt(&schib);
    assert_ne!({ out.schib.scsw.dstat } & SCSW_DSTAT_UNIT_CHECK, 0);
    assert_ne!(out.actions & ACTION_SET_SENSE, 0);
    assert_eq!(out.sense[0], SENSE_COMMAND_REJECT);
}

#[test]
fn unit_check_without_concurrent_sense_leaves_the_sense_data_alone() {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, 0x77, CCW_FLAG_SLI, 8, DATA);
    let mut device = guest.realize(Config::default());
    let mut schib = started_schib();
    schib.pmcw.chars = 0;
    device.start(&orb(CPA), &schib, CPA);
    let out = device.io_interrupt(&schib);
    assert_ne!({ out.schib.scsw.dstat } & SCSW_DSTAT_UNIT_CHECK, 0);
    assert_eq!(out.actions & ACTION_SET_SENSE, 0);
}

#[test]
fn force_orb_pfch_sets_the_prefetch_bit_the_guest_left_clear() {
    let guest = guest_with_read_program();
    let (mut device, writes) = guest.realize_recording(Config {
        force_orb_pfch: true,
    });
    let mut no_pfch = orb(CPA);
    no_pfch.ctrl0 &= !ORB_CTRL0_MASK_PFCH;
    device.start(&no_pfch, &started_schib(), CPA);
    let writes = writes.lock().unwrap();
    assert_eq!(writes.last().unwrap().1[5] & 0x40, 0x40);
}

#[test]
fn without_force_orb_pfch_the_orb_reaches_the_kernel_unchanged() {
    let guest = guest_with_read_program();
    let (mut device, writes) = guest.realize_recording(Config::default());
    let mut no_pfch = orb(CPA);
    no_pfch.ctrl0 &= !ORB_CTRL0_MASK_PFCH;
    let out = device.start(&no_pfch, &started_schib(), CPA);
    assert_eq!(out.ret, 0, "kernels since 5.8 run non-prefetch ORBs");
    let writes = writes.lock().unwrap();
    assert_eq!(&writes.last().unwrap().1[..12], &no_pfch.to_be_bytes());
}

#[test]
fn start_while_a_program_runs_is_busy_cc2() {
    let guest = Guest::new(faults("io-write #1 stall"));
    let mut guest = guest;
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let mut device = guest.realize(Config::default());
    assert_eq!(device.start(&orb(CPA), &started_schib(), CPA).ret, 0);
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!(out.ret, 2);
    assert_eq!(out.actions, 0);
}

#[test]
fn start_on_enodev_is_not_operational_cc3() {
    let mut guest = Guest::new(faults("io-write #1 fail ENODEV"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!((out.ret, out.actions), (3, 0));
}

#[test]
fn start_on_eacces_is_not_operational_cc3() {
    let mut guest = Guest::new(faults("io-write #1 fail EACCES"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!((out.ret, out.actions), (3, 0));
}

#[test]
fn start_on_efault_ends_with_unit_exception_and_an_interrupt() {
    let mut guest = Guest::new(faults("io-write #1 fail EFAULT"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!(out.actions, ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT);
    let scsw = out.schib.scsw;
    assert_eq!(scsw.dstat, SCSW_DSTAT_UNIT_EXCEP);
    assert_eq!(scsw.cpa, CPA + 8);
}

#[test]
fn start_retries_eagain_and_then_succeeds() {
    let mut guest = Guest::new(faults("io-write #1 fail EAGAIN times 5"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!(guest.kernel.stats().ops.io_write, 6);
}

#[test]
fn start_reports_busy_when_eagain_outlasts_the_retries() {
    let mut guest = Guest::new(faults("io-write #1 fail EAGAIN times 100000"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!((out.ret, out.actions), (2, 0));
    assert_eq!(
        guest.kernel.stats().ops.io_write,
        u64::from(EAGAIN_RETRIES) + 1
    );
}

#[test]
fn irb_read_on_enodev_is_a_deferred_cc3() {
    let mut guest = Guest::new(faults("io-read #1 fail ENODEV"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    device.start(&orb(CPA), &schib, CPA);
    let out = device.io_interrupt(&schib);
    assert_eq!(out.actions, ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT);
    let scsw = out.schib.scsw;
    assert_eq!(scsw.flags & SCSW_FLAGS_MASK_CC, SCSW_FLAGS_MASK_CC);
    assert_eq!(
        scsw.ctrl & SCSW_CTRL_MASK_STCTL,
        SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND
    );
}

#[test]
fn irb_read_on_efault_is_a_channel_data_check() {
    let mut guest = Guest::new(faults("io-read #1 fail EFAULT"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    device.start(&orb(CPA), &schib, CPA);
    let out = device.io_interrupt(&schib);
    assert_eq!({ out.schib.scsw.cstat }, SCSW_CSTAT_DATA_CHECK);
    assert_eq!({ out.schib.scsw.ctrl } & SCSW_ACTL_START_PEND, 0);
}

#[test]
fn irb_read_on_another_errno_is_a_program_check() {
    let mut guest = Guest::new(faults("io-read #1 fail EIO"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    device.start(&orb(CPA), &schib, CPA);
    let out = device.io_interrupt(&schib);
    assert_eq!({ out.schib.scsw.cstat }, SCSW_CSTAT_PROG_CHECK);
}

#[test]
fn short_irb_read_is_a_channel_control_check() {
    let mut guest = Guest::new(faults("io-read #1 short 100"));
    guest.ccw1(CPA, CMD_READ, 0, 16, DATA);
    let mut device = guest.realize(Config::default());
    let schib = started_schib();
    device.start(&orb(CPA), &schib, CPA);
    let out = device.io_interrupt(&schib);
    assert_eq!({ out.schib.scsw.cstat }, SCSW_CSTAT_CHN_CTRL_CHK);
    assert_ne!(out.actions & ACTION_INJECT_IO_INTERRUPT, 0);
}
