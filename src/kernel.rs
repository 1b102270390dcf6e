// SPDX-License-Identifier: GPL-2.0-or-later
//! The kernel seam: everything the library asks of the vfio-ccw driver goes
//! through the device fd, the [`DeviceFd`] trait of the `vfio-ccw-uapi`
//! crate, which the simulated kernel (`vfio-ccw-sim`) implements too, so
//! tests run the very code paths that run against a real mediated device.
//!
//! Production uses [`RawDeviceFd`], which issues the real syscalls.
//!
//! Ioctl arguments are in host byte order (that is the ioctl ABI); region
//! *contents* are s390 architecture byte order and are never interpreted
//! here: see [`crate::css`].

use std::os::fd::RawFd;

use nix::errno::Errno;
use vfio_bindings::bindings::vfio::{vfio_device_info, vfio_irq_info};

use crate::uapi;
pub use vfio_ccw_uapi::device_fd::DeviceFd;

/// A real vfio device fd, borrowed: QEMU's VFIO common code opened it and
/// closes it, the library never does.
#[derive(Debug)]
pub struct RawDeviceFd {
    fd: RawFd,
}

impl RawDeviceFd {
    /// Wraps `fd` without taking ownership.
    pub fn new(fd: RawFd) -> Self {
        RawDeviceFd { fd }
    }

    /// Refuses a variable-size ioctl argument whose `argsz` (its first
    /// field) is below `header` or above the buffer's length: the kernel
    /// trusts argsz and would read or write past the buffer.
    fn check_argsz(buf: &[u8], header: usize) -> Result<(), Errno> {
        let Some(argsz) = buf.first_chunk::<4>().map(|b| u32::from_ne_bytes(*b)) else {
            return Err(Errno::EINVAL);
        };
        let argsz = argsz as usize;
        if buf.len() < header || argsz < header || argsz > buf.len() {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn ioctl(&self, request: libc::c_ulong, arg: *mut libc::c_void) -> Result<(), Errno> {
        // SAFETY: `request` is one of the vfio device ioctls and `arg` points
        // to a live buffer at least as large as the argsz it carries; the
        // kernel reads and writes within that argsz only.
        let ret = unsafe { libc::ioctl(self.fd, request as _, arg) };
        Errno::result(ret).map(drop)
    }
}

impl DeviceFd for RawDeviceFd {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let off = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::pread(self.fd, buf.as_mut_ptr().cast(), buf.len(), off) };
        Errno::result(n).map(|n| n as usize)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let off = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let n = unsafe { libc::pwrite(self.fd, buf.as_ptr().cast(), buf.len(), off) };
        Errno::result(n).map(|n| n as usize)
    }

    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.ioctl(
            uapi::VFIO_DEVICE_GET_INFO,
            (info as *mut vfio_device_info).cast(),
        )
    }

    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno> {
        Self::check_argsz(buf, uapi::REGION_INFO_SIZE)?;
        self.ioctl(uapi::VFIO_DEVICE_GET_REGION_INFO, buf.as_mut_ptr().cast())
    }

    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.ioctl(
            uapi::VFIO_DEVICE_GET_IRQ_INFO,
            (info as *mut vfio_irq_info).cast(),
        )
    }

    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno> {
        Self::check_argsz(buf, uapi::IRQ_SET_HEADER_SIZE)?;
        // The kernel only reads the argument; the cast to *mut is the ioctl ABI.
        self.ioctl(uapi::VFIO_DEVICE_SET_IRQS, buf.as_ptr().cast_mut().cast())
    }

    fn reset(&self) -> Result<(), Errno> {
        self.ioctl(uapi::VFIO_DEVICE_RESET, std::ptr::null_mut())
    }
}
