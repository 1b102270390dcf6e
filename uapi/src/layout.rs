// SPDX-License-Identifier: GPL-2.0-or-later
//! What `vfio-bindings` lacks of `<linux/vfio_ccw.h>` and of the vfio ioctl
//! numbers, mirrored from the kernel's uAPI.
//!
//! The region structs describe the *layout* the kernel exposes at each
//! region's file offset. Their contents are s390 architecture byte order
//! (big-endian) on every host: multi-byte fields, `ret_code`, `command` and
//! `crw` included. Encoding and decoding happen in `qemu-vfio-ccw`'s
//! `css` module only.

#![allow(non_camel_case_types)]

use std::mem::{offset_of, size_of};

pub use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_info_cap_header, vfio_irq_info, vfio_irq_set, vfio_region_info,
    vfio_region_info_cap_type, VFIO_CCW_CONFIG_REGION_INDEX, VFIO_CCW_CRW_IRQ_INDEX,
    VFIO_CCW_IO_IRQ_INDEX, VFIO_CCW_REQ_IRQ_INDEX, VFIO_DEVICE_FLAGS_CCW, VFIO_DEVICE_FLAGS_RESET,
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_BOOL,
    VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE, VFIO_REGION_INFO_CAP_TYPE,
    VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
    VFIO_REGION_TYPE_CCW,
};

/// `VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD`.
pub const VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD: u32 = 1;
/// `VFIO_REGION_SUBTYPE_CCW_SCHIB`.
pub const VFIO_REGION_SUBTYPE_CCW_SCHIB: u32 = 2;
/// `VFIO_REGION_SUBTYPE_CCW_CRW`.
pub const VFIO_REGION_SUBTYPE_CCW_CRW: u32 = 3;

/// `VFIO_CCW_ASYNC_CMD_HSCH`.
pub const VFIO_CCW_ASYNC_CMD_HSCH: u32 = 1 << 0;
/// `VFIO_CCW_ASYNC_CMD_CSCH`.
pub const VFIO_CCW_ASYNC_CMD_CSCH: u32 = 1 << 1;

/// The vfio-ccw driver places region `index` at file offset `index << 10`.
pub const VFIO_CCW_OFFSET_SHIFT: u32 = 10;

const VFIO_TYPE: libc::c_ulong = b';' as libc::c_ulong;
const VFIO_BASE: libc::c_ulong = 100;
const fn vfio_io(nr: libc::c_ulong) -> libc::c_ulong {
    (VFIO_TYPE << 8) | (VFIO_BASE + nr)
}

/// `VFIO_GET_API_VERSION`.
pub const VFIO_GET_API_VERSION: libc::c_ulong = vfio_io(0);
/// `VFIO_CHECK_EXTENSION`.
pub const VFIO_CHECK_EXTENSION: libc::c_ulong = vfio_io(1);
/// `VFIO_SET_IOMMU`.
pub const VFIO_SET_IOMMU: libc::c_ulong = vfio_io(2);
/// `VFIO_GROUP_GET_STATUS`.
pub const VFIO_GROUP_GET_STATUS: libc::c_ulong = vfio_io(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const VFIO_GROUP_SET_CONTAINER: libc::c_ulong = vfio_io(4);
/// `VFIO_GROUP_UNSET_CONTAINER`.
pub const VFIO_GROUP_UNSET_CONTAINER: libc::c_ulong = vfio_io(5);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const VFIO_GROUP_GET_DEVICE_FD: libc::c_ulong = vfio_io(6);
/// `VFIO_DEVICE_GET_INFO`.
pub const VFIO_DEVICE_GET_INFO: libc::c_ulong = vfio_io(7);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const VFIO_DEVICE_GET_REGION_INFO: libc::c_ulong = vfio_io(8);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
pub const VFIO_DEVICE_GET_IRQ_INFO: libc::c_ulong = vfio_io(9);
/// `VFIO_DEVICE_SET_IRQS`.
pub const VFIO_DEVICE_SET_IRQS: libc::c_ulong = vfio_io(10);
/// `VFIO_DEVICE_RESET`.
pub const VFIO_DEVICE_RESET: libc::c_ulong = vfio_io(11);
/// `VFIO_IOMMU_GET_INFO`.
pub const VFIO_IOMMU_GET_INFO: libc::c_ulong = vfio_io(12);
/// `VFIO_IOMMU_MAP_DMA`.
pub const VFIO_IOMMU_MAP_DMA: libc::c_ulong = vfio_io(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const VFIO_IOMMU_UNMAP_DMA: libc::c_ulong = vfio_io(14);

/// Size of `struct vfio_region_info` without capabilities.
pub const REGION_INFO_SIZE: usize = size_of::<vfio_region_info>();
/// Size of `struct vfio_irq_set` without its data.
pub const IRQ_SET_HEADER_SIZE: usize = size_of::<vfio_irq_set>();

/// `struct ccw_io_region`: the I/O region (SSCH and the IRB).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ccw_io_region {
    pub orb_area: [u8; 12],
    pub scsw_area: [u8; 12],
    pub irb_area: [u8; 96],
    pub ret_code: [u8; 4],
}

/// `struct ccw_cmd_region`: the async command region (HSCH, CSCH).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ccw_cmd_region {
    pub command: [u8; 4],
    pub ret_code: [u8; 4],
}

/// `struct ccw_schib_region`: a fresh STORE SUBCHANNEL on every read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ccw_schib_region {
    pub schib_area: [u8; 52],
}

/// `struct ccw_crw_region`: one queued CRW per read, zero when empty.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ccw_crw_region {
    pub crw: [u8; 4],
    pub pad: [u8; 4],
}

/// `sizeof(struct ccw_io_region)`.
pub const IO_REGION_SIZE: usize = size_of::<ccw_io_region>();
/// `sizeof(struct ccw_cmd_region)`.
pub const CMD_REGION_SIZE: usize = size_of::<ccw_cmd_region>();
/// `sizeof(struct ccw_schib_region)`.
pub const SCHIB_REGION_SIZE: usize = size_of::<ccw_schib_region>();
/// `sizeof(struct ccw_crw_region)`.
pub const CRW_REGION_SIZE: usize = size_of::<ccw_crw_region>();

/// Byte offsets inside the I/O region.
pub const IO_ORB_OFFSET: usize = offset_of!(ccw_io_region, orb_area);
pub const IO_SCSW_OFFSET: usize = offset_of!(ccw_io_region, scsw_area);
pub const IO_IRB_OFFSET: usize = offset_of!(ccw_io_region, irb_area);
pub const IO_RET_CODE_OFFSET: usize = offset_of!(ccw_io_region, ret_code);

const _: () = {
    assert!(IO_REGION_SIZE == 124);
    assert!(IO_ORB_OFFSET == 0);
    assert!(IO_SCSW_OFFSET == 12);
    assert!(IO_IRB_OFFSET == 24);
    assert!(IO_RET_CODE_OFFSET == 120);
    assert!(CMD_REGION_SIZE == 8);
    assert!(offset_of!(ccw_cmd_region, ret_code) == 4);
    assert!(SCHIB_REGION_SIZE == 52);
    assert!(CRW_REGION_SIZE == 8);
    assert!(REGION_INFO_SIZE == 32);
    assert!(IRQ_SET_HEADER_SIZE == 20);
    assert!(size_of::<vfio_irq_info>() == 16);
    assert!(size_of::<vfio_info_cap_header>() == 8);
    assert!(size_of::<vfio_region_info_cap_type>() == 16);
};
