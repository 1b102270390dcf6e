// SPDX-License-Identifier: GPL-2.0-or-later
//! Soak: 10,000 realize / SSCH / I/O interrupt / unrealize cycles through
//! the C ABI on one simulated host. Open descriptors and live heap bytes
//! must be the same after the last cycle as after the first hundred: a
//! leak of one eventfd or one handle-map entry per cycle shows at once.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::*;
use qemu_vfio_ccw::device::{Config, Device, ACTION_INJECT_IO_INTERRUPT};
use qemu_vfio_ccw::ffi::*;
use vfio_ccw_sim::SimConfig;

/// Live heap bytes of the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Live;

// SAFETY: forwards to the system allocator unchanged; only keeps a sum.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Live = Live;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

const CYCLES: usize = 10_000;
const WARM_UP: usize = 100;

#[test]
fn ten_thousand_device_lifetimes_leave_descriptors_and_heap_flat() {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let schib = started_schib();
    let orb = orb(CPA);
    let mut baseline = (0, 0);
    for cycle in 0..CYCLES {
        if cycle == WARM_UP {
            baseline = (open_fds(), LIVE.load(Ordering::Relaxed));
        }
        let handle = register(Device::realize(guest.fd(), "0.0.0313", Config::default()).unwrap());
        let mut out = QvcOutcome {
            ret: -1,
            ..QvcOutcome::new()
        };
        // SAFETY: valid locals.
        let status = unsafe {
            qvc_device_start(handle, &raw const orb, &raw const schib, CPA, &raw mut out)
        };
        assert_eq!((status, out.ret), (QvcStatus::Ok, 0), "cycle {cycle}");
        // SAFETY: valid locals.
        let status = unsafe { qvc_device_io_interrupt(handle, &raw const schib, &raw mut out) };
        assert_eq!(status, QvcStatus::Ok);
        assert_ne!(out.actions & ACTION_INJECT_IO_INTERRUPT, 0, "cycle {cycle}");
        assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
    }
    let after = (open_fds(), LIVE.load(Ordering::Relaxed));
    assert_eq!(after.0, baseline.0, "open descriptors");
    assert_eq!(after.1, baseline.1, "live heap bytes");
}
