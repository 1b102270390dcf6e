// SPDX-License-Identifier: GPL-2.0-or-later
//! The C ABI on a device: handles, panics caught at the boundary, and the
//! log handler.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

use common::*;
use nix::errno::Errno;
use qemu_vfio_ccw::css::Schib;
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::ffi::*;
use qemu_vfio_ccw::kernel::DeviceFd;
use vfio_ccw_sim::SimConfig;

/// A kernel whose SCHIB region read hits a bug in the library's caller
/// chain: the panic must stop at the boundary.
struct PanicsOnRead;

impl Hook for PanicsOnRead {
    fn read_at(&self, _: &dyn DeviceFd, _: &mut [u8], _: u64) -> Result<usize, Errno> {
        panic!("a bug below the C ABI");
    }
}

#[test]
fn a_panic_below_the_abi_becomes_a_status() {
    let guest = Guest::new(SimConfig::default());
    let device = Device::realize(
        Hooked::boxed(guest.fd(), PanicsOnRead),
        "0.0.0313",
        Config::default(),
    )
    .unwrap();
    let handle = register(device);
    let schib = Schib::default();
    let mut out = QvcOutcome {
        ret: 42,
        ..QvcOutcome::new()
    };
    // SAFETY: valid locals.
    let status = unsafe { qvc_device_store(handle, &raw const schib, &raw mut out) };
    assert_eq!(status, QvcStatus::Panic);
    assert_eq!(
        out,
        QvcOutcome {
            ret: 42,
            ..QvcOutcome::new()
        },
        "no output after a panic"
    );
    assert_eq!(
        qvc_device_unrealize(handle),
        QvcStatus::Ok,
        "the device can still be torn down"
    );
}

#[test]
fn an_unrealized_handle_is_refused() {
    let guest = Guest::new(SimConfig::default());
    let handle = register(guest.realize(Config::default()));
    assert_eq!(qvc_device_reset(handle), QvcStatus::Ok);
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
    assert_eq!(qvc_device_reset(handle), QvcStatus::InvalidHandle);
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::InvalidHandle);
}

#[test]
fn irq_fd_hands_out_the_eventfds_of_the_connected_interrupts() {
    let guest = Guest::new(SimConfig::default());
    let handle = register(guest.realize(Config::default()));
    let mut fds = [0; 3];
    for (irq, fd) in fds.iter_mut().enumerate() {
        // SAFETY: valid local.
        let status = unsafe { qvc_device_irq_fd(handle, irq as u32, fd) };
        assert_eq!(status, QvcStatus::Ok);
        assert!(*fd >= 0);
    }
    assert!(fds[0] != fds[1] && fds[1] != fds[2]);
    qvc_device_unrealize(handle);
}

static MESSAGES: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(opaque: *mut c_void, level: QvcLogLevel, message: *const c_char) {
    assert_eq!(opaque as usize, 0x5eed);
    // SAFETY: the library passes a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    MESSAGES.lock().unwrap().push((level as u32, text));
}

#[test]
fn library_messages_reach_the_log_handler_naming_the_device() {
    let mut guest = Guest::new(SimConfig::default());
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let handle = register(
        Device::realize(
            guest.fd(),
            "0.0.0313",
            Config {
                force_orb_pfch: true,
            },
        )
        .unwrap(),
    );
    assert_eq!(
        qvc_set_log_handler(Some(collect), 0x5eed as *mut c_void),
        QvcStatus::Ok
    );
    let mut orb = orb(CPA);
    orb.ctrl0 &= !qemu_vfio_ccw::css::ORB_CTRL0_MASK_PFCH;
    let schib = started_schib();
    let mut out = QvcOutcome {
        ret: 0,
        ..QvcOutcome::new()
    };
    for _ in 0..2 {
        // SAFETY: valid locals.
        let status = unsafe {
            qvc_device_start(handle, &raw const orb, &raw const schib, CPA, &raw mut out)
        };
        assert_eq!(status, QvcStatus::Ok);
        // SAFETY: valid locals.
        unsafe { qvc_device_io_interrupt(handle, &raw const schib, &raw mut out) };
    }
    assert_eq!(
        qvc_set_log_handler(None, std::ptr::null_mut()),
        QvcStatus::Ok
    );
    qvc_device_unrealize(handle);
    let messages = MESSAGES.lock().unwrap();
    let pfch: Vec<_> = messages
        .iter()
        .filter(|(_, m)| m.contains("PFCH"))
        .collect();
    assert_eq!(pfch.len(), 1, "warned once per device: {messages:?}");
    assert_eq!(pfch[0].0, QvcLogLevel::Warn as u32);
    assert!(
        pfch[0].1.starts_with("vfio-ccw 0.0.0313: "),
        "{}",
        pfch[0].1
    );
}

#[test]
fn crw_interrupt_stores_at_most_the_capacity_max_whatever_capacity_the_caller_claims() {
    let guest = Guest::new(SimConfig::default());
    let handle = register(guest.realize(Config::default()));
    for _ in 0..QVC_CRW_CAPACITY_MAX {
        guest.kernel.chp_offline(0x40);
        guest.kernel.chp_online(0x40);
    }
    let mut crws = [qemu_vfio_ccw::css::Crw::default(); QVC_CRW_CAPACITY_MAX];
    let mut count = 0usize;
    // SAFETY: `crws` is writable for QVC_CRW_CAPACITY_MAX reports, all the
    // library may store; the claimed capacity is a lie it must survive.
    let status =
        unsafe { qvc_device_crw_interrupt(handle, crws.as_mut_ptr(), usize::MAX, &raw mut count) };
    assert_eq!(status, QvcStatus::Ok);
    assert_eq!(count, QVC_CRW_CAPACITY_MAX);
    assert_eq!(
        guest.kernel.stats().ops.crw_read,
        QVC_CRW_CAPACITY_MAX as u64,
        "no read beyond the bound"
    );
    qvc_device_unrealize(handle);
}

#[test]
fn a_device_whose_handle_cannot_be_written_out_is_torn_down_not_leaked() {
    let guest = Guest::new(SimConfig::default());
    let device = guest.realize(Config::default());
    let connected = guest.kernel.stats().ops.set_irqs;
    let mut issued = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        publish(device, |handle| {
            issued = handle;
            panic!("the caller's out-pointer is bad");
        })
    }));
    assert!(result.is_err());
    assert_eq!(
        guest.kernel.stats().ops.set_irqs - connected,
        3,
        "the device disconnected its three interrupts"
    );
    assert_eq!(
        qvc_device_unrealize(issued),
        QvcStatus::InvalidHandle,
        "the handle was never registered"
    );
}
