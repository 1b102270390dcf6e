// SPDX-License-Identifier: GPL-2.0-or-later
//! The vfio-ccw uAPI as userspace sees it at the device fd: the region
//! layouts and ioctl numbers of `<linux/vfio_ccw.h>` and `<linux/vfio.h>`
//! ([`layout`]), and the device fd itself as a trait ([`device_fd`]).
//!
//! It is the one crate QEMU's vfio-ccw library (`qemu-vfio-ccw`) and the
//! simulated kernel (`vfio-ccw-sim`) share: the simulator depends on
//! nothing else of the library, so it cannot use the device logic it is
//! there to test.

pub mod device_fd;
pub mod layout;
