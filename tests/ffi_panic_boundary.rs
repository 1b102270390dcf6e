// SPDX-License-Identifier: GPL-2.0-or-later
//! No panic crosses into C: a bug below each exported function becomes
//! `QVC_STATUS_PANIC`, outputs stay untouched, and the device can still be
//! unrealized.

mod common;

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use qemu_vfio_ccw::css::{Crw, Orb, Schib};
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::ffi::*;
use qemu_vfio_ccw::logging;
use vfio_ccw_sim::SimConfig;

/// Once armed, every call on the device fd hits a bug.
#[derive(Clone, Default)]
struct Tripwire(Arc<AtomicBool>);

impl Hook for Tripwire {
    fn around<R>(&self, call: impl FnOnce() -> R) -> R {
        if self.0.load(Ordering::SeqCst) {
            panic!("a bug below the C ABI");
        }
        call()
    }
}

/// A registered device whose fd panics from now on, and its guest.
fn armed_device() -> (Guest, QvcHandle, Tripwire) {
    let guest = Guest::new(SimConfig::default());
    let wire = Tripwire::default();
    let fd = Hooked::boxed(guest.fd(), wire.clone());
    let handle = register(Device::realize(fd, "0.0.0313", Config::default()).unwrap());
    wire.0.store(true, Ordering::SeqCst);
    (guest, handle, wire)
}

/// Makes the eventfd of `irq` readable, as the kernel would.
fn signal(handle: QvcHandle, irq: QvcIrq) {
    let mut fd = -1;
    // SAFETY: valid local.
    let status = unsafe { qvc_device_irq_fd(handle, irq as u32, &raw mut fd) };
    assert_eq!(status, QvcStatus::Ok);
    let one = 1u64.to_ne_bytes();
    // SAFETY: `fd` is the device's open eventfd; `one` is 8 bytes.
    assert_eq!(unsafe { libc::write(fd, one.as_ptr().cast(), 8) }, 8);
}

/// Each operation on the armed device is caught, and leaves `out` alone.
#[test]
fn a_panic_in_any_device_operation_becomes_a_status_with_outputs_untouched() {
    let orb = Orb::default();
    let schib = Schib::default();
    let call = |name: &str, h: QvcHandle, out: &mut QvcOutcome| -> QvcStatus {
        let (orb, schib, out) = (&raw const orb, &raw const schib, &raw mut *out);
        // SAFETY: every pointer comes from a live reference.
        unsafe {
            match name {
                "start" => qvc_device_start(h, orb, schib, 0, out),
                "halt" => qvc_device_halt(h, schib, 0, out),
                "clear" => qvc_device_clear(h, schib, 0, out),
                "store" => qvc_device_store(h, schib, out),
                _ => {
                    signal(h, QvcIrq::Io);
                    qvc_device_io_interrupt(h, schib, out)
                }
            }
        }
    };
    for name in ["start", "halt", "clear", "store", "io_interrupt"] {
        let (_guest, handle, wire) = armed_device();
        let mut out = QvcOutcome {
            ret: 42,
            ..QvcOutcome::new()
        };
        assert_eq!(call(name, handle, &mut out), QvcStatus::Panic, "{name}");
        assert_eq!(
            out,
            QvcOutcome {
                ret: 42,
                ..QvcOutcome::new()
            },
            "{name}: no output after a panic"
        );
        wire.0.store(false, Ordering::SeqCst);
        assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok, "{name}");
    }
}

#[test]
fn a_panic_in_the_crw_interrupt_becomes_a_status_with_no_count() {
    let (_guest, handle, wire) = armed_device();
    signal(handle, QvcIrq::Crw);
    let mut crws = [Crw::default(); 4];
    let mut count = 77usize;
    // SAFETY: valid locals.
    let status =
        unsafe { qvc_device_crw_interrupt(handle, crws.as_mut_ptr(), crws.len(), &raw mut count) };
    assert_eq!(status, QvcStatus::Panic);
    assert_eq!(count, 77);
    wire.0.store(false, Ordering::SeqCst);
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
}

#[test]
fn a_panic_in_reset_becomes_a_status() {
    let (_guest, handle, wire) = armed_device();
    assert_eq!(qvc_device_reset(handle), QvcStatus::Panic);
    wire.0.store(false, Ordering::SeqCst);
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
}

#[test]
fn a_panic_in_the_teardown_becomes_a_status_and_the_handle_is_gone() {
    let (_guest, handle, _wire) = armed_device();
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Panic);
    assert_eq!(qvc_device_reset(handle), QvcStatus::InvalidHandle);
}

/// Panics when dropped: a sink holding it panics when replaced.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a bug in a sink's teardown");
    }
}

#[test]
fn a_panic_while_replacing_the_log_handler_becomes_a_status() {
    let held = PanicsOnDrop;
    logging::set_sink(Some(Box::new(move |_, _| {
        let _ = &held;
    })));
    assert_eq!(
        qvc_set_log_handler(None, std::ptr::null_mut::<c_void>()),
        QvcStatus::Panic
    );
    assert_eq!(
        qvc_set_log_handler(None, std::ptr::null_mut()),
        QvcStatus::Ok,
        "the next call works"
    );
}

/// The functions with no path to a panic through a device fd or a sink
/// (realize on a real fd, irq_fd, req_interrupt) are guarded the same way:
/// every exported function's body is the boundary. This reads the source,
/// so that a new export without it fails here.
#[test]
fn every_exported_function_runs_inside_the_panic_boundary() {
    let source = include_str!("../src/ffi.rs");
    let mut exports = 0;
    for (at, _) in source.match_indices("extern \"C\" fn qvc_") {
        let name: String = source[at + "extern \"C\" fn ".len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let body_start = at + source[at..].find("{\n").unwrap() + 2;
        let body = source[body_start..].trim_start();
        let guarded = body.starts_with("boundary(")
            || body.starts_with("// SAFETY: the pointers are checked inside")
                && body.contains("outcome_call(");
        // qvc_status_str only indexes a static table; qvc_abi_version
        // returns a constant.
        assert!(
            guarded || name == "qvc_status_str" || name == "qvc_abi_version",
            "{name} does not start with boundary(...)"
        );
        exports += 1;
    }
    assert_eq!(exports, 14, "the exported functions");
}
