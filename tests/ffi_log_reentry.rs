// SPDX-License-Identifier: GPL-2.0-or-later
//! A log handler that calls back into the library gets an error status
//! instead of deadlocking on the lock the reporting call holds. Its own
//! file: the log handler is process-wide.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use common::*;
use nix::errno::Errno;
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::ffi::*;
use qemu_vfio_ccw::kernel::DeviceFd;
use vfio_ccw_sim::SimConfig;

/// A kernel whose reset fails, so that the library reports it.
struct ResetFails;

impl Hook for ResetFails {
    fn reset(&self, _: &dyn DeviceFd) -> Result<(), Errno> {
        Err(Errno::EIO)
    }
}

static HANDLE: AtomicU64 = AtomicU64::new(0);
/// What the handler's calls back into the library returned.
static FROM_HANDLER: Mutex<Vec<(&str, QvcStatus)>> = Mutex::new(Vec::new());

unsafe extern "C" fn calls_back(_: *mut c_void, _: QvcLogLevel, message: *const c_char) {
    // SAFETY: the library passes a NUL-terminated string.
    let message = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    if !message.contains("device reset failed") {
        return;
    }
    let handle = HANDLE.load(Ordering::Relaxed);
    let mut seen = FROM_HANDLER.lock().unwrap();
    seen.push(("reset", qvc_device_reset(handle)));
    seen.push(("unrealize", qvc_device_unrealize(handle)));
    seen.push((
        "set_log_handler",
        qvc_set_log_handler(None, std::ptr::null_mut()),
    ));
}

#[test]
fn a_log_handler_calling_back_into_the_library_is_refused_not_deadlocked() {
    let guest = Guest::new(SimConfig::default());
    let device = Device::realize(
        Hooked::boxed(guest.fd(), ResetFails),
        "0.0.0313",
        Config::default(),
    )
    .unwrap();
    let handle = register(device);
    HANDLE.store(handle, Ordering::Relaxed);
    assert_eq!(
        qvc_set_log_handler(Some(calls_back), std::ptr::null_mut()),
        QvcStatus::Ok
    );
    assert_eq!(qvc_device_reset(handle), QvcStatus::Ok);
    assert_eq!(
        *FROM_HANDLER.lock().unwrap(),
        [
            ("reset", QvcStatus::Reentrant),
            ("unrealize", QvcStatus::Reentrant),
            ("set_log_handler", QvcStatus::Reentrant),
        ]
    );
    // SAFETY: the library returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(qvc_status_str(QvcStatus::Reentrant as u32)) };
    assert!(text.to_string_lossy().contains("log handler"));
    assert_eq!(
        qvc_device_unrealize(handle),
        QvcStatus::Ok,
        "the device is intact and the next call, outside the handler, works"
    );
    assert_eq!(
        qvc_set_log_handler(None, std::ptr::null_mut()),
        QvcStatus::Ok
    );
}
