// SPDX-License-Identifier: GPL-2.0-or-later
//! The I/O path, SSCH to interrupt, makes no heap allocation and three
//! syscalls: the I/O region write, the eventfd read and the I/O region
//! read. One test in its own binary, so that no other test thread
//! allocates or reads meanwhile.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use nix::errno::Errno;
use qemu_vfio_ccw::device::{Config, Device, ACTION_INJECT_IO_INTERRUPT};
use qemu_vfio_ccw::kernel::DeviceFd;
use qemu_vfio_ccw::uapi::{vfio_device_info, vfio_irq_info};
use vfio_ccw_sim::SimConfig;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    /// True on the measuring thread while it runs library code. False
    /// while the simulated kernel runs: a real kernel's allocations are not
    /// on QEMU's heap, so the simulator's do not count. Other threads (the
    /// test harness's) never count.
    static IN_USERSPACE: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if IN_USERSPACE.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if IN_USERSPACE.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

static DEVICE_FD_CALLS: AtomicU64 = AtomicU64::new(0);

/// The device fd as a syscall: counted, and kernel time for the allocator.
struct Syscall(Box<dyn DeviceFd>);

impl Syscall {
    fn enter<R>(&self, op: impl FnOnce(&dyn DeviceFd) -> R) -> R {
        DEVICE_FD_CALLS.fetch_add(1, Ordering::Relaxed);
        let measuring = IN_USERSPACE.with(|u| u.replace(false));
        let result = op(&*self.0);
        IN_USERSPACE.with(|u| u.set(measuring));
        result
    }
}

impl DeviceFd for Syscall {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.enter(|fd| fd.read_at(buf, offset))
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.enter(|fd| fd.write_at(buf, offset))
    }
    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.enter(|fd| fd.get_device_info(info))
    }
    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.enter(|fd| fd.get_region_info(buf))
    }
    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.enter(|fd| fd.get_irq_info(info))
    }
    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno> {
        self.enter(|fd| fd.set_irqs(buf))
    }
    fn reset(&self) -> Result<(), Errno> {
        self.enter(|fd| fd.reset())
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
    let mut device =
        Device::realize(Box::new(Syscall(guest.fd())), "0.0.0313", Config::default()).unwrap();
    let schib = started_schib();
    let orb = orb(CPA);
    const IOS: u64 = 100;

    // Warm up lazily initialised state (the first I/O).
    device.start(&orb, &schib, CPA);
    device.io_interrupt(&schib);

    // What reading /proc/self/io costs in read syscalls itself.
    let probe = read_syscalls();
    let probe_cost = read_syscalls() - probe;

    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let fd_calls = DEVICE_FD_CALLS.load(Ordering::Relaxed);
    let reads = read_syscalls();
    let mut injected = 0;
    IN_USERSPACE.with(|u| u.set(true));
    for _ in 0..IOS {
        let started = device.start(&orb, &schib, CPA).ret == 0;
        let out = device.io_interrupt(&schib);
        injected += u64::from(started && out.actions & ACTION_INJECT_IO_INTERRUPT != 0);
    }
    IN_USERSPACE.with(|u| u.set(false));
    let reads = read_syscalls() - reads - probe_cost;
    let fd_calls = DEVICE_FD_CALLS.load(Ordering::Relaxed) - fd_calls;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations;

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
