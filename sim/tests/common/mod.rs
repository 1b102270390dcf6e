// SPDX-License-Identifier: GPL-2.0-or-later
//! Shared test scaffolding: page-aligned guest memory, a small device, and
//! byte-level builders for ORBs, CCWs and region writes.

#![allow(dead_code)]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Response, Transfer};
use vfio_ccw_sim::{Kernel, SimConfig, SimDeviceFd, DMA_READ, DMA_WRITE};
use vfio_ccw_uapi::device_fd::DeviceFd;

pub const CE_DE: u8 = dstat::CHANNEL_END | dstat::DEVICE_END;
pub const GUEST_SIZE: usize = 1 << 20;

/// Page-aligned zeroed memory standing in for guest RAM.
pub struct GuestMem {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: the memory is plain bytes owned by this value.
unsafe impl Send for GuestMem {}

impl GuestMem {
    pub fn new(size: usize) -> Self {
        let layout = Layout::from_size_align(size, 4096).expect("layout");
        // SAFETY: `layout` has a nonzero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "guest memory allocation failed");
        GuestMem { ptr, layout }
    }

    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    pub fn write(&self, at: u64, bytes: &[u8]) {
        assert!(at as usize + bytes.len() <= self.layout.size());
        // SAFETY: bounds checked above; the memory is live and ours.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at as usize), bytes.len())
        }
    }

    pub fn read(&self, at: u64, len: usize) -> Vec<u8> {
        assert!(at as usize + len <= self.layout.size());
        let mut v = vec![0u8; len];
        // SAFETY: bounds checked above; the memory is live and ours.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(at as usize), v.as_mut_ptr(), len) }
        v
    }
}

impl Drop for GuestMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// What the test device saw.
#[derive(Default)]
pub struct Log {
    pub commands: Vec<u8>,
    pub written: Vec<Vec<u8>>,
    pub resets: usize,
}

/// A small device: Sense ID, a read of a fixed 80-byte record, writes
/// (logged), NOP, a "search" 0x31 answering status modifier, sense, and
/// command reject (unit check) for anything else.
pub struct TestDevice {
    pub log: Arc<Mutex<Log>>,
    sense: [u8; 32],
}

pub const SENSE_ID: [u8; 7] = [0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c];

pub fn record() -> Vec<u8> {
    (0..80u8).collect()
}

impl TestDevice {
    pub fn new() -> (Box<Self>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        (
            Box::new(TestDevice {
                log: log.clone(),
                sense: [0; 32],
            }),
            log,
        )
    }
}

impl CcwDevice for TestDevice {
    fn command(&mut self, cmd: u8, data: Transfer<'_>) -> Response {
        self.log.lock().unwrap().commands.push(cmd);
        let give = |data: Transfer<'_>, bytes: &[u8]| -> usize {
            if let Transfer::Read(buf) = data {
                let n = buf.len().min(bytes.len());
                buf[..n].copy_from_slice(&bytes[..n]);
            }
            bytes.len()
        };
        match cmd {
            0xe4 => {
                let len = give(data, &SENSE_ID);
                Response { dstat: CE_DE, len }
            }
            0x02 => {
                let len = give(data, &record());
                Response { dstat: CE_DE, len }
            }
            0x04 => {
                let s = self.sense;
                let len = give(data, &s);
                Response { dstat: CE_DE, len }
            }
            0x01 => {
                let len = match data {
                    Transfer::Write(b) => {
                        self.log.lock().unwrap().written.push(b.to_vec());
                        b.len()
                    }
                    _ => 0,
                };
                Response { dstat: CE_DE, len }
            }
            0x03 => Response {
                dstat: CE_DE,
                len: 0,
            },
            0x31 => {
                let len = match data {
                    Transfer::Write(b) => b.len(),
                    _ => 0,
                };
                Response {
                    dstat: CE_DE | dstat::STATUS_MODIFIER,
                    len,
                }
            }
            _ => {
                self.sense = [0; 32];
                self.sense[0] = 0x80; // command reject
                Response {
                    dstat: CE_DE | dstat::UNIT_CHECK,
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
        self.log.lock().unwrap().resets += 1;
    }
}

pub struct Rig {
    pub kernel: Arc<Kernel>,
    pub fd: SimDeviceFd,
    pub mem: GuestMem,
    pub io_efd: EventFd,
    pub log: Arc<Mutex<Log>>,
}

pub fn rig_with(config: SimConfig) -> Rig {
    let (dev, log) = TestDevice::new();
    let kernel = Kernel::new(config, dev);
    let mem = GuestMem::new(GUEST_SIZE);
    kernel
        .dma_map(0, mem.addr(), GUEST_SIZE as u64, DMA_READ | DMA_WRITE)
        .expect("map guest memory");
    let fd = kernel.open_device().expect("open device");
    let io_efd = new_eventfd();
    set_eventfd(&fd, 0, io_efd.as_fd_raw()).expect("set the I/O eventfd");
    Rig {
        kernel,
        fd,
        mem,
        io_efd,
        log,
    }
}

pub fn rig() -> Rig {
    rig_with(SimConfig::default())
}

pub trait RawEventFd {
    fn as_fd_raw(&self) -> i32;
}

impl RawEventFd for EventFd {
    fn as_fd_raw(&self) -> i32 {
        self.as_raw_fd()
    }
}

pub fn new_eventfd() -> EventFd {
    EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK).expect("eventfd")
}

/// The eventfd counter (0 if not signalled), reset by the read.
pub fn take(efd: &EventFd) -> u64 {
    let mut b = [0u8; 8];
    match nix::unistd::read(efd.as_raw_fd(), &mut b) {
        Ok(8) => u64::from_ne_bytes(b),
        _ => 0,
    }
}

/// SET_IRQS trigger with an eventfd (or -1), QEMU's 24-byte form.
pub fn set_eventfd(fd: &dyn DeviceFd, index: u32, efd: i32) -> Result<(), Errno> {
    fd.set_irqs(&irq_set(24, 0x24, index, 0, 1, &efd.to_ne_bytes()))
}

pub fn irq_set(argsz: u32, flags: u32, index: u32, start: u32, count: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [argsz, flags, index, start, count] {
        v.extend_from_slice(&w.to_ne_bytes());
    }
    v.extend_from_slice(data);
    v
}

pub fn owned(efd: EventFd) -> OwnedFd {
    efd.into()
}

/// A command-mode ORB, big-endian: byte 5 flags (F 0x80, P 0x40, b 0x04,
/// H 0x02, T 0x01), LPM, CPA.
pub fn orb(intparm: u32, byte5: u8, lpm: u8, cpa: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&intparm.to_be_bytes());
    b[5] = byte5;
    b[6] = lpm;
    b[8..12].copy_from_slice(&cpa.to_be_bytes());
    b
}

pub const F: u8 = 0x80;
pub const P: u8 = 0x40;

/// A format-1 CCW.
pub fn ccw1(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = cmd;
    b[1] = flags;
    b[2..4].copy_from_slice(&count.to_be_bytes());
    b[4..8].copy_from_slice(&cda.to_be_bytes());
    b
}

/// A format-0 CCW.
pub fn ccw0(cmd: u8, flags: u8, count: u16, cda: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0] = cmd;
    b[1..4].copy_from_slice(&cda.to_be_bytes()[1..4]);
    b[4] = flags;
    b[6..8].copy_from_slice(&count.to_be_bytes());
    b
}

pub fn put_ccws(mem: &GuestMem, at: u64, ccws: &[[u8; 8]]) {
    for (i, c) in ccws.iter().enumerate() {
        mem.write(at + 8 * i as u64, c);
    }
}

/// The 124-byte I/O region image QEMU writes for SSCH.
pub fn io_image(orb: [u8; 12]) -> [u8; 124] {
    let mut b = [0u8; 124];
    b[0..12].copy_from_slice(&orb);
    b[14] = 0x40; // SCSW FC start
    b
}

pub fn ssch(fd: &dyn DeviceFd, orb: [u8; 12]) -> Result<usize, Errno> {
    fd.write_at(&io_image(orb), 0)
}

pub fn irb(fd: &dyn DeviceFd) -> [u8; 96] {
    let mut b = [0u8; 96];
    fd.read_at(&mut b, 24).expect("read the IRB");
    b
}

/// SCSW fields of an IRB: (fctl|actl byte 2, byte 3, cpa, dstat, cstat, count).
pub fn scsw(irb: &[u8; 96]) -> (u8, u8, u32, u8, u8, u16) {
    (
        irb[2],
        irb[3],
        u32::from_be_bytes([irb[4], irb[5], irb[6], irb[7]]),
        irb[8],
        irb[9],
        u16::from_be_bytes([irb[10], irb[11]]),
    )
}

pub const SC_FINAL: u8 = 0x07;
pub const SC_FINAL_ALERT: u8 = 0x17;

pub fn cmd_write(fd: &dyn DeviceFd, command: u32) -> Result<usize, Errno> {
    let mut b = [0u8; 8];
    b[0..4].copy_from_slice(&command.to_be_bytes());
    fd.write_at(&b, 0x400)
}

/// A command running `program` (one of this package's binaries), through
/// `$QVC_TEST_RUNNER` when it is set: the s390x lane runs the tests under
/// user-mode emulation, where a program of the test's own architecture
/// needs the emulator too.
pub fn bin_command(program: &str) -> std::process::Command {
    let runner = std::env::var("QVC_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = std::process::Command::new(emulator);
            command.args(words).arg(program);
            command
        }
        None => std::process::Command::new(program),
    }
}

/// A scratch 3390 image, removed on drop; each test file builds the
/// layout it needs (`impl Volume` there).
pub struct Volume(pub std::path::PathBuf);

impl Volume {
    /// A fresh path for `name`, unique to this test process.
    pub fn scratch_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("vfio-ccw-dasd-{}-{name}.3390", std::process::id()))
    }

    pub fn open(&self) -> vfio_ccw_sim::dasd::Dasd3390 {
        vfio_ccw_sim::dasd::Dasd3390::open(&self.0).expect("open the volume")
    }

    pub fn open_read_only(&self) -> vfio_ccw_sim::dasd::Dasd3390 {
        vfio_ccw_sim::dasd::Dasd3390::open_read_only(&self.0).expect("open the volume read-only")
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a read command on the device: (device status, length, data).
pub fn read(d: &mut dyn CcwDevice, cmd: u8, len: usize) -> (u8, usize, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let r = d.command(cmd, Transfer::Read(&mut buf));
    (r.dstat, r.len, buf)
}

/// Runs a write or control command with `arg`: (device status, length).
pub fn write(d: &mut dyn CcwDevice, cmd: u8, arg: &[u8]) -> (u8, usize) {
    let r = d.command(cmd, Transfer::Write(arg));
    (r.dstat, r.len)
}

/// Sense bytes 0, 1 and 7: the reject/check bits and the format-0 message.
pub fn sense_0_1_7(d: &dyn CcwDevice) -> (u8, u8, u8) {
    let s = d.sense();
    (s[0], s[1], s[7])
}

/// Runs Hercules' `dasdinit` with `args` (it makes the independent CKD
/// volumes the image tests compare with). True when it made the volume;
/// false, after saying why, when it cannot run here, which CI does not
/// accept.
pub fn dasdinit(args: &[&std::ffi::OsStr]) -> bool {
    match std::process::Command::new("dasdinit").args(args).output() {
        Ok(out) if out.status.success() => true,
        other => {
            let why = format!("dasdinit (Debian package hercules) cannot make a volume: {other:?}");
            assert!(std::env::var("CI").is_err(), "{why}");
            eprintln!("skipped: {why}");
            false
        }
    }
}
