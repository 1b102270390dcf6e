// SPDX-License-Identifier: GPL-2.0-or-later
//! Figures for the I/O path against the in-process simulated kernel:
//! time per SSCH-to-interrupt round trip, heap allocations and device-fd
//! calls per I/O, split into library and simulated-kernel time; once
//! calling the device's methods and once through the C ABI as QEMU's shim
//! calls it (registry lookup, panic boundary, outcome copy included).
//! Run with `scripts/bench`; prints, never asserts.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Hook, Hooked, Ram};
use counting_alloc::{allocations, in_kernel, in_userspace};
use qemu_vfio_ccw::css::{Orb, Pmcw, Schib, Scsw, ORB_CTRL0_MASK_PFCH};
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::ffi::{
    qvc_device_io_interrupt, qvc_device_start, register, QvcHandle, QvcOutcome, QvcStatus,
};
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Response, Transfer};
use vfio_ccw_sim::{Kernel, SimConfig};

static KERNEL_NANOS: AtomicU64 = AtomicU64::new(0);
static FD_CALLS: AtomicU64 = AtomicU64::new(0);

/// The device fd, timed and counted as kernel work.
struct Timed;

impl Hook for Timed {
    fn around<R>(&self, call: impl FnOnce() -> R) -> R {
        FD_CALLS.fetch_add(1, Ordering::Relaxed);
        in_kernel(|| {
            let start = Instant::now();
            let result = call();
            KERNEL_NANOS.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            result
        })
    }
}

/// A device that answers a no-operation at once: the I/O path itself.
struct Nop;

impl CcwDevice for Nop {
    fn command(&mut self, _: u8, _: Transfer<'_>) -> Response {
        Response {
            dstat: dstat::CHANNEL_END | dstat::DEVICE_END,
            len: 0,
        }
    }
    fn sense(&self) -> [u8; 32] {
        [0; 32]
    }
    fn reset(&mut self) {}
}

fn main() {
    // cargo bench adds flags of its own (--bench): take the first number.
    let ios: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let kernel: Arc<Kernel> = Kernel::new(SimConfig::default(), Box::new(Nop));
    let mut ram = Ram::new(1 << 16);
    // A no-operation CCW at 0x1000 (format 1, SLI, count 1).
    ram[0x1000..0x1008].copy_from_slice(&[0x03, 0x20, 0, 1, 0, 0, 0x20, 0]);
    kernel
        .dma_map(0, ram.as_ptr() as u64, ram.len() as u64, 3)
        .expect("dma map");
    let realize = || {
        let fd = Hooked::boxed(Box::new(kernel.open_device().expect("open")), Timed);
        Device::realize(fd, "0.0.0313", Config::default()).expect("realize")
    };
    let orb = Orb {
        ctrl0: 0x0080 | ORB_CTRL0_MASK_PFCH,
        lpm: 0xff,
        cpa: 0x1000,
        ..Orb::default()
    };
    let schib = Schib {
        pmcw: Pmcw {
            devno: 0x0313,
            ..Pmcw::default()
        },
        scsw: Scsw {
            ctrl: 0x4000 | 0x0400,
            ..Scsw::default()
        },
        ..Schib::default()
    };

    println!("I/O path, SSCH to interrupt, {ios} no-op channel programs on the simulated kernel");
    let mut device = realize();
    measure("the device's methods", ios, || {
        assert_eq!(device.start(&orb, &schib, 0x1000).ret, 0);
        assert_ne!(device.io_interrupt(&schib).actions, 0);
    });
    drop(device);

    let handle: QvcHandle = register(realize());
    let mut out = QvcOutcome::new();
    measure("the C ABI (QEMU's shim's calls)", ios, || {
        // SAFETY: every pointer is to a live local of the right type.
        unsafe {
            assert_eq!(
                qvc_device_start(
                    handle,
                    &raw const orb,
                    &raw const schib,
                    0x1000,
                    &raw mut out
                ),
                QvcStatus::Ok
            );
            assert_eq!(out.ret, 0);
            assert_eq!(
                qvc_device_io_interrupt(handle, &raw const schib, &raw mut out),
                QvcStatus::Ok
            );
        }
        assert_ne!(out.actions, 0);
    });
}

/// Runs `round` 1,000 times to warm up, then `ios` times, and prints the
/// figures of the timed part.
fn measure(how: &str, ios: u64, mut round: impl FnMut()) {
    for _ in 0..1000 {
        round();
    }
    let (a0, k0, f0) = (
        allocations(),
        KERNEL_NANOS.load(Ordering::Relaxed),
        FD_CALLS.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    in_userspace(|| {
        for _ in 0..ios {
            round();
        }
    });
    let total = start.elapsed();
    let kernel_time = Duration::from_nanos(KERNEL_NANOS.load(Ordering::Relaxed) - k0);
    let per = |d: Duration| d.as_nanos() as f64 / ios as f64;
    println!(" through {how}:");
    println!(
        "  round trip            {:8.0} ns/io  ({:.0} io/s)",
        per(total),
        ios as f64 / total.as_secs_f64()
    );
    println!(
        "  in the library        {:8.0} ns/io",
        per(total.saturating_sub(kernel_time))
    );
    println!("  in the simulated kernel {:6.0} ns/io", per(kernel_time));
    println!(
        "  heap allocations      {:8.3} /io",
        (allocations() - a0) as f64 / ios as f64
    );
    println!(
        "  device-fd calls       {:8.3} /io  (+1 eventfd read)",
        (FD_CALLS.load(Ordering::Relaxed) - f0) as f64 / ios as f64
    );
}
