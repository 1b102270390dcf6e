// SPDX-License-Identifier: GPL-2.0-or-later
//! The C ABI refuses bad input with a status, never a crash.

use std::ffi::{c_char, CStr};
use std::os::fd::AsRawFd;
use std::ptr::{null, null_mut};

use qemu_vfio_ccw::css::{Orb, Schib};
use qemu_vfio_ccw::device::Config;
use qemu_vfio_ccw::ffi::*;

fn realize_fd(fd: i32) -> (QvcStatus, String) {
    let mut handle: QvcHandle = 0;
    let mut err = [0 as c_char; 256];
    // SAFETY: all pointers are valid locals.
    let status = unsafe {
        qvc_device_realize(
            fd,
            c"0.0.0313".as_ptr(),
            null(),
            &raw mut handle,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    // SAFETY: the library NUL-terminates within the buffer.
    let message = unsafe { CStr::from_ptr(err.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (status, message)
}

#[test]
fn realize_refuses_a_file_that_is_not_a_vfio_device() {
    let file = std::fs::File::open("/dev/null").unwrap();
    let (status, message) = realize_fd(file.as_raw_fd());
    assert_eq!(status, QvcStatus::RealizeFailed);
    assert!(message.starts_with("vfio-ccw 0.0.0313: "), "{message}");
    assert!(message.contains("not an open vfio device"), "{message}");
}

#[test]
fn realize_refuses_a_closed_fd() {
    // A high number, closed right away: parallel tests open low numbers,
    // so nothing reuses it before the call.
    let file = std::fs::File::open("/dev/null").unwrap();
    // SAFETY: dup2 and close take no pointers.
    let fd = unsafe { libc::dup2(file.as_raw_fd(), 900) };
    assert_eq!(fd, 900);
    // SAFETY: as above; 900 is ours.
    assert_eq!(unsafe { libc::close(fd) }, 0);
    let (status, message) = realize_fd(fd);
    assert_eq!(status, QvcStatus::RealizeFailed);
    assert!(message.contains("not an open vfio device"), "{message}");
}

#[test]
fn realize_refuses_a_negative_fd() {
    let (status, message) = realize_fd(-1);
    assert_eq!(status, QvcStatus::RealizeFailed);
    assert!(message.contains("no device fd"), "{message}");
}

#[test]
fn realize_refuses_null_name_and_null_handle_out() {
    let mut handle: QvcHandle = 0;
    // SAFETY: NULL pointers are part of the contract.
    unsafe {
        assert_eq!(
            qvc_device_realize(3, null(), null(), &raw mut handle, null_mut(), 0),
            QvcStatus::NullArgument
        );
        assert_eq!(
            qvc_device_realize(3, c"x".as_ptr(), null(), null_mut(), null_mut(), 0),
            QvcStatus::NullArgument
        );
    }
}

#[test]
fn realize_truncates_its_message_to_the_buffer() {
    let mut handle: QvcHandle = 0;
    let mut err = [0x7f as c_char; 8];
    // SAFETY: `err` is writable for 8 bytes.
    let status = unsafe {
        qvc_device_realize(
            -1,
            c"0.0.0313".as_ptr(),
            null(),
            &raw mut handle,
            err.as_mut_ptr(),
            8,
        )
    };
    assert_eq!(status, QvcStatus::RealizeFailed);
    assert_eq!(err[7], 0);
    // SAFETY: NUL-terminated, as just checked.
    let text = unsafe { CStr::from_ptr(err.as_ptr()) };
    assert_eq!(text.to_bytes(), b"vfio-cc");
}

#[test]
fn every_operation_refuses_an_unknown_handle() {
    let schib = Schib::default();
    let orb = Orb::default();
    let mut out = QvcOutcome {
        ret: 99,
        ..QvcOutcome::new()
    };
    let mut fd = 0;
    let mut crws = [Default::default(); 4];
    let mut n = 0usize;
    let mut unplug = false;
    for handle in [0, u64::MAX, 12345] {
        // SAFETY: all pointers are valid locals.
        unsafe {
            assert_eq!(
                qvc_device_start(handle, &raw const orb, &raw const schib, 0, &raw mut out),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_halt(handle, &raw const schib, 0, &raw mut out),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_clear(handle, &raw const schib, 0, &raw mut out),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_store(handle, &raw const schib, &raw mut out),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_io_interrupt(handle, &raw const schib, &raw mut out),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_crw_interrupt(handle, crws.as_mut_ptr(), crws.len(), &raw mut n),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_req_interrupt(handle, &raw mut unplug),
                QvcStatus::InvalidHandle
            );
            assert_eq!(
                qvc_device_irq_fd(handle, 0, &raw mut fd),
                QvcStatus::InvalidHandle
            );
        }
        assert_eq!(qvc_device_reset(handle), QvcStatus::InvalidHandle);
        assert_eq!(qvc_device_unrealize(handle), QvcStatus::InvalidHandle);
    }
    assert_eq!(
        out,
        QvcOutcome {
            ret: 99,
            ..QvcOutcome::new()
        },
        "outputs untouched on error"
    );
}

#[test]
fn null_outputs_and_inputs_are_refused_before_the_handle_is_looked_up() {
    let schib = Schib::default();
    let mut out = QvcOutcome {
        ret: 0,
        ..QvcOutcome::new()
    };
    // SAFETY: NULL pointers are part of the contract.
    unsafe {
        assert_eq!(
            qvc_device_start(1, null(), &raw const schib, 0, &raw mut out),
            QvcStatus::NullArgument
        );
        assert_eq!(
            qvc_device_halt(1, null(), 0, &raw mut out),
            QvcStatus::NullArgument
        );
        assert_eq!(
            qvc_device_store(1, &raw const schib, null_mut()),
            QvcStatus::NullArgument
        );
        assert_eq!(
            qvc_device_io_interrupt(1, &raw const schib, null_mut()),
            QvcStatus::NullArgument
        );
        assert_eq!(qvc_device_irq_fd(1, 0, null_mut()), QvcStatus::NullArgument);
        assert_eq!(
            qvc_device_req_interrupt(1, null_mut()),
            QvcStatus::NullArgument
        );
        let mut n = 0usize;
        assert_eq!(
            qvc_device_crw_interrupt(1, null_mut(), 4, &raw mut n),
            QvcStatus::NullArgument
        );
    }
}

#[test]
fn irq_fd_refuses_an_unknown_irq() {
    let mut fd = 0;
    // SAFETY: valid local.
    let status = unsafe { qvc_device_irq_fd(1, 3, &raw mut fd) };
    assert_eq!(status, QvcStatus::InvalidArgument);
}

#[test]
fn status_str_describes_every_status_and_tolerates_unknown_ones() {
    for (status, text) in [
        (0, "success"),
        (2, "invalid device handle"),
        (3, "caught panic"),
        (77, "unknown status"),
    ] {
        // SAFETY: the library returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(qvc_status_str(status)) }
            .to_str()
            .unwrap();
        assert!(s.contains(text), "{status}: {s}");
    }
}

#[test]
fn default_config_leaves_force_orb_pfch_off() {
    assert!(!Config::default().force_orb_pfch);
}

/// A QvcConfig of ABI 0.1 as C lays it out: its size, then the bool's
/// byte (any byte C may leave there) and padding.
fn config_bytes(size: u32, force_orb_pfch: u8) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&size.to_ne_bytes());
    bytes[4] = force_orb_pfch;
    bytes
}

/// `qvc_device_realize` on fd -1 with `config`: its status and message.
fn realize_with(config: &[u8; 8]) -> (QvcStatus, String, QvcHandle) {
    let mut handle: QvcHandle = 0;
    let mut err = [0 as c_char; 256];
    // SAFETY: `config` is readable for the 8-byte QvcConfig it claims to
    // be; the other pointers are valid locals.
    let status = unsafe {
        qvc_device_realize(
            -1,
            c"0.0.0313".as_ptr(),
            config.as_ptr().cast::<QvcConfig>(),
            &raw mut handle,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    // SAFETY: the library NUL-terminates within the buffer, or left it zero.
    let message = unsafe { CStr::from_ptr(err.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (status, message, handle)
}

#[test]
fn realize_refuses_a_config_whose_bool_is_neither_0_nor_1_naming_the_device() {
    // C may leave any byte in a `bool` (memset, a union): read as a Rust
    // bool it would be undefined behaviour.
    let (status, message, handle) = realize_with(&config_bytes(8, 0x7f));
    assert_eq!(status, QvcStatus::InvalidArgument);
    assert_eq!(
        message,
        "vfio-ccw 0.0.0313: config force_orb_pfch holds 0x7f, not a bool (0 or 1)"
    );
    assert_eq!(handle, 0);
}

#[test]
fn realize_reads_a_config_bool_of_1_as_true() {
    // Past the config check, the fd is refused: the config was accepted.
    let (status, _, _) = realize_with(&config_bytes(8, 1));
    assert_eq!(status, QvcStatus::RealizeFailed);
}

#[test]
fn realize_refuses_a_config_smaller_than_abi_0_1s_naming_its_size() {
    let (status, message, handle) = realize_with(&config_bytes(4, 0));
    assert_eq!(status, QvcStatus::InvalidArgument);
    assert_eq!(
        message,
        "vfio-ccw 0.0.0313: config size 4 is smaller than QvcConfig of ABI 0.1 (8 bytes)"
    );
    assert_eq!(handle, 0);
}
