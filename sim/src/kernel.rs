// SPDX-License-Identifier: GPL-2.0-or-later
//! The simulated vfio-ccw driver: one mediated device on one I/O
//! subchannel, seen through its device fd (kernel-contract.md sections 3-8).
//!
//! State lives behind two locks, always taken in this order:
//! - `io_mutex` models the driver's per-device `io_mutex`: region writes
//!   take it with trylock (`EAGAIN` when held), reads and the interrupt
//!   path block on it;
//! - `inner` guards everything else.
//!
//! I/O completes synchronously: the channel runs the program inside the
//! I/O-region write and the interrupt (IRB copied, eventfd signalled) is
//! delivered before `pwrite` returns, unless a fault stalls it.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

use nix::errno::Errno;
use qemu_vfio_ccw::kernel::DeviceFd;
use qemu_vfio_ccw::uapi::{
    self, vfio_device_info, vfio_irq_info, VFIO_DEVICE_FLAGS_CCW, VFIO_DEVICE_FLAGS_RESET,
    VFIO_IRQ_INFO_EVENTFD, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_BOOL,
    VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE, VFIO_REGION_INFO_CAP_TYPE,
    VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
    VFIO_REGION_TYPE_CCW,
};

use crate::ccw_device::CcwDevice;
use crate::config::{Compat, KernelProfile, SimConfig};
use crate::cp::{self, actl, fctl, sctl, ChannelProgram, Ending, Orb};
use crate::dma::Dma;
use crate::faults::{CapsCorruption, FaultAction, FaultScript};
use crate::stats::{OpKind, Stats};

/// The value the kernel puts in the ORB's interruption parameter (in the
/// real driver, the subchannel's address). It shows in the SCHIB region's
/// PMCW; the IRB has no such field, so the guest never gets it back.
pub const HOST_INTPARM_BASE: u32 = 0x5e1f_0000;

/// How often the kernel repeats the request IRQ while a removed device
/// stays open.
pub const REMOVAL_REPEAT: Duration = Duration::from_secs(10);

/// I/O interrupt subclass the driver sets while the device is open.
const VFIO_CCW_ISC: u8 = 3;

/// Region sizes and indexes.
const IO_SIZE: usize = 124;
const CMD_SIZE: usize = 8;
const SCHIB_SIZE: usize = 52;
const CRW_SIZE: usize = 8;
const IRB_AT: usize = 24;
const RET_CODE_AT: usize = 120;

/// `VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK`.
const IRQ_SET_FLAGS_MASK: u32 = 0x07 | 0x38;

/// CRW bits: RSC channel path, ERCs.
const CRW_RSC_CPATH: u32 = 0x4;
const CRW_ERC_INIT: u32 = 0x02;
const CRW_ERC_PERRN: u32 = 0x06;

/// The driver's states (`enum vfio_ccw_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsmState {
    NotOper,
    Standby,
    Idle,
    CpProcessing,
    CpPending,
}

/// The subchannel as the (simulated) hardware has it.
#[derive(Debug)]
struct Subchannel {
    /// STSCH fails: the subchannel is gone.
    gone: bool,
    enabled: bool,
    isc: u8,
    intparm: u32,
    devno: u16,
    chpids: [u8; 8],
    pim: u8,
    pam: u8,
    pom: u8,
    pnom: u8,
    lpum: u8,
    /// The driver's usable path mask (`sch->lpm`), also the PMCW LPM.
    lpm: u8,
    /// A start function is in progress (a stalled program).
    active: bool,
}

impl Subchannel {
    fn path_mask(&self, chpid: u8) -> u8 {
        (0..8)
            .filter(|&i| self.chpids[i] == chpid && self.pim & (0x80 >> i) != 0)
            .fold(0, |m, i| m | (0x80 >> i))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cc {
    Zero,
    Busy,
    NotOperational,
}

/// What a fault asks the start path to do instead of completing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StartMode {
    Complete,
    Stall,
    NotOper,
}

struct Inner {
    compat: Compat,
    profile: KernelProfile,
    state: FsmState,
    open_count: u32,
    /// The mdev is being removed (request IRQ sent); it goes away at the
    /// last close.
    removal_pending: bool,
    repeat_thread: bool,
    /// A removal request was made from inside an operation: the caller
    /// (which holds the `Arc`) starts the repeat thread once unlocked.
    spawn_repeats: bool,
    /// The mdev is gone: no new device fds.
    removed: bool,
    io: [u8; IO_SIZE],
    cmd: [u8; CMD_SIZE],
    sch: Subchannel,
    crws: VecDeque<u32>,
    /// Eventfds of the I/O, CRW and request IRQs (the model's own dups).
    triggers: [Option<OwnedFd>; 3],
    dma: Dma,
    cp: Option<ChannelProgram>,
    device: Box<dyn CcwDevice>,
    faults: FaultScript,
    fault_seen: [u64; OpKind::ALL.len()],
    stats: Stats,
}

/// The simulated host: one vfio-ccw mediated device, its subchannel and
/// device, and the container's DMA mappings.
pub struct Kernel {
    me: Weak<Kernel>,
    io_mutex: Mutex<()>,
    inner: Mutex<Inner>,
    /// Writes refused by the io_mutex trylock (not seen by fault rules).
    contended: Mutex<Stats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a device model must not wedge the simulated kernel.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn ne32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Rewrites host-order fields (sizes in bytes, in sequence) as big-endian.
fn host_fields_to_be(bytes: &mut [u8], sizes: &[usize]) {
    let mut at = 0;
    for &n in sizes {
        let f = &mut bytes[at..at + n];
        if cfg!(target_endian = "little") {
            f.reverse();
        }
        at += n;
    }
}

fn errno_code(e: Errno) -> [u8; 4] {
    (-(e as i32)).to_be_bytes()
}

fn signal(fd: &Option<OwnedFd>) -> bool {
    let Some(fd) = fd else { return false };
    let one = 1u64.to_ne_bytes();
    // SAFETY: `fd` is an eventfd the model owns (a dup of the one userspace
    // passed); `one` is a live 8-byte buffer.
    let n = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    if n != 8 {
        log::warn!(
            "vfio-ccw-sim: signalling eventfd failed: {}",
            std::io::Error::last_os_error()
        );
    }
    true
}

/// `eventfd_ctx_fdget`: `EBADF` for a closed fd, `EINVAL` for anything
/// but an eventfd; the model keeps its own duplicate, as the kernel keeps a
/// reference.
fn eventfd_get(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(Errno::EBADF);
    }
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|_| Errno::EBADF)?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return Err(Errno::EINVAL);
    }
    // dup(2) then FD_CLOEXEC rather than F_DUPFD_CLOEXEC: the same to a
    // kernel, but qemu-user (the s390x test lane) keeps its eventfd byte
    // swapping across dup only.
    // SAFETY: `fd` is open (checked above); dup returns a new descriptor
    // that nothing else owns.
    let dup = unsafe { libc::dup(fd) };
    if dup < 0 {
        return Err(Errno::last());
    }
    // SAFETY: `dup` is ours; F_SETFD only changes its flags.
    unsafe { libc::fcntl(dup, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: `dup` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

impl Kernel {
    /// A host with one subchannel as `config` describes, `device` behind it,
    /// and the mdev created (state STANDBY, no device fd open).
    pub fn new(config: SimConfig, device: Box<dyn CcwDevice>) -> Arc<Kernel> {
        let sch = Subchannel {
            gone: false,
            enabled: false,
            isc: 0,
            intparm: 0,
            devno: config.devno,
            chpids: config.chpids,
            pim: config.pim,
            pam: config.pam,
            pom: config.pom,
            pnom: 0,
            lpum: 0,
            lpm: config.pim & config.pam & config.pom,
            active: false,
        };
        let host_intparm = HOST_INTPARM_BASE | u32::from(config.schno);
        let mut sch = sch;
        sch.intparm = host_intparm;
        Arc::new_cyclic(|me| Kernel {
            me: me.clone(),
            io_mutex: Mutex::new(()),
            contended: Mutex::new(Stats::default()),
            inner: Mutex::new(Inner {
                compat: config.compat,
                profile: config.profile,
                state: FsmState::Standby,
                open_count: 0,
                removal_pending: false,
                repeat_thread: false,
                spawn_repeats: false,
                removed: false,
                io: [0; IO_SIZE],
                cmd: [0; CMD_SIZE],
                sch,
                crws: VecDeque::new(),
                triggers: [None, None, None],
                dma: Dma::default(),
                cp: None,
                device,
                faults: config.faults,
                fault_seen: [0; OpKind::ALL.len()],
                stats: Stats::default(),
            }),
        })
    }

    /// Opens a device fd (`VFIO_GROUP_GET_DEVICE_FD`). The first open runs
    /// the FSM OPEN event (enable the subchannel, IDLE) and registers the
    /// extra regions; `EINVAL` if that leaves the device NOT_OPER, `ENODEV`
    /// once the mdev has been removed.
    pub fn open_device(self: &Arc<Self>) -> Result<SimDeviceFd, Errno> {
        let mut g = lock(&self.inner);
        if g.removed {
            return Err(Errno::ENODEV);
        }
        if g.open_count == 0 {
            g.fsm_open();
            if g.state == FsmState::NotOper {
                return Err(Errno::EINVAL);
            }
        }
        g.open_count += 1;
        Ok(SimDeviceFd {
            kernel: Arc::clone(self),
        })
    }

    /// `VFIO_IOMMU_MAP_DMA` (type1): records `iova -> vaddr` for `size`
    /// bytes with `flags` READ (1) / WRITE (2). Page-aligned arguments, no
    /// overlap (`EEXIST`).
    ///
    /// Contract: `vaddr..vaddr+size` is memory of this process that stays
    /// valid until it is unmapped. The channel reads and writes it there
    /// (as the kernel pins and accesses the pages of a real mapping).
    pub fn dma_map(&self, iova: u64, vaddr: u64, size: u64, flags: u32) -> Result<(), Errno> {
        let g = lock(&self.inner);
        self.finish(g, |g| {
            g.stats.ops.bump(OpKind::DmaMap);
            let r = g.pre_faults(OpKind::DmaMap).and_then(|after| {
                let r = g.dma.map(iova, vaddr, size, flags);
                g.post_faults(&after);
                r
            });
            g.note(r)
        })
    }

    /// `VFIO_IOMMU_UNMAP_DMA` (type1): removes the whole mappings inside
    /// `iova..iova+size` and returns the bytes unmapped; a mapping cut in
    /// two is `EINVAL`. Unmapping pages pinned for a running channel program
    /// resets the device first (close + open), as vfio-ccw's unmap notifier
    /// does.
    pub fn dma_unmap(&self, iova: u64, size: u64) -> Result<u64, Errno> {
        let _io = lock(&self.io_mutex);
        let g = lock(&self.inner);
        self.finish(g, |g| g.dma_unmap(iova, size))
    }
}

impl Inner {
    fn dma_unmap(&mut self, iova: u64, size: u64) -> Result<u64, Errno> {
        let g = self;
        g.stats.ops.bump(OpKind::DmaUnmap);
        let r = g.pre_faults(OpKind::DmaUnmap).and_then(|after| {
            let r = g.dma.unmap_ranges(iova, size).map(|ranges| {
                let hit =
                    g.cp.as_ref()
                        .is_some_and(|cp| ranges.iter().any(|&(at, len)| cp.pins_overlap(at, len)));
                if hit {
                    g.fsm_close();
                    g.fsm_open();
                }
                g.dma.remove(&ranges)
            });
            g.post_faults(&after);
            r
        });
        g.note(r)
    }
}

impl Kernel {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let mut s = lock(&self.inner).stats.clone();
        let c = lock(&self.contended);
        s.device_fd_syscalls += c.device_fd_syscalls;
        s.ops.io_write += c.ops.io_write;
        s.ops.cmd_write += c.ops.cmd_write;
        for (errno, n) in &c.errors {
            *s.errors.entry(*errno).or_insert(0) += n;
        }
        s
    }

    /// The driver's FSM state.
    pub fn fsm_state(&self) -> FsmState {
        lock(&self.inner).state
    }

    /// CRWs queued and not yet read.
    pub fn pending_crws(&self) -> usize {
        lock(&self.inner).crws.len()
    }

    /// The channel path goes offline: its PAM bit clears, a program using
    /// it is halted, and a CRW (channel path, ERC 6) is queued and
    /// signalled. Nothing happens for a CHPID no path of this subchannel uses.
    pub fn chp_offline(&self, chpid: u8) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).chp_offline(chpid);
    }

    /// The channel path comes back: PAM bit set, CRW ERC 2 queued.
    pub fn chp_online(&self, chpid: u8) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).chp_online(chpid);
    }

    /// The path is varied offline: it leaves the usable mask (PMCW LPM), a
    /// program using it is halted; no CRW.
    pub fn vary_off(&self, chpid: u8) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).vary(chpid, false);
    }

    /// The path is varied online: back in the usable mask; no CRW.
    pub fn vary_on(&self, chpid: u8) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).vary(chpid, true);
    }

    /// The mdev is being removed: the request IRQ fires now and every
    /// [`REMOVAL_REPEAT`] while a device fd stays open; the mdev disappears
    /// at the last close (at once if none is open).
    pub fn unbind(&self) {
        let g = lock(&self.inner);
        self.finish(g, |g| g.request_removal());
    }

    /// The subchannel goes away: STSCH fails (SCHIB reads `ENODEV`), the
    /// FSM gets NOT_OPER, the program is freed, and the mdev is removed
    /// (request IRQ).
    pub fn set_not_operational(&self) {
        let _io = lock(&self.io_mutex);
        let g = lock(&self.inner);
        self.finish(g, |g| g.not_operational());
    }

    /// An unsolicited interrupt (status alert, e.g. attention `0x80`) with
    /// this device status, delivered as an IRB without a state change;
    /// dropped while the subchannel is disabled.
    pub fn unsolicited_interrupt(&self, dstat: u8) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).unsolicited(dstat);
    }

    /// Lets a stalled channel program run to its end now.
    pub fn complete_stalled(&self) {
        let _io = lock(&self.io_mutex);
        lock(&self.inner).complete_stalled();
    }

    /// Replaces the fault script; its `#N` ordinals count from now.
    pub fn set_faults(&self, faults: FaultScript) {
        let mut g = lock(&self.inner);
        g.faults = faults;
        g.fault_seen = [0; OpKind::ALL.len()];
    }

    /// Runs `f` on the locked state, then, unlocked, starts the removal
    /// repeat thread if `f` asked for it.
    fn finish<T>(&self, mut g: MutexGuard<'_, Inner>, f: impl FnOnce(&mut Inner) -> T) -> T {
        let r = f(&mut g);
        let spawn = std::mem::take(&mut g.spawn_repeats);
        drop(g);
        if spawn {
            self.spawn_removal_repeats();
        }
        r
    }

    fn spawn_removal_repeats(&self) {
        let me = self.me.clone();
        let spawned = std::thread::Builder::new()
            .name("vfio-ccw-sim-remove".into())
            .spawn(move || loop {
                std::thread::sleep(REMOVAL_REPEAT);
                let Some(k) = me.upgrade() else { return };
                let mut g = lock(&k.inner);
                if g.removed || !g.removal_pending {
                    g.repeat_thread = false;
                    return;
                }
                g.fire_request();
            });
        if spawned.is_err() {
            lock(&self.inner).repeat_thread = false;
        }
    }

    fn close_device(&self) {
        let _io = lock(&self.io_mutex);
        let mut g = lock(&self.inner);
        g.open_count = g.open_count.saturating_sub(1);
        if g.open_count == 0 {
            g.fsm_close();
            g.triggers = [None, None, None];
            if g.removal_pending {
                g.removed = true;
                g.removal_pending = false;
            }
        }
    }

    fn region_read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let _io = lock(&self.io_mutex);
        let g = lock(&self.inner);
        self.finish(g, |g| {
            g.stats.device_fd_syscalls += 1;
            let r = g.region_read(buf, offset);
            g.note(r)
        })
    }

    fn region_write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        match self.io_mutex.try_lock() {
            Ok(_io) => self.locked_write(buf, offset),
            Err(TryLockError::Poisoned(e)) => {
                let _io = e.into_inner();
                self.locked_write(buf, offset)
            }
            Err(TryLockError::WouldBlock) => {
                // The holder may be inside the channel with `inner` locked,
                // so the refusal is counted on the side.
                let mut c = lock(&self.contended);
                c.device_fd_syscalls += 1;
                if let Some(kind) = write_kind(offset) {
                    c.ops.bump(kind);
                }
                c.error(Errno::EAGAIN);
                Err(Errno::EAGAIN)
            }
        }
    }

    fn locked_write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let g = lock(&self.inner);
        self.finish(g, |g| {
            g.stats.device_fd_syscalls += 1;
            let r = g.region_write(buf, offset);
            g.note(r)
        })
    }

    fn ioctl<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, Errno>) -> Result<T, Errno> {
        let g = lock(&self.inner);
        self.finish(g, |g| {
            g.stats.device_fd_syscalls += 1;
            let r = f(g);
            g.note(r)
        })
    }
}

fn write_kind(offset: u64) -> Option<OpKind> {
    match offset >> uapi::VFIO_CCW_OFFSET_SHIFT {
        0 => Some(OpKind::IoWrite),
        1 => Some(OpKind::CmdWrite),
        _ => None,
    }
}

/// The region at an index: (size, flags, cap subtype).
fn region_desc(index: u32) -> (usize, u32, Option<u32>) {
    let rw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    match index {
        0 => (IO_SIZE, rw, None),
        1 => (CMD_SIZE, rw, Some(uapi::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD)),
        2 => (
            SCHIB_SIZE,
            VFIO_REGION_INFO_FLAG_READ,
            Some(uapi::VFIO_REGION_SUBTYPE_CCW_SCHIB),
        ),
        _ => (
            CRW_SIZE,
            VFIO_REGION_INFO_FLAG_READ,
            Some(uapi::VFIO_REGION_SUBTYPE_CCW_CRW),
        ),
    }
}

impl Inner {
    fn note<T>(&mut self, r: Result<T, Errno>) -> Result<T, Errno> {
        if let Err(e) = &r {
            self.stats.error(*e);
        }
        r
    }

    fn num_regions(&self) -> u32 {
        if self.open_count > 0 {
            self.profile.num_regions()
        } else {
            1
        }
    }

    /// Counts the operation for fault matching, applies the faults that act
    /// before it, and returns those that act after it (or the injected
    /// failure). `Short`, `Stall`, `NotOper` on io-write and `CorruptCaps`
    /// are returned for the operation itself to apply.
    fn pre_faults(&mut self, kind: OpKind) -> Result<Vec<FaultAction>, Errno> {
        let slot = OpKind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
        self.fault_seen[slot] += 1;
        let actions = self.faults.actions(kind, self.fault_seen[slot]);
        if let Some(e) = actions.iter().find_map(|a| match a {
            FaultAction::Fail(e) => Some(*e),
            _ => None,
        }) {
            return Err(e);
        }
        let mut rest = Vec::new();
        for a in actions {
            match a {
                FaultAction::ChpOffline(c) => self.chp_offline(c),
                FaultAction::ChpOnline(c) => self.chp_online(c),
                FaultAction::VaryOff(c) => self.vary(c, false),
                FaultAction::VaryOn(c) => self.vary(c, true),
                FaultAction::NotOper if kind != OpKind::IoWrite => self.not_operational(),
                other => rest.push(other),
            }
        }
        Ok(rest)
    }

    /// Applies the faults that act after the operation.
    fn post_faults(&mut self, actions: &[FaultAction]) {
        for a in actions {
            match *a {
                FaultAction::Unbind => self.request_removal(),
                FaultAction::Unsolicited(d) => self.unsolicited(d),
                _ => {}
            }
        }
    }

    fn short(actions: &[FaultAction]) -> Option<usize> {
        actions.iter().find_map(|a| match a {
            FaultAction::Short(n) => Some(*n),
            _ => None,
        })
    }

    // ---- regions -------------------------------------------------------

    fn region_read(&mut self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let index = offset >> uapi::VFIO_CCW_OFFSET_SHIFT;
        let pos = (offset & 0x3ff) as usize;
        if index >= u64::from(self.num_regions()) {
            return Err(Errno::EINVAL);
        }
        let kind = [
            OpKind::IoRead,
            OpKind::CmdRead,
            OpKind::SchibRead,
            OpKind::CrwRead,
        ][index as usize];
        self.stats.ops.bump(kind);
        let after = self.pre_faults(kind)?;
        let (size, _, _) = region_desc(index as u32);
        if pos + buf.len() > size {
            return Err(Errno::EINVAL);
        }
        let count = Self::short(&after).map_or(buf.len(), |n| n.min(buf.len()));
        let image: Vec<u8> = match index {
            0 => self.io.to_vec(),
            1 => self.cmd.to_vec(),
            2 => self.schib()?.to_vec(),
            _ => self.crw_dequeue().to_vec(),
        };
        buf[..count].copy_from_slice(&image[pos..pos + count]);
        self.post_faults(&after);
        Ok(count)
    }

    fn region_write(&mut self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let index = offset >> uapi::VFIO_CCW_OFFSET_SHIFT;
        let pos = (offset & 0x3ff) as usize;
        if index >= u64::from(self.num_regions()) {
            return Err(Errno::EINVAL);
        }
        let kind = match index {
            0 => OpKind::IoWrite,
            1 => OpKind::CmdWrite,
            // SCHIB and CRW regions are read-only.
            _ => return Err(Errno::EINVAL),
        };
        self.stats.ops.bump(kind);
        let after = self.pre_faults(kind)?;
        let (size, _, _) = region_desc(index as u32);
        if pos + buf.len() > size {
            return Err(Errno::EINVAL);
        }
        let count = Self::short(&after).map_or(buf.len(), |n| n.min(buf.len()));
        let ret = if index == 0 {
            self.io[pos..pos + count].copy_from_slice(&buf[..count]);
            let mode = if after.contains(&FaultAction::Stall) {
                StartMode::Stall
            } else if after.contains(&FaultAction::NotOper) {
                StartMode::NotOper
            } else {
                StartMode::Complete
            };
            self.fsm_io_request(mode);
            self.io[RET_CODE_AT..].try_into().map(be32).unwrap_or(0)
        } else {
            self.cmd[pos..pos + count].copy_from_slice(&buf[..count]);
            self.fsm_async_request();
            be32(&self.cmd[4..8])
        };
        self.post_faults(&after);
        ret_to_result(ret, count)
    }

    fn schib(&mut self) -> Result<[u8; SCHIB_SIZE], Errno> {
        let s = &self.sch;
        if s.gone {
            return Err(Errno::ENODEV);
        }
        let mut b = [0u8; SCHIB_SIZE];
        b[0..4].copy_from_slice(&s.intparm.to_be_bytes());
        b[4] = (s.isc & 7) << 3;
        b[5] = if s.enabled { 0x80 } else { 0 } | 0x01; // E, V
        b[6..8].copy_from_slice(&s.devno.to_be_bytes());
        b[8] = s.lpm;
        b[9] = s.pnom;
        b[10] = s.lpum;
        b[11] = s.pim;
        b[14] = s.pom;
        b[15] = s.pam;
        b[16..24].copy_from_slice(&s.chpids);
        b[27] = 0x01; // S: concurrent sense
        if s.pnom != 0 {
            b[29] |= 0x01; // SCSW N
        }
        if s.active {
            b[30] = fctl::START;
            b[31] = actl::SUBCHANNEL_ACTIVE | actl::DEVICE_ACTIVE;
        }
        if self.compat == Compat::QemuC {
            let flags = u16::from_be_bytes([b[28], b[29]]);
            b[28..30].copy_from_slice(&flags.to_ne_bytes());
        }
        Ok(b)
    }

    fn crw_dequeue(&mut self) -> [u8; CRW_SIZE] {
        let crw = self.crws.pop_front().unwrap_or(0);
        let mut b = [0u8; CRW_SIZE];
        b[0..4].copy_from_slice(&match self.compat {
            Compat::Architecture => crw.to_be_bytes(),
            Compat::QemuC => crw.to_ne_bytes(),
        });
        if !self.crws.is_empty() && signal(&self.triggers[1]) {
            self.stats.interrupts.crw += 1;
        }
        b
    }

    // ---- the FSM -------------------------------------------------------

    fn fsm_open(&mut self) {
        match self.state {
            FsmState::Standby => {
                if self.sch.gone {
                    self.state = FsmState::NotOper;
                } else {
                    self.sch.isc = VFIO_CCW_ISC;
                    self.sch.enabled = true;
                    self.state = FsmState::Idle;
                }
            }
            FsmState::NotOper => {}
            _ => {
                self.not_operational_state();
            }
        }
    }

    fn fsm_close(&mut self) {
        match self.state {
            FsmState::NotOper => {}
            FsmState::Standby => self.not_operational_state(),
            _ => {
                if self.sch.active {
                    // Quiesce: the halt's interrupt goes through the normal
                    // IRQ path before the subchannel is disabled.
                    self.halt_active();
                }
                self.cp = None;
                if self.sch.gone {
                    self.state = FsmState::NotOper;
                } else {
                    self.sch.enabled = false;
                    self.state = FsmState::Standby;
                }
            }
        }
    }

    fn not_operational_state(&mut self) {
        self.state = FsmState::NotOper;
        self.cp = None;
        self.sch.active = false;
    }

    /// The FSM NOT_OPER event plus the unregistration it schedules.
    fn not_operational(&mut self) {
        self.sch.gone = true;
        self.sch.enabled = false;
        if self.state != FsmState::NotOper {
            self.not_operational_state();
        }
        self.request_removal();
    }

    /// Starts the removal of the mdev (see `spawn_repeats`).
    fn request_removal(&mut self) {
        if self.removed {
            return;
        }
        if self.open_count == 0 {
            self.removed = true;
            return;
        }
        self.removal_pending = true;
        self.fire_request();
        if !self.repeat_thread {
            self.repeat_thread = true;
            self.spawn_repeats = true;
        }
    }

    fn fire_request(&mut self) {
        self.stats.removal_requests += 1;
        if signal(&self.triggers[2]) {
            self.stats.interrupts.req += 1;
        } else {
            log::info!("vfio-ccw-sim: device removal waits for userspace to close the device");
        }
    }

    fn set_io_ret(&mut self, e: Option<Errno>) {
        let code = e.map_or([0; 4], errno_code);
        self.io[RET_CODE_AT..].copy_from_slice(&code);
    }

    fn fsm_io_request(&mut self, mode: StartMode) {
        match self.state {
            FsmState::NotOper | FsmState::Standby => self.set_io_ret(Some(Errno::EIO)),
            FsmState::CpProcessing => self.set_io_ret(Some(Errno::EAGAIN)),
            FsmState::CpPending => self.set_io_ret(Some(Errno::EBUSY)),
            FsmState::Idle => self.io_request(mode),
        }
    }

    fn decoded_orb(&self) -> Orb {
        let mut b = [0u8; 12];
        b.copy_from_slice(&self.io[0..12]);
        if self.compat == Compat::QemuC {
            host_fields_to_be(&mut b, &[4, 2, 1, 1, 4]);
        }
        Orb::decode(&b)
    }

    fn scsw_fctl(&self) -> u8 {
        let mut b = [0u8; 12];
        b.copy_from_slice(&self.io[12..24]);
        if self.compat == Compat::QemuC {
            host_fields_to_be(&mut b, &[2, 2, 4, 1, 1, 2]);
        }
        b[2] & 0x70
    }

    fn io_request(&mut self, mode: StartMode) {
        self.state = FsmState::CpProcessing;
        let fc = self.scsw_fctl();
        if fc & fctl::START != 0 {
            let mut orb = self.decoded_orb();
            let r = self.start(&mut orb, mode);
            if let Err(e) = r {
                self.cp = None;
                self.state = FsmState::Idle;
                self.set_io_ret(Some(e));
            }
            return;
        }
        if fc & (fctl::HALT | fctl::CLEAR) != 0 {
            self.set_io_ret(Some(Errno::EOPNOTSUPP));
        }
        self.state = FsmState::Idle;
    }

    /// cp_init + cp_prefetch + SSCH, then (in the model) the channel.
    fn start(&mut self, orb: &mut Orb, mode: StartMode) -> Result<(), Errno> {
        if orb.b {
            return Err(Errno::EOPNOTSUPP);
        }
        if !orb.pfch && !self.profile.accepts_non_prefetch() {
            return Err(Errno::EOPNOTSUPP);
        }
        let guest_lpm = orb.lpm;
        if orb.lpm == 0 {
            orb.lpm = self.sch.lpm;
        }
        if !self.profile.passes_key() {
            orb.key = 0;
        }
        let prog = ChannelProgram::translate(orb, &self.dma, self.profile)?;
        match self.ssch(orb) {
            Cc::Zero => {}
            Cc::Busy => return Err(Errno::EBUSY),
            Cc::NotOperational => {
                self.sch.lpm &= !if guest_lpm == 0 { 0xff } else { guest_lpm };
                return Err(if self.sch.gone || self.sch.lpm == 0 {
                    Errno::ENODEV
                } else {
                    Errno::EACCES
                });
            }
        }
        self.cp = Some(prog);
        self.state = FsmState::CpPending;
        self.set_io_ret(None);
        match mode {
            StartMode::Complete => self.complete_stalled(),
            StartMode::Stall => {}
            StartMode::NotOper => self.not_operational(),
        }
        Ok(())
    }

    /// START SUBCHANNEL on the simulated hardware.
    fn ssch(&mut self, orb: &Orb) -> Cc {
        let s = &mut self.sch;
        if s.gone || !s.enabled {
            return Cc::NotOperational;
        }
        if s.active {
            return Cc::Busy;
        }
        let usable = s.pim & s.pam & s.pom;
        let tried = orb.lpm & s.pim;
        s.pnom = tried & !usable;
        let avail = orb.lpm & usable;
        if avail == 0 {
            return Cc::NotOperational;
        }
        s.lpum = 0x80 >> avail.leading_zeros();
        s.intparm = HOST_INTPARM_BASE | (s.intparm & 0xffff);
        s.active = true;
        self.stats.ssch += 1;
        Cc::Zero
    }

    /// Runs the outstanding program (if any) and delivers its interrupt.
    fn complete_stalled(&mut self) {
        if !self.sch.active {
            return;
        }
        let Some(prog) = self.cp.take() else { return };
        let ending = cp::run(&prog, &self.dma, self.device.as_mut(), &mut self.stats);
        let irb = ending.irb(&prog.orb, prog.orb.key);
        self.cp = Some(prog);
        self.sch.active = false;
        self.irq(irb);
    }

    /// Halts the active program: it ends with halt status.
    fn halt_active(&mut self) {
        let Some(orb) = self.cp.as_ref().map(|p| p.orb) else {
            self.sch.active = false;
            return;
        };
        self.sch.active = false;
        let ending = Ending {
            fctl: fctl::START | fctl::HALT,
            sctl: sctl::PENDING,
            cpa: orb.cpa,
            dstat: 0,
            cstat: 0,
            count: 0,
            sense: None,
        };
        let irb = ending.irb(&orb, orb.key);
        self.irq(irb);
    }

    /// The interrupt handler and the I/O worker (one IRB slot).
    fn irq(&mut self, irb: [u8; 96]) {
        if matches!(self.state, FsmState::NotOper | FsmState::Standby) || !self.sch.enabled {
            // A disabled subchannel: the handler just disables again.
            return;
        }
        let final_status = irb[3] & (actl::SUBCHANNEL_ACTIVE | actl::DEVICE_ACTIVE) == 0;
        let solicited = irb[0] & 0x03 != 0 || irb[3] & 0x1f != sctl::ALERT | sctl::PENDING;
        if solicited && final_status && self.state == FsmState::CpPending {
            // The CPA the channel reported is already a guest address in
            // the model (the kernel translates it back when it falls inside
            // the program, and leaves a host address otherwise).
            self.cp = None;
            self.state = FsmState::Idle;
        }
        self.io[IRB_AT..RET_CODE_AT].copy_from_slice(&irb);
        if signal(&self.triggers[0]) {
            self.stats.interrupts.io += 1;
        }
    }

    fn fsm_async_request(&mut self) {
        let code = match self.state {
            FsmState::NotOper | FsmState::Standby => Some(Errno::EIO),
            FsmState::CpProcessing => Some(Errno::EAGAIN),
            FsmState::Idle | FsmState::CpPending => {
                let command = match self.compat {
                    Compat::Architecture => be32(&self.cmd[0..4]),
                    Compat::QemuC => ne32(&self.cmd[0..4]),
                };
                match command {
                    uapi::VFIO_CCW_ASYNC_CMD_HSCH => self.hsch(),
                    uapi::VFIO_CCW_ASYNC_CMD_CSCH => self.csch(),
                    _ => Some(Errno::EINVAL),
                }
            }
        };
        let code = code.map_or([0; 4], errno_code);
        self.cmd[4..8].copy_from_slice(&code);
    }

    fn hsch(&mut self) -> Option<Errno> {
        if self.sch.gone || !self.sch.enabled {
            return Some(Errno::ENODEV);
        }
        self.stats.hsch += 1;
        if self.sch.active {
            self.halt_active();
        } else {
            let irb = Ending {
                fctl: fctl::HALT,
                sctl: sctl::PENDING,
                cpa: 0,
                dstat: 0,
                cstat: 0,
                count: 0,
                sense: None,
            }
            .irb(&Orb::default(), 0);
            self.irq(without_format_flag(irb));
        }
        None
    }

    fn csch(&mut self) -> Option<Errno> {
        if self.sch.gone || !self.sch.enabled {
            return Some(Errno::ENODEV);
        }
        self.stats.csch += 1;
        self.sch.active = false;
        self.sch.pnom = 0;
        self.device.reset();
        let irb = Ending {
            fctl: fctl::CLEAR,
            sctl: sctl::PENDING,
            cpa: 0,
            dstat: 0,
            cstat: 0,
            count: 0,
            sense: None,
        }
        .irb(&Orb::default(), 0);
        self.irq(without_format_flag(irb));
        None
    }

    fn unsolicited(&mut self, dstat_bits: u8) {
        if self.sch.gone {
            return;
        }
        let ending = Ending {
            fctl: 0,
            sctl: sctl::ALERT | sctl::PENDING,
            cpa: 0,
            dstat: dstat_bits,
            cstat: 0,
            count: 0,
            sense: (dstat_bits & crate::ccw_device::dstat::UNIT_CHECK != 0)
                .then(|| self.device.sense()),
        };
        let irb = ending.irb(&Orb::default(), 0);
        self.irq(without_format_flag(irb));
    }

    // ---- channel paths -------------------------------------------------

    fn queue_crw(&mut self, erc: u32, chpid: u8) {
        let crw = (CRW_RSC_CPATH << 24) | (erc << 16) | u32::from(chpid);
        self.crws.push_back(crw);
        if signal(&self.triggers[1]) {
            self.stats.interrupts.crw += 1;
        }
    }

    fn chp_offline(&mut self, chpid: u8) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        self.sch.pam &= !mask;
        if self.sch.active && self.sch.lpum & mask != 0 {
            self.halt_active();
        }
        self.queue_crw(CRW_ERC_PERRN, chpid);
    }

    fn chp_online(&mut self, chpid: u8) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        self.sch.pam |= mask;
        self.queue_crw(CRW_ERC_INIT, chpid);
    }

    fn vary(&mut self, chpid: u8, on: bool) {
        let mask = self.sch.path_mask(chpid);
        if mask == 0 {
            return;
        }
        if on {
            self.sch.lpm |= mask;
        } else {
            self.sch.lpm &= !mask;
            if self.sch.active && self.sch.lpum & mask != 0 {
                self.halt_active();
            }
        }
    }

    // ---- ioctls --------------------------------------------------------

    fn get_device_info(&mut self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.stats.ops.bump(OpKind::GetDeviceInfo);
        let after = self.pre_faults(OpKind::GetDeviceInfo)?;
        if info.argsz < 16 {
            return Err(Errno::EINVAL);
        }
        info.flags = VFIO_DEVICE_FLAGS_CCW | VFIO_DEVICE_FLAGS_RESET;
        info.num_regions = self.num_regions();
        info.num_irqs = self.profile.num_irqs();
        self.post_faults(&after);
        Ok(())
    }

    fn get_region_info(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.stats.ops.bump(OpKind::GetRegionInfo);
        let after = self.pre_faults(OpKind::GetRegionInfo)?;
        if buf.len() < 32 {
            return Err(Errno::EFAULT);
        }
        let argsz = ne32(&buf[0..4]);
        let index = ne32(&buf[8..12]);
        if argsz < 32 {
            return Err(Errno::EINVAL);
        }
        if index >= self.num_regions() {
            return Err(Errno::EINVAL);
        }
        let (size, mut flags, subtype) = region_desc(index);
        let corrupt = after.iter().find_map(|a| match a {
            FaultAction::CorruptCaps(c) => Some(*c),
            _ => None,
        });
        let mut new_argsz = argsz;
        let mut cap_offset = ne32(&buf[12..16]);
        if let Some(subtype) = subtype {
            flags |= VFIO_REGION_INFO_FLAG_CAPS;
            if argsz < 48 {
                new_argsz = 48;
                cap_offset = 0;
            } else {
                if buf.len() < 48 {
                    return Err(Errno::EFAULT);
                }
                let mut id = VFIO_REGION_INFO_CAP_TYPE as u16;
                let mut next = 0u32;
                cap_offset = 32;
                match corrupt {
                    Some(CapsCorruption::Loop) => next = 32,
                    Some(CapsCorruption::Outside) => next = argsz.saturating_add(8),
                    Some(CapsCorruption::WrongId) => id = 1,
                    Some(CapsCorruption::BadOffset) => cap_offset = argsz.saturating_add(16),
                    None => {}
                }
                buf[32..34].copy_from_slice(&id.to_ne_bytes());
                buf[34..36].copy_from_slice(&1u16.to_ne_bytes());
                buf[36..40].copy_from_slice(&next.to_ne_bytes());
                buf[40..44].copy_from_slice(&VFIO_REGION_TYPE_CCW.to_ne_bytes());
                buf[44..48].copy_from_slice(&subtype.to_ne_bytes());
            }
        }
        buf[0..4].copy_from_slice(&new_argsz.to_ne_bytes());
        buf[4..8].copy_from_slice(&flags.to_ne_bytes());
        buf[12..16].copy_from_slice(&cap_offset.to_ne_bytes());
        buf[16..24].copy_from_slice(&(size as u64).to_ne_bytes());
        let offset = u64::from(index) << uapi::VFIO_CCW_OFFSET_SHIFT;
        buf[24..32].copy_from_slice(&offset.to_ne_bytes());
        self.post_faults(&after);
        Ok(())
    }

    fn get_irq_info(&mut self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.stats.ops.bump(OpKind::GetIrqInfo);
        let after = self.pre_faults(OpKind::GetIrqInfo)?;
        if info.argsz < 16 || info.index >= self.profile.num_irqs() {
            return Err(Errno::EINVAL);
        }
        info.flags = VFIO_IRQ_INFO_EVENTFD;
        info.count = 1;
        self.post_faults(&after);
        Ok(())
    }

    fn set_irqs(&mut self, buf: &[u8]) -> Result<(), Errno> {
        self.stats.ops.bump(OpKind::SetIrqs);
        let after = self.pre_faults(OpKind::SetIrqs)?;
        if buf.len() < 20 {
            return Err(Errno::EFAULT);
        }
        let argsz = ne32(&buf[0..4]);
        let flags = ne32(&buf[4..8]);
        let index = ne32(&buf[8..12]);
        let start = ne32(&buf[12..16]);
        let count = ne32(&buf[16..20]);
        // vfio_set_irqs_validate_and_prepare, with one IRQ per index.
        if argsz < 20
            || index >= self.profile.num_irqs()
            || count >= u32::MAX - start
            || flags & !IRQ_SET_FLAGS_MASK != 0
        {
            return Err(Errno::EINVAL);
        }
        let size: u64 = match flags & 0x07 {
            VFIO_IRQ_SET_DATA_NONE => 0,
            VFIO_IRQ_SET_DATA_BOOL => 1,
            VFIO_IRQ_SET_DATA_EVENTFD => 4,
            _ => return Err(Errno::EINVAL),
        };
        if start >= 1 || start + count > 1 {
            return Err(Errno::EINVAL);
        }
        if u64::from(argsz - 20) < u64::from(count) * size {
            return Err(Errno::EINVAL);
        }
        if flags & VFIO_IRQ_SET_ACTION_TRIGGER == 0 {
            return Err(Errno::EINVAL);
        }
        // From here on `count` is ignored: the data is read even for 0.
        let slot = index as usize;
        match flags & 0x07 {
            VFIO_IRQ_SET_DATA_NONE => {
                self.fire(slot);
            }
            VFIO_IRQ_SET_DATA_BOOL => {
                let b = *buf.get(20).ok_or(Errno::EFAULT)?;
                if b != 0 {
                    self.fire(slot);
                }
            }
            _ => {
                let raw = buf.get(20..24).ok_or(Errno::EFAULT)?;
                let fd = i32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
                match fd {
                    -1 => self.triggers[slot] = None,
                    fd if fd < -1 => return Err(Errno::EINVAL),
                    fd => self.triggers[slot] = Some(eventfd_get(fd)?),
                }
            }
        }
        self.post_faults(&after);
        Ok(())
    }

    fn fire(&mut self, slot: usize) {
        if signal(&self.triggers[slot]) {
            match slot {
                0 => self.stats.interrupts.io += 1,
                1 => self.stats.interrupts.crw += 1,
                _ => self.stats.interrupts.req += 1,
            }
        }
    }

    fn reset(&mut self) -> Result<(), Errno> {
        self.stats.ops.bump(OpKind::Reset);
        let after = self.pre_faults(OpKind::Reset)?;
        self.fsm_close();
        self.fsm_open();
        self.post_faults(&after);
        if self.state == FsmState::NotOper {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

/// Halt, clear and unsolicited IRBs describe no start function: no CCW
/// format to report.
fn without_format_flag(mut irb: [u8; 96]) -> [u8; 96] {
    irb[1] &= !0x80;
    irb
}

/// What `write()` returns for a stored `ret_code`: the kernel returns it
/// as an `ssize_t` when nonzero.
fn ret_to_result(ret: u32, count: usize) -> Result<usize, Errno> {
    match ret as i32 {
        0 => Ok(count),
        r if (-4095..0).contains(&r) => Err(Errno::from_raw(-r)),
        r if r > 0 => Ok(r as usize),
        // A value glibc would not see as an errno; the model refuses it.
        _ => Err(Errno::EINVAL),
    }
}

/// A device fd of the simulated mdev. Dropping it is `close()`: the last
/// close runs the FSM CLOSE event and unregisters the extra regions.
pub struct SimDeviceFd {
    kernel: Arc<Kernel>,
}

impl SimDeviceFd {
    /// The kernel this fd belongs to.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }
}

impl std::fmt::Debug for SimDeviceFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDeviceFd").finish_non_exhaustive()
    }
}

impl Drop for SimDeviceFd {
    fn drop(&mut self) {
        self.kernel.close_device();
    }
}

impl DeviceFd for SimDeviceFd {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.kernel.region_read(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.kernel.region_write(buf, offset)
    }

    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.kernel.ioctl(|g| g.get_device_info(info))
    }

    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.kernel.ioctl(|g| g.get_region_info(buf))
    }

    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.kernel.ioctl(|g| g.get_irq_info(info))
    }

    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno> {
        self.kernel.ioctl(|g| g.set_irqs(buf))
    }

    fn reset(&self) -> Result<(), Errno> {
        // The kernel's reset does not take io_mutex, but its quiesce IRQs go
        // through the worker, which does; the model holds it throughout.
        let _io = lock(&self.kernel.io_mutex);
        self.kernel.ioctl(|g| g.reset())
    }
}
