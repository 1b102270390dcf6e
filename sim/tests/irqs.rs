// SPDX-License-Identifier: GPL-2.0-or-later
//! VFIO_DEVICE_SET_IRQS: the generic checks, the ccw handler, and how
//! interrupts reach the eventfds (kernel-contract.md 6).

mod common;
use std::os::fd::AsRawFd;

use common::*;
use nix::errno::Errno;
use vfio_ccw_uapi::device_fd::DeviceFd;

const NONE_TRIGGER: u32 = 0x21;
const BOOL_TRIGGER: u32 = 0x22;
const EVENTFD_TRIGGER: u32 = 0x24;

#[test]
fn set_irqs_generic_checks_are_einval() {
    let r = rig();
    let fd = (-1i32).to_ne_bytes();
    for (argsz, flags, index, start, count) in [
        (19, EVENTFD_TRIGGER, 0, 0, 1),        // argsz below the header
        (24, EVENTFD_TRIGGER, 3, 0, 1),        // index
        (24, EVENTFD_TRIGGER | 0x40, 0, 0, 1), // unknown flag
        (24, 0x26, 0, 0, 1),                   // two data types
        (24, EVENTFD_TRIGGER, 0, 1, 0),        // start
        (28, EVENTFD_TRIGGER, 0, 0, 2),        // count beyond one IRQ
        (22, EVENTFD_TRIGGER, 0, 0, 1),        // data shorter than count x 4
        (24, 0x04, 0, 0, 1),                   // no trigger action
    ] {
        let b = irq_set(argsz, flags, index, start, count, &fd);
        assert_eq!(
            r.fd.set_irqs(&b),
            Err(Errno::EINVAL),
            "{argsz} {flags:#x} {index} {start} {count}"
        );
    }
}

#[test]
fn data_none_fires_the_eventfd_even_with_count_zero() {
    let r = rig();
    r.fd.set_irqs(&irq_set(20, NONE_TRIGGER, 0, 0, 0, &[]))
        .unwrap();
    assert_eq!(take(&r.io_efd), 1, "count 0 does not tear down");
    r.fd.set_irqs(&irq_set(20, NONE_TRIGGER, 0, 0, 1, &[]))
        .unwrap();
    assert_eq!(take(&r.io_efd), 1);
}

#[test]
fn data_bool_fires_only_for_a_nonzero_byte() {
    let r = rig();
    r.fd.set_irqs(&irq_set(21, BOOL_TRIGGER, 0, 0, 1, &[0]))
        .unwrap();
    assert_eq!(take(&r.io_efd), 0);
    r.fd.set_irqs(&irq_set(21, BOOL_TRIGGER, 0, 0, 1, &[1]))
        .unwrap();
    assert_eq!(take(&r.io_efd), 1);
}

#[test]
fn data_eventfd_minus_one_releases_the_eventfd() {
    let r = rig();
    set_eventfd(&r.fd, 0, -1).unwrap();
    r.kernel.unsolicited_interrupt(0x80);
    assert_eq!(take(&r.io_efd), 0);
    assert_ne!(irb(&r.fd), [0; 96], "the IRB is still stored");
}

#[test]
fn a_closed_fd_is_ebadf_and_a_non_eventfd_is_einval() {
    let r = rig();
    assert_eq!(set_eventfd(&r.fd, 0, 9999), Err(Errno::EBADF));
    let (rd, _wr) = nix::unistd::pipe().unwrap();
    assert_eq!(set_eventfd(&r.fd, 0, rd.as_raw_fd()), Err(Errno::EINVAL));
    assert_eq!(set_eventfd(&r.fd, 0, -2), Err(Errno::EINVAL));
}

#[test]
fn the_kernel_keeps_its_own_reference_to_the_eventfd() {
    let r = rig();
    let efd = new_eventfd();
    let dup = efd.as_fd_raw();
    set_eventfd(&r.fd, 1, dup).unwrap();
    let reader = nix::unistd::dup(efd.as_raw_fd()).unwrap();
    drop(efd);
    r.kernel.chp_offline(0x40);
    let mut b = [0u8; 8];
    assert_eq!(nix::unistd::read(reader, &mut b), Ok(8));
    assert_eq!(u64::from_ne_bytes(b), 1);
    nix::unistd::close(reader).unwrap();
}

#[test]
fn every_delivered_irb_adds_one_to_the_io_eventfd() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    for _ in 0..3 {
        ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    }
    assert_eq!(take(&r.io_efd), 3);
    assert_eq!(r.kernel.stats().interrupts.io, 3);
}
