// SPDX-License-Identifier: GPL-2.0-or-later
//! The device's interrupts: one eventfd per vfio-ccw irq index, connected
//! with VFIO_DEVICE_SET_IRQS and owned by the library. QEMU watches the fds
//! and calls back when one becomes readable.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::error::Error;
use crate::kernel::DeviceFd;
use crate::uapi::{
    self, VFIO_CCW_CRW_IRQ_INDEX, VFIO_CCW_IO_IRQ_INDEX, VFIO_CCW_REQ_IRQ_INDEX,
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD,
};

/// The three vfio-ccw interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irq {
    /// An IRB was stored in the I/O region.
    Io,
    /// A channel report word was queued in the CRW region.
    Crw,
    /// The host wants the device back (mdev removal).
    Req,
}

impl Irq {
    pub const ALL: [Irq; 3] = [Irq::Io, Irq::Crw, Irq::Req];

    /// The vfio irq index.
    pub fn index(self) -> u32 {
        match self {
            Irq::Io => VFIO_CCW_IO_IRQ_INDEX,
            Irq::Crw => VFIO_CCW_CRW_IRQ_INDEX,
            Irq::Req => VFIO_CCW_REQ_IRQ_INDEX,
        }
    }

    /// How messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Irq::Io => "I/O",
            Irq::Crw => "CRW",
            Irq::Req => "request",
        }
    }
}

/// Retries of an eventfd read interrupted by a signal (EINTR).
const SIGNAL_RETRIES: u32 = 8;

/// A non-blocking eventfd the kernel signals.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A fresh eventfd with counter 0.
    pub fn new() -> Result<Self, Errno> {
        // SAFETY: eventfd(2) takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let fd = Errno::result(fd)?;
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Reads and resets the counter: true if it was signalled since the
    /// last call (QEMU's event_notifier_test_and_clear). One syscall.
    pub fn test_and_clear(&self) -> bool {
        let mut value = [0u8; 8];
        // A non-blocking read only sees EINTR from a signal; a few retries
        // are plenty, and a bound keeps a signal storm from spinning here.
        for _ in 0..=SIGNAL_RETRIES {
            // SAFETY: `value` is valid for writes of 8 bytes.
            let n = unsafe { libc::read(self.0.as_raw_fd(), value.as_mut_ptr().cast(), 8) };
            match Errno::result(n) {
                Ok(8) => return u64::from_ne_bytes(value) != 0,
                Err(Errno::EINTR) => continue,
                _ => return false,
            }
        }
        false
    }

    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Builds the SET_IRQS argument that points `irq` at `fd` (-1: release).
fn set_irq_eventfd(fd: &dyn DeviceFd, irq: Irq, eventfd: RawFd) -> Result<(), Errno> {
    let mut buf = [0u8; uapi::IRQ_SET_HEADER_SIZE + 4];
    let fields = [
        buf.len() as u32,
        VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        irq.index(),
        0,
        1,
    ];
    for (i, v) in fields.iter().enumerate() {
        buf[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    buf[20..24].copy_from_slice(&eventfd.to_ne_bytes());
    fd.set_irqs(&buf)
}

/// Creates an eventfd for `irq` and connects it.
pub fn connect(fd: &dyn DeviceFd, irq: Irq, num_irqs: u32) -> Result<EventFd, Error> {
    let name = irq.name();
    if num_irqs <= irq.index() {
        return Err(Error::IrqMissing {
            irq: name,
            num_irqs,
        });
    }
    let mut info = uapi::vfio_irq_info {
        argsz: std::mem::size_of::<uapi::vfio_irq_info>() as u32,
        index: irq.index(),
        ..Default::default()
    };
    fd.get_irq_info(&mut info)
        .map_err(|errno| Error::IrqInfo { irq: name, errno })?;
    if info.count < 1 || info.flags & VFIO_IRQ_INFO_EVENTFD == 0 {
        return Err(Error::IrqUnusable {
            irq: name,
            count: info.count,
            flags: info.flags,
        });
    }
    let eventfd = EventFd::new().map_err(|errno| Error::Eventfd { irq: name, errno })?;
    set_irq_eventfd(fd, irq, eventfd.raw_fd())
        .map_err(|errno| Error::SetIrqs { irq: name, errno })?;
    Ok(eventfd)
}

/// Tells the kernel to stop signalling `irq`. The eventfd itself is closed
/// when dropped, after this.
pub fn disconnect(fd: &dyn DeviceFd, irq: Irq) -> Result<(), Errno> {
    set_irq_eventfd(fd, irq, -1)
}
