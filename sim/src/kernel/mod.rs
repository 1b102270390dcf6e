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
//! With [`Latency::Immediate`] I/O completes synchronously: the channel
//! runs the program inside the I/O-region write and the interrupt (IRB
//! copied, eventfd signalled) is delivered before `pwrite` returns, unless a
//! fault stalls it. With a service time the subchannel's own thread
//! (`channel`) ends each function when it is due and then does what the
//! driver's work queue does: take `io_mutex`, copy the IRB, signal.
//!
//! The state's methods are split as the driver's files are: `fsm` (the
//! state machine, vfio_ccw_fsm.c), `regions` (the regions, and what reads
//! and writes of them do), `ioctls` (the device fd's ioctls), `irqs` (the
//! interrupts and their eventfds), `paths` (channel-path events and CRWs)
//! and `channel` (the subchannel's thread: completion after the service
//! time, and the interrupt worker). This file has the state, the locking
//! and the public face: [`Kernel`] and [`SimDeviceFd`].

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError, Weak};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use vfio_ccw_uapi::device_fd::DeviceFd;
use vfio_ccw_uapi::layout::{vfio_device_info, vfio_irq_info};

use crate::ccw_device::CcwDevice;
use crate::config::{Compat, KernelProfile, SimConfig};
use crate::cp::ChannelProgram;
use crate::dma::Dma;
use crate::faults::{FaultAction, FaultScript};
use crate::stats::{OpKind, Stats};
use crate::timing::{Latency, Timing};
use irqs::Triggers;
use regions::Region;

mod channel;
mod fsm;
mod ioctls;
mod irqs;
mod paths;
mod regions;

/// The value the kernel puts in the ORB's interruption parameter (in the
/// real driver, the subchannel's address). It shows in the SCHIB region's
/// PMCW; the IRB has no such field, so the guest never gets it back.
pub const HOST_INTPARM_BASE: u32 = 0x5e1f_0000;

/// How often the kernel repeats the request IRQ while a removed device
/// stays open.
pub const REMOVAL_REPEAT: Duration = Duration::from_secs(10);

/// I/O interrupt subclass the driver sets while the device is open.
const VFIO_CCW_ISC: u8 = 3;

/// Region sizes and the offsets of the I/O region's fields.
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

/// A channel-path event a fault rule made on this subchannel. A path is
/// the host's, not one subchannel's: [`Kernel::on_path_event`] lets the
/// host pass it to the other subchannels on the same CHPID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathEvent {
    /// `chp-offline`: the path went away (CRW ERC 6).
    Offline(u8),
    /// `chp-online`: the path came back (CRW ERC 2).
    Online(u8),
    /// `vary-off`: the path was varied offline (no CRW).
    VaryOff(u8),
    /// `vary-on`: the path was varied online (no CRW).
    VaryOn(u8),
}

/// Where a kernel reports its [`PathEvent`]s. It is called with none of the
/// kernel's locks but possibly with its `io_mutex` held, so it must not
/// call back into any kernel: it queues.
pub type PathHook = Box<dyn Fn(PathEvent) + Send + Sync>;

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
    /// The driver's operational path mask (`sch->opm`): the paths not
    /// varied offline. Unlike the hardware's POM it is software state; a
    /// path coming back online returns to `lpm` only if it is in here.
    opm: u8,
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

/// A function of the subchannel that the channel performs (START, HALT,
/// CLEAR SUBCHANNEL), from the instruction to its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Start,
    /// `of_start`: a start function was in progress, which the halt ends.
    Halt {
        of_start: bool,
    },
    Clear,
}

/// A function the channel is performing, and when its status is due.
#[derive(Clone, Copy, Debug)]
struct Pending {
    function: Function,
    due: Instant,
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
    triggers: Triggers,
    dma: Dma,
    cp: Option<ChannelProgram>,
    device: Box<dyn CcwDevice>,
    faults: FaultScript,
    fault_seen: [u64; OpKind::ALL.len()],
    /// Path events from fault rules, for the host's hook once unlocked.
    path_events: Vec<PathEvent>,
    stats: Stats,
    timing: Timing,
    /// The function the channel is performing (never set under
    /// `Latency::Immediate`, where functions end inside the instruction).
    function: Option<Pending>,
    /// The driver's one IRB slot (`private->irb`), holding an interrupt
    /// whose work is queued and not yet done; a second interrupt before
    /// the worker runs overwrites it.
    irb_slot: Option<[u8; 96]>,
    /// The subchannel's thread is running.
    channel_thread: bool,
    /// A test holds the interrupt worker before its IRB copy
    /// ([`Kernel::hold_irb_copy`]); `copy_waiting` says it is there.
    copy_held: bool,
    copy_waiting: bool,
    /// Wakes the subchannel's thread (and tests waiting on the worker).
    wake: Arc<Condvar>,
}

/// The simulated host: one vfio-ccw mediated device, its subchannel and
/// device, and the container's DMA mappings.
pub struct Kernel {
    me: Weak<Kernel>,
    io_mutex: Mutex<()>,
    inner: Mutex<Inner>,
    /// Writes refused by the io_mutex trylock (not seen by fault rules).
    contended: Mutex<Stats>,
    /// Paired with `inner`: signalled whenever the channel has work.
    wake: Arc<Condvar>,
    /// As configured; host events take `io_mutex` only when immediate
    /// (`Kernel::host_event_lock`).
    latency: Latency,
    path_hook: OnceLock<PathHook>,
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
        let d = &config.subchannel;
        let sch = Subchannel {
            gone: false,
            enabled: false,
            isc: 0,
            intparm: d.host_intparm(),
            devno: d.devno.number,
            chpids: d.paths.chpids,
            pim: d.paths.pim,
            pam: d.paths.pam,
            pom: d.paths.pom,
            pnom: 0,
            lpum: 0,
            lpm: d.paths.pim & d.paths.pam & d.paths.pom,
            opm: 0xff,
            active: false,
        };
        let wake = Arc::new(Condvar::new());
        Arc::new_cyclic(|me| Kernel {
            me: me.clone(),
            io_mutex: Mutex::new(()),
            contended: Mutex::new(Stats::default()),
            wake: Arc::clone(&wake),
            latency: config.latency,
            path_hook: OnceLock::new(),
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
                triggers: Triggers::default(),
                dma: Dma::default(),
                cp: None,
                device,
                faults: config.faults,
                fault_seen: [0; OpKind::ALL.len()],
                path_events: Vec::new(),
                stats: Stats::default(),
                timing: Timing::new(config.latency, config.seed),
                function: None,
                irb_slot: None,
                channel_thread: false,
                copy_held: false,
                copy_waiting: false,
                wake,
            }),
        })
    }

    /// Opens a device fd (`VFIO_GROUP_GET_DEVICE_FD`). The first open runs
    /// the FSM OPEN event (enable the subchannel, IDLE) and registers the
    /// extra regions; `EINVAL` if that leaves the device NOT_OPER, `ENODEV`
    /// once the mdev's removal has begun.
    pub fn open_device(self: &Arc<Self>) -> Result<SimDeviceFd, Errno> {
        let mut g = lock(&self.inner);
        // A removal in progress has already taken the device out of its
        // group (vfio_unregister_group_dev), so no new fd finds it.
        if g.removed || g.removal_pending {
            return Err(Errno::ENODEV);
        }
        if g.open_count == 0 {
            g.fsm_open();
            if g.state == FsmState::NotOper {
                return Err(Errno::EINVAL);
            }
        }
        g.open_count += 1;
        self.start_channel(&mut g);
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

    /// Which IOMMU back end the device's DMA goes through from now on
    /// (the container's type1 version, or an iommufd IOAS): it decides the
    /// errors of the pins and reads a channel program's translation makes.
    pub fn set_iommu_model(&self, model: crate::dma::IommuModel) {
        lock(&self.inner).dma.model = model;
    }

    /// `VFIO_IOMMU_UNMAP_DMA` (type1): removes the whole mappings inside
    /// `iova..iova+size` and returns the bytes unmapped; a mapping cut in
    /// two, or a size of 0, is `EINVAL`. Unmapping pages pinned for a running channel program
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
        let _io = self.host_event_lock();
        lock(&self.inner).chp_offline(chpid);
    }

    /// The channel path comes back: PAM bit set, CRW ERC 2 queued.
    pub fn chp_online(&self, chpid: u8) {
        let _io = self.host_event_lock();
        lock(&self.inner).chp_online(chpid);
    }

    /// The path is varied offline: it leaves the usable mask (PMCW LPM), a
    /// program using it is halted; no CRW.
    pub fn vary_off(&self, chpid: u8) {
        let _io = self.host_event_lock();
        lock(&self.inner).vary(chpid, false);
    }

    /// The path is varied online: back in the usable mask; no CRW.
    pub fn vary_on(&self, chpid: u8) {
        let _io = self.host_event_lock();
        lock(&self.inner).vary(chpid, true);
    }

    /// The mdev is being removed: the request IRQ fires now and every
    /// [`REMOVAL_REPEAT`] while a device fd stays open; the mdev disappears
    /// at the last close (at once if none is open).
    pub fn unbind(&self) {
        let g = lock(&self.inner);
        self.finish(g, |g| g.request_removal());
    }

    /// The mdev is created again after its removal, as an administrator
    /// writes the same UUID to the type's `create` after the request IRQ
    /// was answered: device fds open again, as on a fresh mdev. Returns
    /// false, changing nothing, while the mdev still exists (its removal
    /// waiting for the last close included).
    pub fn recreate(&self) -> bool {
        let mut g = lock(&self.inner);
        if !g.removed {
            return false;
        }
        g.removed = false;
        true
    }

    /// The subchannel goes away: STSCH fails (SCHIB reads `ENODEV`), the
    /// FSM gets NOT_OPER, the program is freed, and the mdev is removed
    /// (request IRQ).
    pub fn set_not_operational(&self) {
        let _io = self.host_event_lock();
        let g = lock(&self.inner);
        self.finish(g, |g| g.not_operational());
    }

    /// An unsolicited interrupt (status alert, e.g. attention `0x80`) with
    /// this device status, delivered as an IRB without a state change;
    /// dropped while the subchannel is disabled.
    pub fn unsolicited_interrupt(&self, dstat: u8) {
        let _io = self.host_event_lock();
        lock(&self.inner).unsolicited(dstat);
    }

    /// Lets a stalled channel program run to its end now.
    pub fn complete_stalled(&self) {
        let _io = self.host_event_lock();
        lock(&self.inner).complete_stalled();
    }

    /// Replaces the fault script; its `#N` ordinals count from now.
    pub fn set_faults(&self, faults: FaultScript) {
        let mut g = lock(&self.inner);
        g.faults = faults;
        g.fault_seen = [0; OpKind::ALL.len()];
    }

    /// Sets where the path events of this kernel's fault rules go (once;
    /// a later hook is ignored). Without one they stay this subchannel's.
    pub fn on_path_event(&self, hook: PathHook) {
        let _ = self.path_hook.set(hook);
    }

    /// Runs `f` on the locked state, then, unlocked, starts the removal
    /// repeat thread if `f` asked for it and reports the path events.
    fn finish<T>(&self, mut g: MutexGuard<'_, Inner>, f: impl FnOnce(&mut Inner) -> T) -> T {
        let r = f(&mut g);
        let spawn = std::mem::take(&mut g.spawn_repeats);
        let hook = self.path_hook.get().filter(|_| !g.path_events.is_empty());
        let events = hook.map(|_| std::mem::take(&mut g.path_events));
        g.path_events.clear();
        drop(g);
        if spawn {
            self.spawn_removal_repeats();
        }
        if let (Some(hook), Some(events)) = (hook, events) {
            events.into_iter().for_each(hook);
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
            // The subchannel's thread sees the last close and ends.
            g.wake.notify_all();
            // close_device leaves the eventfds connected: the driver puts
            // them only when the mdev itself goes.
            if g.removal_pending {
                g.mdev_gone();
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
                if let Some(kind) = Region::at(offset).and_then(|(r, _)| r.write_kind()) {
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

impl Inner {
    /// The mdev is released: no more device fds, and the eventfd
    /// references the driver held go with it.
    fn mdev_gone(&mut self) {
        self.removed = true;
        self.removal_pending = false;
        self.triggers = Triggers::default();
    }

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
                FaultAction::ChpOffline(c) => {
                    self.chp_offline(c);
                    self.path_events.push(PathEvent::Offline(c));
                }
                FaultAction::ChpOnline(c) => {
                    self.chp_online(c);
                    self.path_events.push(PathEvent::Online(c));
                }
                FaultAction::VaryOff(c) => {
                    self.vary(c, false);
                    self.path_events.push(PathEvent::VaryOff(c));
                }
                FaultAction::VaryOn(c) => {
                    self.vary(c, true);
                    self.path_events.push(PathEvent::VaryOn(c));
                }
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
