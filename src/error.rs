// SPDX-License-Identifier: GPL-2.0-or-later
//! Realize-time errors. Every message names the device and the cause, as a
//! user reading QEMU's error output needs it.

use std::fmt;

use nix::errno::Errno;

/// What went wrong, without the device name (see [`DeviceError`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// VFIO_DEVICE_GET_INFO failed.
    DeviceInfo(Errno),
    /// The fd belongs to a vfio device that is not a CCW device.
    NotCcw { flags: u32 },
    /// The device reports no I/O region.
    TooFewRegions { num_regions: u32 },
    /// VFIO_DEVICE_GET_REGION_INFO failed for one index.
    RegionInfo { index: u32, errno: Errno },
    /// A region has a size other than its struct's.
    RegionSize {
        region: &'static str,
        size: u64,
        expected: usize,
    },
    /// A region lacks the access it must allow.
    RegionAccess {
        region: &'static str,
        flags: u32,
        needs: &'static str,
    },
    /// A capability chain that cannot be walked safely.
    CapabilityChain {
        index: u32,
        reason: &'static str,
        offset: u32,
    },
    /// The region info reply asked for an absurd argsz.
    RegionInfoSize { index: u32, argsz: u32 },
    /// The device has fewer interrupts than a required one needs.
    IrqMissing { irq: &'static str, num_irqs: u32 },
    /// VFIO_DEVICE_GET_IRQ_INFO failed.
    IrqInfo { irq: &'static str, errno: Errno },
    /// The interrupt cannot signal an eventfd or has no vector.
    IrqUnusable {
        irq: &'static str,
        count: u32,
        flags: u32,
    },
    /// eventfd(2) failed.
    Eventfd { irq: &'static str, errno: Errno },
    /// VFIO_DEVICE_SET_IRQS failed.
    SetIrqs { irq: &'static str, errno: Errno },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DeviceInfo(e) => {
                write!(
                    f,
                    "cannot query the device (VFIO_DEVICE_GET_INFO): {}",
                    e.desc()
                )?;
                // ENOSYS: a user-mode emulator (qemu-user) that does not
                // know the vfio ioctls answers so for any fd.
                if matches!(*e, Errno::ENOTTY | Errno::EBADF | Errno::ENOSYS) {
                    write!(f, "; the fd is not an open vfio device")?;
                }
                Ok(())
            }
            Error::NotCcw { flags } => write!(
                f,
                "not a vfio-ccw device: device flags {flags:#x} lack VFIO_DEVICE_FLAGS_CCW"
            ),
            Error::TooFewRegions { num_regions } => write!(
                f,
                "the device has {num_regions} regions, expected at least 1 (the I/O region)"
            ),
            Error::RegionInfo { index, errno } => write!(
                f,
                "cannot query region {index} (VFIO_DEVICE_GET_REGION_INFO): {}",
                errno.desc()
            ),
            Error::RegionSize {
                region,
                size,
                expected,
            } => write!(f, "{region} region is {size} bytes, expected {expected}"),
            Error::RegionAccess {
                region,
                flags,
                needs,
            } => write!(
                f,
                "{region} region is not {needs} (region flags {flags:#x})"
            ),
            Error::CapabilityChain {
                index,
                reason,
                offset,
            } => write!(
                f,
                "region {index} has a corrupt capability chain: {reason} at offset {offset}"
            ),
            Error::RegionInfoSize { index, argsz } => write!(
                f,
                "region {index} info asks for {argsz} bytes, more than any vfio-ccw region needs"
            ),
            Error::IrqMissing { irq, num_irqs } => write!(
                f,
                "the device has {num_irqs} interrupts, so no {irq} interrupt"
            ),
            Error::IrqInfo { irq, errno } => write!(
                f,
                "cannot query the {irq} interrupt (VFIO_DEVICE_GET_IRQ_INFO): {}",
                errno.desc()
            ),
            Error::IrqUnusable { irq, count, flags } => write!(
                f,
                "the {irq} interrupt cannot signal an eventfd (count {count}, flags {flags:#x})"
            ),
            Error::Eventfd { irq, errno } => {
                write!(f, "cannot create the {irq} eventfd: {}", errno.desc())
            }
            Error::SetIrqs { irq, errno } => write!(
                f,
                "cannot connect the {irq} interrupt (VFIO_DEVICE_SET_IRQS): {}",
                errno.desc()
            ),
        }
    }
}

impl std::error::Error for Error {}

/// An [`Error`] of one named device: `vfio-ccw 0.0.1234: <cause>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceError {
    pub device: String,
    pub error: Error,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vfio-ccw {}: {}", self.device, self.error)
    }
}

impl std::error::Error for DeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
