// SPDX-License-Identifier: GPL-2.0-or-later
//! The I/O path, SSCH to interrupt, makes no heap allocation and three
//! syscalls: the I/O region write, the eventfd read and the I/O region
//! read. One test in its own binary, so that no other test thread
//! allocates or reads meanwhile.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use counting_alloc::{in_kernel, in_userspace};
use qemu_vfio_ccw::device::{Config, Device, ACTION_INJECT_IO_INTERRUPT};
use vfio_ccw_sim::SimConfig;

static DEVICE_FD_CALLS: AtomicU64 = AtomicU64::new(0);

/// The device fd as a syscall: counted, and kernel time for the allocator.
struct Syscall;

impl Hook for Syscall {
    fn around<R>(&self, call: impl FnOnce() -> R) -> R {
        DEVICE_FD_CALLS.fetch_add(1, Ordering::Relaxed);
        in_kernel(call)
    }
}

/// read(2)-family syscalls of this process so far (task I/O accounting).
fn read_syscalls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("syscr in /proc/self/io")
}

#[test]
fn ssch_to_interrupt_allocates_nothing_and_makes_three_syscalls() {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let mut device = Device::realize(
        Hooked::boxed(guest.fd(), Syscall),
        "0.0.0313",
        Config::default(),
    )
    .unwrap();
    let schib = started_schib();
    let orb = orb(CPA);
    const IOS: u64 = 100;

    // Warm up lazily initialised state (the first I/O).
    device.start(&orb, &schib, CPA);
    device.io_interrupt(&schib);

    // What reading /proc/self/io costs in read syscalls itself.
    let probe = read_syscalls();
    let probe_cost = read_syscalls() - probe;

    let allocations = counting_alloc::allocations();
    let fd_calls = DEVICE_FD_CALLS.load(Ordering::Relaxed);
    let reads = read_syscalls();
    let mut injected = 0;
    in_userspace(|| {
        for _ in 0..IOS {
            let started = device.start(&orb, &schib, CPA).ret == 0;
            let out = device.io_interrupt(&schib);
            injected += u64::from(started && out.actions & ACTION_INJECT_IO_INTERRUPT != 0);
        }
    });
    let reads = read_syscalls() - reads - probe_cost;
    let fd_calls = DEVICE_FD_CALLS.load(Ordering::Relaxed) - fd_calls;
    let allocations = counting_alloc::allocations() - allocations;

    assert_eq!(injected, IOS, "every I/O started and interrupted");
    assert_eq!(allocations, 0, "heap allocations in {IOS} I/Os");
    assert_eq!(
        fd_calls,
        2 * IOS,
        "device fd syscalls: one region write, one region read per I/O"
    );
    assert_eq!(
        reads, IOS,
        "the eventfd read is the only other read syscall"
    );
}
