// SPDX-License-Identifier: GPL-2.0-or-later
//! A kernel that answers EINTR: a stray signal is ridden out, a kernel
//! that answers EINTR forever gets a bounded number of tries and then the
//! outcome of any other failed access (upstream's, which gives up at once).

mod common;

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use qemu_vfio_ccw::ending::IoInstEnding;
use vfio_ccw_sim::{FaultScript, OpKind, SimConfig};

fn faults(text: &str) -> SimConfig {
    SimConfig {
        faults: FaultScript::parse(text).expect("fault script"),
        ..SimConfig::default()
    }
}

/// Every try plus the retries, and no more.
const TRIES: u64 = EINTR_RETRIES as u64 + 1;

fn read_program(config: SimConfig) -> (Guest, Device) {
    let mut guest = Guest::new(config);
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let device = guest.realize(Config::default());
    (guest, device)
}

#[test]
fn start_rides_out_a_few_eintrs_and_is_accepted() {
    let (guest, mut device) = read_program(faults(&format!(
        "io-write fail EINTR times {EINTR_RETRIES}"
    )));
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!((out.ret, out.actions), (0, 0));
    assert_eq!(guest.kernel.stats().ops.get(OpKind::IoWrite), TRIES);
    let irq = device.io_interrupt(&started_schib());
    assert_ne!(irq.actions & ACTION_INJECT_IO_INTERRUPT, 0);
    assert_eq!(guest.bytes(DATA, RECORD.len()), RECORD);
}

#[test]
fn start_on_eintr_forever_gives_up_with_unit_exception_after_bounded_tries() {
    let (guest, mut device) = read_program(faults("io-write fail EINTR always"));
    let out = device.start(&orb(CPA), &started_schib(), CPA);
    assert_eq!(out.ret, IoInstEnding::Expected as i32);
    assert_eq!(out.actions, ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT);
    assert_eq!({ out.schib.scsw.dstat }, SCSW_DSTAT_UNIT_EXCEP);
    assert_eq!(guest.kernel.stats().ops.get(OpKind::IoWrite), TRIES);
}

#[test]
fn halt_on_eintr_forever_gives_up_with_unit_exception_after_bounded_tries() {
    let (guest, mut device) = read_program(faults("cmd-write fail EINTR always"));
    let out = device.halt(&started_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!({ out.schib.scsw.dstat }, SCSW_DSTAT_UNIT_EXCEP);
    assert_eq!(guest.kernel.stats().ops.get(OpKind::CmdWrite), TRIES);
}

#[test]
fn clear_on_eintr_forever_gives_up_with_unit_exception_after_bounded_tries() {
    let (guest, mut device) = read_program(faults("cmd-write fail EINTR always"));
    let out = device.clear(&started_schib(), CPA);
    assert_eq!({ out.schib.scsw.dstat }, SCSW_DSTAT_UNIT_EXCEP);
    assert_eq!(guest.kernel.stats().ops.get(OpKind::CmdWrite), TRIES);
}

#[test]
fn irb_read_on_eintr_forever_ends_the_program_with_program_check() {
    let (guest, mut device) = read_program(faults("io-read fail EINTR always"));
    assert_eq!(device.start(&orb(CPA), &started_schib(), CPA).ret, 0);
    let out = device.io_interrupt(&started_schib());
    assert_eq!(out.actions, ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT);
    let scsw = out.schib.scsw;
    assert_eq!(scsw.cstat, SCSW_CSTAT_PROG_CHECK);
    assert_ne!(scsw.ctrl & SCSW_STCTL_STATUS_PEND, 0);
    assert_eq!(guest.kernel.stats().ops.get(OpKind::IoRead), TRIES);
}

#[test]
fn store_on_eintr_forever_keeps_the_schib_and_returns_cc0() {
    let (guest, mut device) = read_program(faults("schib-read fail EINTR always"));
    let out = device.store(&started_schib());
    assert_eq!((out.ret, out.actions), (0, 0));
    assert_eq!(guest.kernel.stats().ops.get(OpKind::SchibRead), TRIES);
}

#[test]
fn crw_read_on_eintr_forever_stores_no_report() {
    let (guest, mut device) = read_program(faults("crw-read fail EINTR always"));
    guest.kernel.chp_offline(0x40);
    let mut crws = [Crw::default(); 8];
    assert_eq!(device.crw_interrupt(&mut crws), 0);
    assert_eq!(guest.kernel.stats().ops.get(OpKind::CrwRead), TRIES);
}

#[test]
fn crw_read_rides_out_a_few_eintrs_and_stores_the_report() {
    let (guest, mut device) = read_program(faults(&format!(
        "crw-read fail EINTR times {EINTR_RETRIES}"
    )));
    guest.kernel.chp_offline(0x40);
    let mut crws = [Crw::default(); 8];
    assert_eq!(device.crw_interrupt(&mut crws), 1);
    assert_eq!({ crws[0].rsid }, 0x0040);
}
