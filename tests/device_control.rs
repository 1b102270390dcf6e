// SPDX-License-Identifier: GPL-2.0-or-later
//! HALT, CLEAR, STORE SUBCHANNEL, channel reports, the request interrupt,
//! reset and teardown, against the simulated kernel.

mod common;

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use qemu_vfio_ccw::irq::Irq;
use vfio_ccw_sim::subchannel::{Description, Paths};
use vfio_ccw_sim::{FaultScript, SimConfig};

fn faults(text: &str) -> SimConfig {
    SimConfig {
        faults: FaultScript::parse(text).expect("fault script"),
        ..SimConfig::default()
    }
}

/// A device with a read program started and held running by the host.
fn running(config: SimConfig) -> (Guest, Device) {
    let mut guest = Guest::new(config);
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let mut device = guest.realize(Config::default());
    assert_eq!(device.start(&orb(CPA), &started_schib(), CPA).ret, 0);
    (guest, device)
}

fn halted_schib() -> Schib {
    let mut schib = started_schib();
    schib.scsw.ctrl = SCSW_FCTL_START_FUNC | SCSW_FCTL_HALT_FUNC | SCSW_ACTL_HALT_PEND;
    schib
}

#[test]
fn halt_of_a_running_program_is_accepted_and_ends_it() {
    let (_guest, mut device) = running(faults("io-write #1 stall"));
    let out = device.halt(&halted_schib(), CPA);
    assert_eq!((out.ret, out.actions), (0, 0));
    let irq = device.io_interrupt(&halted_schib());
    assert_ne!(irq.actions & ACTION_INJECT_IO_INTERRUPT, 0);
    let scsw = irq.schib.scsw;
    assert_ne!(
        scsw.ctrl & SCSW_FCTL_HALT_FUNC,
        0,
        "the IRB reports the halt function"
    );
}

#[test]
fn clear_of_a_running_program_is_accepted_and_ends_it() {
    let (_guest, mut device) = running(faults("io-write #1 stall"));
    let mut schib = started_schib();
    schib.scsw.ctrl = SCSW_FCTL_CLEAR_FUNC | SCSW_ACTL_CLEAR_PEND;
    let out = device.clear(&schib, CPA);
    assert_eq!((out.ret, out.actions), (0, 0));
    let irq = device.io_interrupt(&schib);
    assert_ne!({ irq.schib.scsw.ctrl } & SCSW_FCTL_CLEAR_FUNC, 0);
}

#[test]
fn halt_on_ebusy_returns_ebusy_for_css_to_make_cc2() {
    let (_guest, mut device) = running(faults("cmd-write #1 fail EBUSY"));
    let out = device.halt(&halted_schib(), CPA);
    assert_eq!((out.ret, out.actions), (-libc::EBUSY, 0));
}

#[test]
fn halt_on_enodev_returns_enodev() {
    let (_guest, mut device) = running(faults("cmd-write #1 fail ENODEV"));
    assert_eq!(device.halt(&halted_schib(), CPA).ret, -libc::ENODEV);
}

#[test]
fn clear_on_eacces_returns_eacces() {
    let (_guest, mut device) = running(faults("cmd-write #1 fail EACCES"));
    assert_eq!(device.clear(&started_schib(), CPA).ret, -libc::EACCES);
}

#[test]
fn clear_on_ebusy_ends_with_unit_exception_since_clear_has_no_busy_cc() {
    let (_guest, mut device) = running(faults("cmd-write #1 fail EBUSY"));
    let out = device.clear(&started_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!(out.actions, ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT);
    assert_eq!({ out.schib.scsw.dstat }, SCSW_DSTAT_UNIT_EXCEP);
}

#[test]
fn halt_on_einval_ends_with_unit_exception() {
    let (_guest, mut device) = running(faults("cmd-write #1 fail EINVAL"));
    let out = device.halt(&halted_schib(), CPA);
    assert_eq!(out.ret, 0);
    assert_eq!({ out.schib.scsw.dstat }, SCSW_DSTAT_UNIT_EXCEP);
    assert_eq!({ out.schib.scsw.cpa }, CPA + 8);
}

/// A subchannel on CHPIDs 0x40 and 0x41 with `pam` the paths available.
fn two_paths(pam: u8) -> SimConfig {
    let mut paths = Paths::installed(&[0x40, 0x41]);
    paths.pam = pam;
    SimConfig {
        subchannel: Description {
            paths,
            ..Description::default()
        },
        ..SimConfig::default()
    }
}

#[test]
fn store_copies_the_hosts_path_masks_and_keeps_the_rest() {
    let config = two_paths(0x80);
    let guest = Guest::new(config);
    let mut device = guest.realize(Config::default());
    let mut current = started_schib();
    current.pmcw.pam = 0;
    current.pmcw.pom = 0;
    current.pmcw.intparm = 0x1234_5678;
    let out = device.store(&current);
    assert_eq!((out.ret, out.actions), (0, ACTION_SET_SCHIB));
    let pmcw = out.schib.pmcw;
    assert_eq!(pmcw.pam, 0x80);
    assert_eq!(pmcw.pom, 0xff);
    assert_eq!(pmcw.intparm, 0x1234_5678, "the guest's intparm stays");
    assert_eq!(
        pmcw.pim, 0x80,
        "PIM comes from the guest's SCHIB, not the host"
    );
}

#[test]
fn store_after_a_path_goes_offline_shows_it_unavailable() {
    let config = two_paths(0xc0);
    let guest = Guest::new(config);
    let mut device = guest.realize(Config::default());
    guest.kernel.chp_offline(0x41);
    let out = device.store(&started_schib());
    assert_eq!({ out.schib.pmcw.pam }, 0x80);
}

#[test]
fn store_after_a_vary_off_keeps_the_path_masks_since_only_the_hosts_usable_mask_changes() {
    let config = two_paths(0xc0);
    let guest = Guest::new(config);
    let mut device = guest.realize(Config::default());
    guest.kernel.vary_off(0x41);
    let out = device.store(&started_schib());
    assert_eq!({ out.schib.pmcw.pam }, 0xc0);
}

#[test]
fn store_on_a_failed_schib_read_keeps_the_schib_and_returns_cc0() {
    let guest = Guest::new(faults("schib-read #1 fail ENODEV"));
    let mut device = guest.realize(Config::default());
    let out = device.store(&started_schib());
    assert_eq!((out.ret, out.actions), (0, 0));
}

#[test]
fn a_path_going_offline_is_reported_as_a_crw() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    guest.kernel.chp_offline(0x40);
    let mut crws = [Crw::default(); 8];
    let n = device.crw_interrupt(&mut crws);
    assert_eq!(n, 1);
    assert_eq!(
        crws[0],
        Crw {
            flags: 0x0406,
            rsid: 0x0040
        },
        "RSC 4 channel path, ERC 6"
    );
}

#[test]
fn a_path_coming_online_is_reported_as_a_crw() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    guest.kernel.chp_offline(0x40);
    guest.kernel.chp_online(0x40);
    let mut crws = [Crw::default(); 8];
    assert_eq!(device.crw_interrupt(&mut crws), 2);
    assert_eq!(
        crws[1],
        Crw {
            flags: 0x0402,
            rsid: 0x0040
        },
        "ERC 2: initialized"
    );
}

#[test]
fn crws_beyond_the_callers_capacity_come_with_the_next_signal() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    guest.kernel.chp_offline(0x40);
    guest.kernel.chp_online(0x40);
    guest.kernel.chp_offline(0x40);
    let mut one = [Crw::default(); 1];
    let mut seen = Vec::new();
    for _ in 0..3 {
        assert_eq!(device.crw_interrupt(&mut one), 1);
        seen.push(one[0].flags);
    }
    assert_eq!(seen, [0x0406, 0x0402, 0x0406]);
    assert_eq!(
        device.crw_interrupt(&mut one),
        0,
        "queue drained, no signal left"
    );
}

#[test]
fn crw_interrupt_without_a_signal_reads_nothing() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    let mut crws = [Crw::default(); 4];
    assert_eq!(device.crw_interrupt(&mut crws), 0);
    assert_eq!(guest.kernel.stats().ops.crw_read, 0);
}

#[test]
fn unbind_on_the_host_asks_qemu_to_unplug() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    assert!(!device.req_interrupt());
    guest.kernel.unbind();
    assert!(device.req_interrupt());
}

#[test]
fn reset_reaches_the_kernel() {
    let guest = Guest::new(SimConfig::default());
    let mut device = guest.realize(Config::default());
    device.reset().expect("reset");
    assert_eq!(guest.kernel.stats().ops.reset, 1);
}

#[test]
fn realize_connects_all_three_interrupts_on_a_current_kernel() {
    let guest = Guest::new(SimConfig::default());
    let device = guest.realize(Config::default());
    for irq in Irq::ALL {
        assert!(device.irq_fd(irq).is_some(), "{irq:?}");
    }
    let regions = device.regions();
    assert!(regions.async_cmd.is_some() && regions.schib.is_some() && regions.crw.is_some());
}

#[test]
fn teardown_disconnects_every_interrupt_it_connected() {
    let guest = Guest::new(SimConfig::default());
    let device = guest.realize(Config::default());
    let before = guest.kernel.stats().ops.set_irqs;
    drop(device);
    assert_eq!(guest.kernel.stats().ops.set_irqs - before, 3);
}
