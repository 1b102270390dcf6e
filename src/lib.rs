// SPDX-License-Identifier: GPL-2.0-or-later
//! QEMU's vfio-ccw device logic: an s390x guest drives a host channel
//! subchannel through the Linux vfio-ccw mediated device.
//!
//! Layers, from the kernel up:
//! - [`kernel`]: the device-fd seam (real syscalls or the simulated kernel),
//!   whose trait lives in the `vfio-ccw-uapi` crate the simulator shares;
//! - [`uapi`]: `<linux/vfio_ccw.h>` layouts and vfio ioctl numbers (that
//!   crate's `layout`);
//! - [`css`]: channel-subsystem structures in QEMU's host-order layouts and
//!   their big-endian encoding in the regions (the only byte-order boundary);
//! - `regions`, `irq`, `device`: discovery, interrupts, the I/O operations;
//! - `ffi`: the C ABI that QEMU's shim calls.

pub mod css;
pub mod device;
pub mod ending;
pub mod error;
pub mod ffi;
pub mod irq;
pub mod kernel;
pub mod logging;
pub mod regions;
/// cbindgen:ignore
pub use vfio_ccw_uapi::layout as uapi;
