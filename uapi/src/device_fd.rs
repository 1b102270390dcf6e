// SPDX-License-Identifier: GPL-2.0-or-later
//! The device fd, the one seam between QEMU's vfio-ccw logic and the
//! kernel: what the library asks of the vfio-ccw driver and what the
//! simulated kernel answers. Ioctl arguments are in host byte order (that
//! is the ioctl ABI); region contents are never interpreted here.

use nix::errno::Errno;
use vfio_bindings::bindings::vfio::{vfio_device_info, vfio_irq_info};

/// The operations of a vfio device fd that vfio-ccw userspace needs.
///
/// Every method returns the errno the kernel would set on failure.
pub trait DeviceFd: Send {
    /// `pread(2)` at `offset`: returns the byte count read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno>;
    /// `pwrite(2)` at `offset`: returns the byte count written.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize, Errno>;
    /// `VFIO_DEVICE_GET_INFO`; `info.argsz` is set by the caller.
    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno>;
    /// `VFIO_DEVICE_GET_REGION_INFO`. `buf` starts with a
    /// `struct vfio_region_info` whose `argsz` is at most `buf.len()`
    /// (EINVAL otherwise); the kernel may write a capability chain after
    /// the header.
    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno>;
    /// `VFIO_DEVICE_GET_IRQ_INFO`; `info.argsz` and `info.index` set by the caller.
    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno>;
    /// `VFIO_DEVICE_SET_IRQS`. `buf` is a `struct vfio_irq_set` header
    /// followed by its data, `argsz` at most `buf.len()` (EINVAL otherwise).
    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno>;
    /// `VFIO_DEVICE_RESET`.
    fn reset(&self) -> Result<(), Errno>;
}
