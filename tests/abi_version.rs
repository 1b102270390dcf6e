// SPDX-License-Identifier: GPL-2.0-or-later
//! The versioned C ABI: the version a caller can check, and the sized
//! structures that let a later library serve callers built against an
//! earlier header (and refuse ones too small to be a QvcOutcome).

mod common;

use common::*;
use qemu_vfio_ccw::css::Schib;
use qemu_vfio_ccw::device::Config;
use qemu_vfio_ccw::ffi::*;
use vfio_ccw_sim::SimConfig;

#[test]
fn abi_version_packs_the_headers_major_and_minor() {
    assert_eq!(qvc_abi_version(), (QVC_ABI_MAJOR << 16) | QVC_ABI_MINOR);
}

#[test]
fn abi_major_is_the_crates_major_the_sonames_version() {
    let major: u32 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    assert_eq!(QVC_ABI_MAJOR, major);
}

#[test]
fn structures_are_the_sizes_abi_0_1_promises() {
    assert_eq!(
        std::mem::size_of::<QvcConfig>(),
        QVC_CONFIG_SIZE_MIN as usize
    );
    assert_eq!(
        std::mem::size_of::<QvcOutcome>(),
        QVC_OUTCOME_SIZE_MIN as usize
    );
    assert_eq!(QvcOutcome::new().size, QVC_OUTCOME_SIZE_MIN);
}

#[test]
fn an_outcome_smaller_than_abi_0_1s_is_refused_and_left_untouched() {
    let guest = Guest::new(SimConfig::default());
    let handle = register(guest.realize(Config::default()));
    let schib = Schib::default();
    let small = QvcOutcome {
        size: QVC_OUTCOME_SIZE_MIN - 4,
        ret: 42,
        ..QvcOutcome::new()
    };
    let mut out = small;
    // SAFETY: valid locals.
    let status = unsafe { qvc_device_store(handle, &raw const schib, &raw mut out) };
    assert_eq!(status, QvcStatus::InvalidArgument);
    assert_eq!(out, small);
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
}

/// A QvcOutcome as a caller built against a later header would pass it:
/// ABI 0.1's fields, then fields this library does not know.
#[repr(C)]
struct LaterOutcome {
    known: QvcOutcome,
    later: [u8; 16],
}

#[test]
fn a_later_callers_outcome_gets_this_abis_fields_its_own_left_alone() {
    let guest = Guest::new(SimConfig::default());
    let handle = register(guest.realize(Config::default()));
    let schib = Schib::default();
    let mut out = LaterOutcome {
        known: QvcOutcome {
            size: std::mem::size_of::<LaterOutcome>() as u32,
            ret: 42,
            ..QvcOutcome::new()
        },
        later: [0xa5; 16],
    };
    // SAFETY: `out` is readable and writable for the size it claims.
    let status = unsafe {
        qvc_device_store(
            handle,
            &raw const schib,
            (&raw mut out).cast::<QvcOutcome>(),
        )
    };
    assert_eq!(status, QvcStatus::Ok);
    assert_eq!(out.known.size, QVC_OUTCOME_SIZE_MIN, "the bytes written");
    assert_eq!(out.known.ret, 0, "STSCH's condition code");
    assert_eq!(out.later, [0xa5; 16], "fields beyond ABI 0.1 untouched");
    assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
}
