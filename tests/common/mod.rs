// SPDX-License-Identifier: GPL-2.0-or-later
//! Shared by the library's tests: a simulated host with a small device
//! behind it, guest memory mapped for DMA, and helpers that build what
//! QEMU's css layer would hand the device.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::kernel::DeviceFd;
use qemu_vfio_ccw::uapi::{vfio_device_info, vfio_irq_info};
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Response, Transfer};
use vfio_ccw_sim::{Kernel, SimConfig};

/// What the test device's read command returns.
pub const RECORD: &[u8; 16] = b"vfio-ccw record!";
/// Sense byte 0 of a command reject.
pub const SENSE_COMMAND_REJECT: u8 = 0x80;
/// Channel-command codes the test device knows.
pub const CMD_WRITE: u8 = 0x01;
pub const CMD_READ: u8 = 0x02;
pub const CMD_NOP: u8 = 0x03;
pub const CMD_SENSE: u8 = 0x04;
pub const CMD_SENSE_ID: u8 = 0xe4;

/// A minimal device: Sense ID, read one record, write, no-op; anything
/// else is a command reject.
#[derive(Default)]
pub struct TestDevice {
    sense: [u8; 32],
    pub written: Arc<Mutex<Vec<u8>>>,
}

const END: u8 = dstat::CHANNEL_END | dstat::DEVICE_END;

impl CcwDevice for TestDevice {
    fn command(&mut self, cmd: u8, data: Transfer<'_>) -> Response {
        self.sense = [0; 32];
        match (cmd, data) {
            (CMD_SENSE_ID, Transfer::Read(buf)) => {
                let id = [0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c];
                let n = buf.len().min(id.len());
                buf[..n].copy_from_slice(&id[..n]);
                Response {
                    dstat: END,
                    len: id.len(),
                }
            }
            (CMD_READ, Transfer::Read(buf)) => {
                let n = buf.len().min(RECORD.len());
                buf[..n].copy_from_slice(&RECORD[..n]);
                Response {
                    dstat: END,
                    len: RECORD.len(),
                }
            }
            (CMD_WRITE, Transfer::Write(buf)) => {
                self.written.lock().unwrap().extend_from_slice(buf);
                Response {
                    dstat: END,
                    len: buf.len(),
                }
            }
            (CMD_NOP, _) => Response { dstat: END, len: 0 },
            _ => {
                self.sense[0] = SENSE_COMMAND_REJECT;
                Response {
                    dstat: END | dstat::UNIT_CHECK,
                    len: 0,
                }
            }
        }
    }

    fn sense(&self) -> [u8; 32] {
        self.sense
    }

    fn reset(&mut self) {
        self.sense = [0; 32];
    }
}

/// Page-aligned anonymous memory, as QEMU's guest RAM is: the IOMMU maps
/// whole pages only.
pub struct Ram {
    ptr: *mut u8,
    len: usize,
}

impl Ram {
    pub fn new(len: usize) -> Ram {
        // SAFETY: an anonymous private mapping, no address hint.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap of guest RAM");
        Ram {
            ptr: ptr.cast(),
            len,
        }
    }
}

impl std::ops::Deref for Ram {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is live for our lifetime and `len` long.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for Ram {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and we are its only owner.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Ram {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Guest memory, mapped at IOVA 0 like QEMU maps guest RAM.
pub struct Guest {
    pub kernel: Arc<Kernel>,
    pub mem: Ram,
}

pub const GUEST_MEM: usize = 1 << 20;
/// Where the tests put channel programs and data.
pub const CPA: u32 = 0x1000;
pub const DATA: u32 = 0x8000;

impl Guest {
    pub fn new(config: SimConfig) -> Guest {
        let kernel = Kernel::new(config, Box::new(TestDevice::default()));
        let mem = Ram::new(GUEST_MEM);
        kernel
            .dma_map(0, mem.as_ptr() as u64, GUEST_MEM as u64, 3)
            .expect("mapping guest memory");
        Guest { kernel, mem }
    }

    pub fn fd(&self) -> Box<dyn DeviceFd> {
        Box::new(self.kernel.open_device().expect("opening the device"))
    }

    pub fn realize(&self, config: Config) -> Device {
        Device::realize(self.fd(), "0.0.0313", config).expect("realize")
    }

    /// As `realize`, with every region write recorded on its way to the
    /// kernel.
    pub fn realize_recording(&self, config: Config) -> (Device, Writes) {
        let writes = Writes::default();
        let fd = Hooked::boxed(self.fd(), Recording(writes.clone()));
        let device = Device::realize(fd, "0.0.0313", config).expect("realize");
        (device, writes)
    }

    /// Writes a format-1 CCW at `at`.
    pub fn ccw1(&mut self, at: u32, cmd: u8, flags: u8, count: u16, cda: u32) {
        let at = at as usize;
        self.mem[at] = cmd;
        self.mem[at + 1] = flags;
        self.mem[at + 2..at + 4].copy_from_slice(&count.to_be_bytes());
        self.mem[at + 4..at + 8].copy_from_slice(&cda.to_be_bytes());
    }

    pub fn bytes(&self, at: u32, len: usize) -> &[u8] {
        &self.mem[at as usize..at as usize + len]
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // The memory goes away with us: the kernel must not keep it.
        let _ = self.kernel.dma_unmap(0, GUEST_MEM as u64);
    }
}

pub const CCW_FLAG_CC: u8 = 0x40;
pub const CCW_FLAG_SLI: u8 = 0x20;

/// A format-1, prefetch ORB for the program at `cpa`, all paths.
pub fn orb(cpa: u32) -> Orb {
    Orb {
        intparm: 0xcafe_f00d,
        ctrl0: 0x0080 | ORB_CTRL0_MASK_PFCH,
        lpm: 0xff,
        ctrl1: 0,
        cpa,
    }
}

/// The subchannel as css leaves it right before `handle_request`: start
/// function and start pending, concurrent sense enabled.
pub fn started_schib() -> Schib {
    Schib {
        pmcw: Pmcw {
            flags: 0x0080 | 0x0001,
            devno: 0x0313,
            lpm: 0x80,
            pim: 0x80,
            pam: 0x80,
            pom: 0xff,
            chpid: [0x40, 0, 0, 0, 0, 0, 0, 0],
            chars: PMCW_CHARS_MASK_CSENSE,
            ..Pmcw::default()
        },
        scsw: Scsw {
            ctrl: SCSW_FCTL_START_FUNC | SCSW_ACTL_START_PEND,
            ..Scsw::default()
        },
        ..Schib::default()
    }
}

/// The twist a test puts on a device fd. Every method has a default that
/// forwards to the wrapped fd, so a test writes only the call it changes.
pub trait Hook: Send {
    /// Runs around every call, for twists that apply to all of them alike.
    fn around<R>(&self, call: impl FnOnce() -> R) -> R {
        call()
    }
    fn read_at(&self, fd: &dyn DeviceFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        fd.read_at(buf, offset)
    }
    fn write_at(&self, fd: &dyn DeviceFd, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        fd.write_at(buf, offset)
    }
    fn get_device_info(&self, fd: &dyn DeviceFd, info: &mut vfio_device_info) -> Result<(), Errno> {
        fd.get_device_info(info)
    }
    fn get_region_info(&self, fd: &dyn DeviceFd, buf: &mut [u8]) -> Result<(), Errno> {
        fd.get_region_info(buf)
    }
    fn get_irq_info(&self, fd: &dyn DeviceFd, info: &mut vfio_irq_info) -> Result<(), Errno> {
        fd.get_irq_info(info)
    }
    fn set_irqs(&self, fd: &dyn DeviceFd, buf: &[u8]) -> Result<(), Errno> {
        fd.set_irqs(buf)
    }
    fn reset(&self, fd: &dyn DeviceFd) -> Result<(), Errno> {
        fd.reset()
    }
}

/// A device fd with a [`Hook`] between the library and the kernel.
pub struct Hooked<H> {
    pub inner: Box<dyn DeviceFd>,
    pub hook: H,
}

impl<H: Hook + 'static> Hooked<H> {
    /// `inner` behind `hook`, boxed as `Device::realize` takes it.
    pub fn boxed(inner: Box<dyn DeviceFd>, hook: H) -> Box<dyn DeviceFd> {
        Box::new(Hooked { inner, hook })
    }
}

impl<H: Hook> DeviceFd for Hooked<H> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.read_at(fd, buf, offset))
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.write_at(fd, buf, offset))
    }
    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.get_device_info(fd, info))
    }
    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.get_region_info(fd, buf))
    }
    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.get_irq_info(fd, info))
    }
    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.set_irqs(fd, buf))
    }
    fn reset(&self) -> Result<(), Errno> {
        let fd = &*self.inner;
        self.hook.around(|| self.hook.reset(fd))
    }
}

/// Region writes as the kernel received them: (file offset, bytes).
pub type Writes = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

/// Records every region write on its way to the kernel.
pub struct Recording(pub Writes);

impl Hook for Recording {
    fn write_at(&self, fd: &dyn DeviceFd, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.0.lock().unwrap().push((offset, buf.to_vec()));
        fd.write_at(buf, offset)
    }
}
