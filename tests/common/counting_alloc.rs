// SPDX-License-Identifier: GPL-2.0-or-later
//! A global allocator that counts the heap allocations the library makes
//! on the I/O path. Not part of `common/mod.rs`: a global allocator is
//! process-wide, so only the binaries that measure include it, by path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

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
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    if IN_USERSPACE.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The allocations counted so far, process-wide.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Runs `f` as the library on this thread: its allocations count.
pub fn in_userspace<R>(f: impl FnOnce() -> R) -> R {
    with_userspace(true, f)
}

/// Runs `f` as the kernel: its allocations do not count.
pub fn in_kernel<R>(f: impl FnOnce() -> R) -> R {
    with_userspace(false, f)
}

fn with_userspace<R>(userspace: bool, f: impl FnOnce() -> R) -> R {
    let outer = IN_USERSPACE.with(|u| u.replace(userspace));
    let result = f();
    IN_USERSPACE.with(|u| u.set(outer));
    result
}
