// SPDX-License-Identifier: GPL-2.0-or-later
//! GET_INFO, the region table with its capabilities, region bounds,
//! GET_IRQ_INFO, and the kernel profiles (kernel-contract.md 3, 4, 6).

mod common;
use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::{KernelProfile, SimConfig};
use vfio_ccw_uapi::device_fd::DeviceFd;
use vfio_ccw_uapi::layout::{vfio_device_info, vfio_irq_info};

fn device_info(fd: &dyn DeviceFd, argsz: u32) -> Result<vfio_device_info, Errno> {
    let mut info = vfio_device_info {
        argsz,
        cap_offset: 0xdead,
        ..Default::default()
    };
    fd.get_device_info(&mut info).map(|_| info)
}

fn region_info(fd: &dyn DeviceFd, argsz: u32, index: u32) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; argsz.max(32) as usize];
    buf[0..4].copy_from_slice(&argsz.to_ne_bytes());
    buf[8..12].copy_from_slice(&index.to_ne_bytes());
    buf[12..16].copy_from_slice(&0x77u32.to_ne_bytes());
    fd.get_region_info(&mut buf).map(|_| buf)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn device_info_reports_ccw_reset_four_regions_three_irqs_for_any_argsz_from_16() {
    let r = rig();
    for argsz in [16, 20, 24] {
        let info = device_info(&r.fd, argsz).unwrap();
        assert_eq!((info.flags, info.num_regions, info.num_irqs), (0x11, 4, 3));
        assert_eq!(
            (info.argsz, info.cap_offset),
            (argsz, 0xdead),
            "left untouched"
        );
    }
}

#[test]
fn device_info_with_argsz_below_16_is_einval() {
    let r = rig();
    assert_eq!(device_info(&r.fd, 15).err(), Some(Errno::EINVAL));
}

#[test]
fn the_io_region_is_index_0_at_offset_0_without_capabilities() {
    let r = rig();
    let b = region_info(&r.fd, 32, 0).unwrap();
    assert_eq!(u32_at(&b, 4), 0x3);
    assert_eq!(u32_at(&b, 12), 0x77, "cap_offset echoes the caller");
    assert_eq!((u64_at(&b, 16), u64_at(&b, 24)), (124, 0));
}

#[test]
fn a_capability_region_with_argsz_32_asks_for_48() {
    let r = rig();
    let b = region_info(&r.fd, 32, 2).unwrap();
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4), u32_at(&b, 12)), (48, 0x9, 0));
    assert_eq!((u64_at(&b, 16), u64_at(&b, 24)), (52, 0x800));
}

#[test]
fn each_extra_region_carries_a_type_capability_at_32() {
    let r = rig();
    for (index, flags, size, subtype) in [(1, 0xb, 8, 1), (2, 0x9, 52, 2), (3, 0x9, 8, 3)] {
        let b = region_info(&r.fd, 48, index).unwrap();
        assert_eq!((u32_at(&b, 4), u32_at(&b, 12)), (flags, 32));
        assert_eq!(
            (u64_at(&b, 16), u64_at(&b, 24)),
            (size, u64::from(index) << 10)
        );
        let id = u16::from_ne_bytes([b[32], b[33]]);
        let version = u16::from_ne_bytes([b[34], b[35]]);
        assert_eq!((id, version, u32_at(&b, 36)), (1u16 + 1, 1, 0));
        assert_eq!((u32_at(&b, 40), u32_at(&b, 44)), (2, subtype));
    }
}

#[test]
fn region_info_with_argsz_below_32_or_a_bad_index_is_einval() {
    let r = rig();
    assert_eq!(region_info(&r.fd, 31, 0).err(), Some(Errno::EINVAL));
    assert_eq!(region_info(&r.fd, 48, 4).err(), Some(Errno::EINVAL));
}

#[test]
fn accesses_past_a_region_end_are_einval_and_inside_any_alignment_is_fine() {
    let r = rig();
    let mut b = [0u8; 9];
    assert_eq!(r.fd.read_at(&mut b, 0x400), Err(Errno::EINVAL));
    assert_eq!(r.fd.read_at(&mut b[..3], 0x405), Ok(3));
    assert_eq!(r.fd.read_at(&mut b[..0], 0x408), Ok(0));
    assert_eq!(r.fd.read_at(&mut b[..1], 0x408), Err(Errno::EINVAL));
    assert_eq!(
        r.fd.read_at(&mut b[..1], 0x1000),
        Err(Errno::EINVAL),
        "index 4"
    );
    let mut io = [0u8; 125];
    assert_eq!(r.fd.read_at(&mut io, 0), Err(Errno::EINVAL));
}

#[test]
fn the_schib_and_crw_regions_refuse_writes() {
    let r = rig();
    assert_eq!(r.fd.write_at(&[0; 4], 0x800), Err(Errno::EINVAL));
    assert_eq!(r.fd.write_at(&[0; 4], 0xc00), Err(Errno::EINVAL));
}

#[test]
fn irq_info_gives_one_eventfd_interrupt_per_index() {
    let r = rig();
    for index in 0..3 {
        let mut info = vfio_irq_info {
            argsz: 16,
            index,
            ..Default::default()
        };
        r.fd.get_irq_info(&mut info).unwrap();
        assert_eq!((info.flags, info.count), (1, 1));
    }
    let mut info = vfio_irq_info {
        argsz: 16,
        index: 3,
        ..Default::default()
    };
    assert_eq!(r.fd.get_irq_info(&mut info), Err(Errno::EINVAL));
    info.index = 0;
    info.argsz = 15;
    assert_eq!(r.fd.get_irq_info(&mut info), Err(Errno::EINVAL));
}

#[test]
fn a_pre_5_8_kernel_has_two_regions_and_one_irq() {
    let r = rig_with(SimConfig {
        profile: KernelProfile::V5_2,
        ..SimConfig::default()
    });
    let info = device_info(&r.fd, 20).unwrap();
    assert_eq!((info.num_regions, info.num_irqs), (2, 1));
    assert_eq!(region_info(&r.fd, 48, 2).err(), Some(Errno::EINVAL));
    let mut b = [0u8; 4];
    assert_eq!(r.fd.read_at(&mut b, 0x800), Err(Errno::EINVAL));
    assert_eq!(set_eventfd(&r.fd, 1, -1), Err(Errno::EINVAL));
}

#[test]
fn a_pre_5_8_kernel_refuses_an_orb_without_prefetch() {
    let r = rig_with(SimConfig {
        profile: KernelProfile::V5_2,
        ..SimConfig::default()
    });
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F, 0, 0x1000)), Err(Errno::EOPNOTSUPP));
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
}

#[test]
fn a_4_12_kernel_has_only_the_io_region() {
    let r = rig_with(SimConfig {
        profile: KernelProfile::V4_12,
        ..SimConfig::default()
    });
    assert_eq!(device_info(&r.fd, 20).unwrap().num_regions, 1);
    assert_eq!(cmd_write(&r.fd, 1), Err(Errno::EINVAL));
}
