// SPDX-License-Identifier: GPL-2.0-or-later
//! Compat::QemuC: the fields the stock C device writes and reads in host
//! order, and that Architecture mode keeps big-endian.

mod common;
use common::*;
use vfio_ccw_sim::{Compat, SimConfig};
use vfio_ccw_uapi::device_fd::DeviceFd;

fn qemu_c() -> Rig {
    rig_with(SimConfig {
        compat: Compat::QemuC,
        ..SimConfig::default()
    })
}

/// The image the C device writes: QEMU's ORB struct (u32 intparm, u16
/// ctrl0, u8 lpm, u8 ctrl1, u32 cpa) and SCSW (u16 flags, u16 ctrl, ...)
/// in host order.
fn host_order_image(ctrl0: u16, lpm: u8, cpa: u32) -> [u8; 124] {
    let mut b = [0u8; 124];
    b[0..4].copy_from_slice(&0u32.to_ne_bytes());
    b[4..6].copy_from_slice(&ctrl0.to_ne_bytes());
    b[6] = lpm;
    b[8..12].copy_from_slice(&cpa.to_ne_bytes());
    b[14..16].copy_from_slice(&0x4000u16.to_ne_bytes()); // SCSW ctrl: FC start
    b
}

#[test]
fn qemu_c_mode_reads_a_host_order_orb_and_scsw() {
    let r = qemu_c();
    put_ccws(&r.mem, 0x1000, &[ccw1(0xe4, 0x20, 7, 0x2000)]);
    assert_eq!(
        r.fd.write_at(&host_order_image(0x00c0, 0xff, 0x1000), 0),
        Ok(124)
    );
    assert_eq!(r.mem.read(0x2000, 7), SENSE_ID);
    assert_eq!(scsw(&irb(&r.fd)).2, 0x1008, "the IRB stays big-endian");
}

#[cfg(target_endian = "little")]
#[test]
fn architecture_mode_sees_no_function_in_a_little_endian_scsw() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0xe4, 0x20, 7, 0x2000)]);
    assert_eq!(
        r.fd.write_at(&host_order_image(0x00c0, 0xff, 0x1000), 0),
        Ok(124)
    );
    assert_eq!(take(&r.io_efd), 0);
    assert_eq!(r.kernel.stats().ssch, 0);
}

#[test]
fn qemu_c_mode_stores_the_crw_as_the_c_devices_two_host_order_halfwords() {
    // QEMU's C device memcpy()s the word into `CRW { uint16_t flags;
    // uint16_t rsid; }`: a host-order u32 would swap the halves on x86.
    let r = qemu_c();
    r.kernel.chp_offline(0x40);
    let mut b = [0u8; 8];
    r.fd.read_at(&mut b, 0xc00).unwrap();
    assert_eq!(
        u16::from_ne_bytes([b[0], b[1]]),
        0x0406,
        "flags: RSC 4, ERC 6"
    );
    assert_eq!(u16::from_ne_bytes([b[2], b[3]]), 0x0040, "rsid: the CHPID");
}

#[test]
fn qemu_c_mode_writes_the_schib_scsw_flags_halfword_in_host_order() {
    let r = qemu_c();
    r.kernel.chp_offline(0x40);
    let mut b = [0u8; 124];
    b[0..12].copy_from_slice(&host_order_image(0x00c0, 0x80, 0x1000)[0..12]);
    b[14..16].copy_from_slice(&0x4000u16.to_ne_bytes());
    let _ = r.fd.write_at(&b, 0); // cc 3: sets PNOM
    let mut s = [0u8; 52];
    r.fd.read_at(&mut s, 0x800).unwrap();
    let flags = u16::from_ne_bytes([s[28], s[29]]);
    assert_eq!(
        flags & 0x0001,
        0x0001,
        "N as the C device's SCSW_FLAGS_MASK_PNO"
    );
    assert_eq!(s[9], 0x80, "single bytes unchanged");
}

#[test]
fn qemu_c_mode_reads_the_async_command_in_host_order() {
    let r = qemu_c();
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&1u32.to_ne_bytes());
    assert_eq!(r.fd.write_at(&b, 0x400), Ok(8));
    assert_eq!(r.kernel.stats().hsch, 1);
}
