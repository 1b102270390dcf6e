// SPDX-License-Identifier: GPL-2.0-or-later
//! The C ABI: the only module with `extern "C"`.
//!
//! Rust decides, C applies: QEMU's shim passes its host-order subchannel
//! state in and applies the returned [`QvcOutcome`]. Conventions:
//! - every function returns a [`QvcStatus`]; outputs are written only on
//!   `QVC_STATUS_OK`;
//! - every pointer is checked (NULL or misaligned: an error, never a
//!   crash) and no panic unwinds into C;
//! - devices are named by a [`QvcHandle`], not by a pointer, so a handle
//!   that was never issued or is already unrealized is recognised and
//!   refused;
//! - QEMU calls with its big lock held, but the library does not rely on
//!   it: each device has its own lock, and [`qvc_device_unrealize`] waits
//!   for calls in flight on other threads, so no call reaches the device
//!   fd after it returns;
//! - a call made from inside another (the log handler calling back) is
//!   refused with `QVC_STATUS_REENTRANT` instead of deadlocking;
//! - the ABI is versioned: the SONAME carries [`QVC_ABI_MAJOR`], which
//!   changes only when old callers would break; [`QVC_ABI_MINOR`] counts
//!   additions. The structures the caller fills or receives start with
//!   their size, so a later version can add fields at their end and still
//!   serve callers built against this one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::css::{Crw, Esw, Orb, Schib};
use crate::device::{Config, Device, Outcome};
use crate::irq::Irq;
use crate::kernel::RawDeviceFd;
use crate::logging;

/// Names one realized device. 0 is never issued.
pub type QvcHandle = u64;

/// The result of every call.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QvcStatus {
    /// Done; outputs are written.
    Ok = 0,
    /// A required pointer was NULL.
    NullArgument = 1,
    /// The handle is 0, was never issued, or its device is unrealized.
    InvalidHandle = 2,
    /// A bug in the library was caught at the boundary; the device is
    /// best treated as broken.
    Panic = 3,
    /// Realize failed; the message is in the caller's buffer.
    RealizeFailed = 4,
    /// An argument is out of range or a pointer is misaligned.
    InvalidArgument = 5,
    /// Called from inside another call of the library (the log handler
    /// called back); nothing was done.
    Reentrant = 6,
}

/// The vfio-ccw interrupts, for [`qvc_device_irq_fd`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QvcIrq {
    /// I/O interrupt: call [`qvc_device_io_interrupt`].
    Io = 0,
    /// Channel report: call [`qvc_device_crw_interrupt`].
    Crw = 1,
    /// Host request to release the device: call [`qvc_device_req_interrupt`].
    Req = 2,
}

/// Severity of a message for the log handler.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QvcLogLevel {
    /// For error_report.
    Error = 1,
    /// For warn_report.
    Warn = 2,
    /// For info_report.
    Info = 3,
    /// For tracing; only with `QVC_LOG=debug`.
    Debug = 4,
}

/// Receives each message of the library, NUL-terminated, naming the
/// device. Called on the thread that made the library call, possibly
/// while the library holds a device lock: a call back into the library
/// from here is refused with `QVC_STATUS_REENTRANT` (only
/// [`qvc_status_str`] works).
pub type QvcLogFn =
    Option<unsafe extern "C" fn(opaque: *mut c_void, level: QvcLogLevel, message: *const c_char)>;

/// Copy `schib` into the subchannel (`sch->curr_status`).
pub const QVC_ACTION_SET_SCHIB: u32 = 1 << 0;
/// Copy `esw` into the subchannel (`sch->esw`).
pub const QVC_ACTION_SET_ESW: u32 = 1 << 1;
/// Copy `sense` into the subchannel (`sch->sense_data`).
pub const QVC_ACTION_SET_SENSE: u32 = 1 << 2;
/// Call css_inject_io_interrupt(sch), after the copies.
pub const QVC_ACTION_INJECT_IO_INTERRUPT: u32 = 1 << 3;

/// The ABI's major version, also the SONAME's (`libqemu_vfio_ccw.so.0`):
/// it changes only with a change that breaks callers built against an
/// earlier one.
pub const QVC_ABI_MAJOR: u32 = 0;
/// The ABI's minor version: what this major added since its first
/// release (functions, structure fields at the end, status values).
pub const QVC_ABI_MINOR: u32 = 1;

/// The library's ABI version, `(major << 16) | minor`. A caller built
/// against `QVC_ABI_MAJOR`.`QVC_ABI_MINOR` works with a library of the
/// same major and at least that minor; QEMU checks it at realize.
#[no_mangle]
pub extern "C" fn qvc_abi_version() -> u32 {
    (QVC_ABI_MAJOR << 16) | QVC_ABI_MINOR
}

/// Device properties, as QEMU passes them to [`qvc_device_realize`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QvcConfig {
    /// `sizeof(QvcConfig)` as the caller was built with: fields beyond it
    /// take their defaults. At least [`QVC_CONFIG_SIZE_MIN`].
    pub size: u32,
    /// `force-orb-pfch`: set the ORB's prefetch bit on every start, for
    /// kernels before 5.8 that refuse ORBs without it. 0 or 1.
    pub force_orb_pfch: bool,
}

/// The smallest `QvcConfig::size` accepted: the structure of ABI 0.1.
pub const QVC_CONFIG_SIZE_MIN: u32 = 8;

/// What QEMU must do after an operation: return `ret`, then apply
/// `actions` in the order of their bits.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QvcOutcome {
    /// In: `sizeof(QvcOutcome)` as the caller was built with, at least
    /// [`QVC_OUTCOME_SIZE_MIN`]; out: the bytes the library wrote, fields
    /// beyond them untouched.
    pub size: u32,
    /// start/store: the `IOInstEnding` (condition code 0..3);
    /// halt/clear: 0 or a negative errno for css (-ENOSYS: emulate).
    pub ret: i32,
    /// `QVC_ACTION_*` bits.
    pub actions: u32,
    /// The subchannel's new SCHIB, with `QVC_ACTION_SET_SCHIB`.
    pub schib: Schib,
    /// The subchannel's new ESW, with `QVC_ACTION_SET_ESW`.
    pub esw: Esw,
    /// The subchannel's new sense data, with `QVC_ACTION_SET_SENSE`.
    pub sense: [u8; 32],
}

/// The smallest `QvcOutcome::size` accepted: the structure of ABI 0.1.
pub const QVC_OUTCOME_SIZE_MIN: u32 = 116;

const _: () = {
    assert!(std::mem::size_of::<QvcConfig>() == QVC_CONFIG_SIZE_MIN as usize);
    assert!(std::mem::size_of::<QvcOutcome>() == QVC_OUTCOME_SIZE_MIN as usize);
};

impl QvcOutcome {
    /// An outcome as a caller prepares one: its size set, nothing else.
    pub fn new() -> Self {
        QvcOutcome {
            size: std::mem::size_of::<QvcOutcome>() as u32,
            ret: 0,
            actions: 0,
            schib: Schib::default(),
            esw: Esw::default(),
            sense: [0; 32],
        }
    }
}

impl Default for QvcOutcome {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Outcome> for QvcOutcome {
    fn from(o: Outcome) -> Self {
        QvcOutcome {
            ret: o.ret,
            actions: o.actions,
            schib: o.schib,
            esw: o.esw,
            sense: o.sense,
            ..QvcOutcome::new()
        }
    }
}

/// [`qvc_device_crw_interrupt`] stores at most this many reports per
/// call, whatever capacity it is given; the eventfd fires again for the
/// rest. It bounds both the slice built on the caller's pointer and the
/// reads a kernel that never ends its queue can cause.
pub const QVC_CRW_CAPACITY_MAX: usize = 64;

const _: () = {
    assert!(QVC_ACTION_SET_SCHIB == crate::device::ACTION_SET_SCHIB);
    assert!(QVC_ACTION_SET_ESW == crate::device::ACTION_SET_ESW);
    assert!(QVC_ACTION_SET_SENSE == crate::device::ACTION_SET_SENSE);
    assert!(QVC_ACTION_INJECT_IO_INTERRUPT == crate::device::ACTION_INJECT_IO_INTERRUPT);
};

/// A registered device; `None` once unrealized. A call that found the
/// handle before unrealize removed it finds `None` here and is refused.
type Shared = Arc<Mutex<Option<Device>>>;

/// Every registered device. A B-tree, not a hash map: a lookup is a few
/// integer compares for the handful of devices a guest has, where hashing
/// the handle with SipHash was the largest part of the ABI's own cost per
/// I/O (benches/io_path.rs, docs/performance.md).
static DEVICES: Mutex<BTreeMap<QvcHandle, Shared>> = Mutex::new(BTreeMap::new());
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic caught at the boundary poisons the lock; the data is still
    // the best state there is.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `device` reachable through the ABI. Public so that Rust tests
/// can put a device on any [`crate::kernel::DeviceFd`] behind a handle.
pub fn register(device: Device) -> QvcHandle {
    let mut handle = 0;
    publish(device, |issued| {
        handle = issued;
        Ok(())
    })
    .map(|()| handle)
    .unwrap_or_default()
}

/// Issues a handle for `device`, hands it to `write_out` and only then
/// makes the device reachable: if writing the handle out fails (or
/// panics), the device is torn down here instead of staying registered
/// under a handle nobody has.
pub fn publish(
    device: Device,
    write_out: impl FnOnce(QvcHandle) -> Result<(), QvcStatus>,
) -> Result<(), QvcStatus> {
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    // `device` drops (disconnecting its interrupts) if this unwinds.
    write_out(handle)?;
    lock(&DEVICES).insert(handle, Arc::new(Mutex::new(Some(device))));
    Ok(())
}

/// Runs `op` on the device of `handle`, under its lock.
fn with_device<R>(handle: QvcHandle, op: impl FnOnce(&mut Device) -> R) -> Result<R, QvcStatus> {
    // Cloning the Arc keeps the registry lock short and allocates nothing.
    let shared = lock(&DEVICES)
        .get(&handle)
        .cloned()
        .ok_or(QvcStatus::InvalidHandle)?;
    let mut device = lock(&shared);
    device.as_mut().map(op).ok_or(QvcStatus::InvalidHandle)
}

thread_local! {
    /// True while this thread is inside a call of the library.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Clears [`IN_CALL`] when the call ends, however it ends.
struct CallGuard;

impl Drop for CallGuard {
    fn drop(&mut self) {
        IN_CALL.with(|in_call| in_call.set(false));
    }
}

/// Runs `body` with panics caught and the logger installed, unless this
/// thread is already inside a call (the log handler calling back), which
/// would deadlock on the lock that call holds.
fn boundary(body: impl FnOnce() -> Result<(), QvcStatus>) -> QvcStatus {
    if IN_CALL.with(|in_call| in_call.replace(true)) {
        return QvcStatus::Reentrant;
    }
    let _guard = CallGuard;
    match catch_unwind(AssertUnwindSafe(|| {
        logging::install();
        body()
    })) {
        Ok(Ok(())) => QvcStatus::Ok,
        Ok(Err(status)) => status,
        Err(_) => QvcStatus::Panic,
    }
}

/// Reads `*ptr`.
///
/// # Safety
/// `ptr` is NULL or valid for reads of a `T`.
unsafe fn input<T: Copy>(ptr: *const T) -> Result<T, QvcStatus> {
    if ptr.is_null() {
        return Err(QvcStatus::NullArgument);
    }
    // SAFETY: non-null and, by the caller's contract, valid for reads;
    // read_unaligned accepts any alignment, as packed C structs may have.
    Ok(unsafe { ptr.read_unaligned() })
}

/// Checks an output pointer before anything is done.
fn output<T>(ptr: *mut T) -> Result<*mut T, QvcStatus> {
    if ptr.is_null() {
        Err(QvcStatus::NullArgument)
    } else {
        Ok(ptr)
    }
}

/// Writes `value` to `ptr`.
///
/// # Safety
/// `ptr` is non-null (checked by [`output`]) and valid for writes of a `T`.
unsafe fn store<T>(ptr: *mut T, value: T) {
    // SAFETY: by the caller's contract; write_unaligned accepts any alignment.
    unsafe { ptr.write_unaligned(value) }
}

/// A static description of `status`, for messages. Unknown values give
/// "unknown status".
#[no_mangle]
pub extern "C" fn qvc_status_str(status: u32) -> *const c_char {
    let text: &'static CStr = match status {
        0 => c"success",
        1 => c"a required pointer argument is NULL",
        2 => c"invalid device handle (never realized, or already unrealized)",
        3 => c"internal error in the vfio-ccw library (caught panic)",
        4 => c"device realize failed",
        5 => c"invalid argument",
        6 => c"called from inside another call of the vfio-ccw library (log handler)",
        _ => c"unknown status",
    };
    text.as_ptr()
}

/// Sets the function that receives the library's messages. `opaque` is
/// passed back to it. A NULL `log_fn` sends messages to stderr again.
/// Without a handler, messages go to stderr.
#[no_mangle]
pub extern "C" fn qvc_set_log_handler(log_fn: QvcLogFn, opaque: *mut c_void) -> QvcStatus {
    boundary(|| {
        let sink: Option<logging::Sink> = log_fn.map(|log_fn| {
            let opaque = opaque as usize;
            Box::new(move |level: log::Level, message: &str| {
                let level = match level {
                    log::Level::Error => QvcLogLevel::Error,
                    log::Level::Warn => QvcLogLevel::Warn,
                    log::Level::Info => QvcLogLevel::Info,
                    _ => QvcLogLevel::Debug,
                };
                // Interior NULs cannot reach C; replace them.
                let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
                // SAFETY: the shim registered `log_fn` with this `opaque`
                // and promised it stays callable; `text` outlives the call.
                unsafe { log_fn(opaque as *mut c_void, level, text.as_ptr()) }
            }) as logging::Sink
        });
        logging::set_sink(sink);
        Ok(())
    })
}

/// Realizes the vfio-ccw device open on `fd`: checks it, finds its
/// regions, connects its interrupts.
///
/// `fd` stays the caller's: the library never closes it, and it must stay
/// open until [`qvc_device_unrealize`]. `name` names the device in every
/// message (the host subchannel id, e.g. "0.0.0313"). `config` may be
/// NULL for the defaults; each of its `bool` fields must hold 0 or 1. On
/// success `*handle_out` is the new handle. On `QVC_STATUS_REALIZE_FAILED`
/// and on `QVC_STATUS_INVALID_ARGUMENT` for a bad `config`, `err_buf` (if
/// not NULL) receives a NUL-terminated message of at most `err_len` bytes
/// naming the device and the cause.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `config` is NULL or points
/// to a `QvcConfig` of at least its `size` bytes; `handle_out` is NULL or writable; `err_buf` is NULL
/// or writable for `err_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_realize(
    fd: c_int,
    name: *const c_char,
    config: *const QvcConfig,
    handle_out: *mut QvcHandle,
    err_buf: *mut c_char,
    err_len: usize,
) -> QvcStatus {
    boundary(|| {
        if name.is_null() {
            return Err(QvcStatus::NullArgument);
        }
        let handle_out = output(handle_out)?;
        // SAFETY: non-null and NUL-terminated by the caller's contract.
        let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
        let fail = |status: QvcStatus, message: &str| {
            if !err_buf.is_null() && err_len > 0 {
                let bytes = message.as_bytes();
                let n = bytes.len().min(err_len - 1);
                // SAFETY: `err_buf` is writable for `err_len` bytes and
                // n + 1 <= err_len.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), err_buf.cast::<u8>(), n);
                    *err_buf.add(n) = 0;
                }
            }
            status
        };
        let config = if config.is_null() {
            Config::default()
        } else {
            // SAFETY: non-null and readable by the caller's contract.
            unsafe { read_config(config) }.map_err(|cause| {
                fail(
                    QvcStatus::InvalidArgument,
                    &format!("vfio-ccw {name}: {cause}"),
                )
            })?
        };
        if fd < 0 {
            return Err(fail(
                QvcStatus::RealizeFailed,
                &format!("vfio-ccw {name}: no device fd (fd {fd})"),
            ));
        }
        match Device::realize(Box::new(RawDeviceFd::new(fd)), &name, config) {
            Ok(device) => publish(device, |handle| {
                // SAFETY: checked non-null; writable by the caller's contract.
                unsafe { store(handle_out, handle) };
                Ok(())
            }),
            Err(e) => Err(fail(QvcStatus::RealizeFailed, &e.to_string())),
        }
    })
}

/// Reads a C `QvcConfig`: its size first, then its fields as bytes (a
/// `bool` holding anything but 0 or 1 would be undefined behaviour as a
/// Rust `bool`).
///
/// # Safety
/// `config` is non-null and valid for reads of its `size` bytes, at
/// least [`QVC_CONFIG_SIZE_MIN`].
unsafe fn read_config(config: *const QvcConfig) -> Result<Config, String> {
    // SAFETY: by the caller's contract the size field is readable.
    let size = unsafe { input(config.cast::<u32>()) }.map_err(|_| "no config")?;
    if size < QVC_CONFIG_SIZE_MIN {
        return Err(format!(
            "config size {size} is smaller than QvcConfig of ABI 0.1 ({QVC_CONFIG_SIZE_MIN} bytes)"
        ));
    }
    const SIZE: usize = std::mem::size_of::<QvcConfig>();
    // SAFETY: `size` >= SIZE bytes are readable by the caller's contract;
    // a byte array has no invalid values.
    let bytes = unsafe { input(config.cast::<[u8; SIZE]>()) }.map_err(|_| "no config")?;
    let force_orb_pfch = match bytes[std::mem::offset_of!(QvcConfig, force_orb_pfch)] {
        0 => false,
        1 => true,
        other => {
            return Err(format!(
                "config force_orb_pfch holds {other:#04x}, not a bool (0 or 1)"
            ))
        }
    };
    Ok(Config { force_orb_pfch })
}

/// Unrealizes the device: waits for calls on it in flight on other
/// threads, disconnects its interrupts (request, CRW, I/O), closes their
/// eventfds, and invalidates `handle`. Once it returns, the library makes
/// no call on the device fd, which stays open (QEMU's VFIO code closes it).
#[no_mangle]
pub extern "C" fn qvc_device_unrealize(handle: QvcHandle) -> QvcStatus {
    boundary(|| {
        let shared = lock(&DEVICES)
            .remove(&handle)
            .ok_or(QvcStatus::InvalidHandle)?;
        // Taking the lock waits for the call in flight, if any; later
        // calls that already found the handle see `None`. The device
        // drops here, so its teardown ioctls happen before we return.
        let device = lock(&shared).take();
        drop(device);
        Ok(())
    })
}

/// `*fd_out` = the eventfd to watch for `irq` (a `QvcIrq` value), or -1
/// if that interrupt is not set up (no CRW region; no request interrupt on
/// this kernel). The fd belongs to the library and closes at unrealize.
///
/// # Safety
/// `fd_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_irq_fd(
    handle: QvcHandle,
    irq: u32,
    fd_out: *mut c_int,
) -> QvcStatus {
    boundary(|| {
        let fd_out = output(fd_out)?;
        let irq = match irq {
            0 => Irq::Io,
            1 => Irq::Crw,
            2 => Irq::Req,
            _ => return Err(QvcStatus::InvalidArgument),
        };
        let fd = with_device(handle, |device| device.irq_fd(irq))?.unwrap_or(-1);
        // SAFETY: checked non-null; writable by the caller's contract.
        unsafe { store(fd_out, fd) };
        Ok(())
    })
}

/// Checks `out` and its size, reads the inputs, then runs `op` on the
/// device and stores its outcome: a NULL argument is reported whatever
/// the handle.
///
/// # Safety
/// `out` is NULL or readable and writable for its `size` bytes; `inputs`
/// reads only pointers valid by the caller's contract.
unsafe fn outcome_call<T>(
    handle: QvcHandle,
    out: *mut QvcOutcome,
    inputs: impl FnOnce() -> Result<T, QvcStatus>,
    op: impl FnOnce(&mut Device, T) -> Outcome,
) -> QvcStatus {
    boundary(|| {
        let out = output(out)?;
        // SAFETY: checked non-null; its size field is readable by the
        // caller's contract.
        if unsafe { input(out.cast::<u32>().cast_const()) }? < QVC_OUTCOME_SIZE_MIN {
            return Err(QvcStatus::InvalidArgument);
        }
        let inputs = inputs()?;
        let outcome = with_device(handle, |device| op(device, inputs))?;
        // SAFETY: checked non-null and at least QVC_OUTCOME_SIZE_MIN (this
        // structure's size) bytes, writable by the caller's contract.
        unsafe { store(out, QvcOutcome::from(outcome)) };
        Ok(())
    })
}

/// START SUBCHANNEL (`handle_request`). `orb` is `&sch->orb`, `current`
/// is `&sch->curr_status`, `channel_prog` is `sch->channel_prog`.
/// `out->ret` is the IOInstEnding; then apply `out->actions`.
///
/// # Safety
/// `orb` and `current` are NULL or readable; `out` is NULL or a
/// `QvcOutcome` whose `size` the caller set, writable for that size.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_start(
    handle: QvcHandle,
    orb: *const Orb,
    current: *const Schib,
    channel_prog: u32,
    out: *mut QvcOutcome,
) -> QvcStatus {
    // SAFETY: the pointers are checked inside and valid by contract.
    unsafe {
        outcome_call(
            handle,
            out,
            || Ok((input(orb)?, input(current)?)),
            |device, (orb, current)| device.start(&orb, &current, channel_prog),
        )
    }
}

/// HALT SUBCHANNEL (`handle_halt`). `out->ret` is 0 or a negative errno
/// for css (-ENOSYS: no async region, emulate); then apply `out->actions`.
///
/// # Safety
/// `current` is NULL or readable; `out` is NULL or a `QvcOutcome` whose
/// `size` the caller set, writable for that size.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_halt(
    handle: QvcHandle,
    current: *const Schib,
    channel_prog: u32,
    out: *mut QvcOutcome,
) -> QvcStatus {
    // SAFETY: the pointers are checked inside and valid by contract.
    unsafe {
        outcome_call(
            handle,
            out,
            || input(current),
            |device, current| device.halt(&current, channel_prog),
        )
    }
}

/// CLEAR SUBCHANNEL (`handle_clear`). `out->ret` is 0 or a negative errno
/// for css (-ENOSYS: no async region, emulate); then apply `out->actions`.
///
/// # Safety
/// `current` is NULL or readable; `out` is NULL or a `QvcOutcome` whose
/// `size` the caller set, writable for that size.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_clear(
    handle: QvcHandle,
    current: *const Schib,
    channel_prog: u32,
    out: *mut QvcOutcome,
) -> QvcStatus {
    // SAFETY: the pointers are checked inside and valid by contract.
    unsafe {
        outcome_call(
            handle,
            out,
            || input(current),
            |device, current| device.clear(&current, channel_prog),
        )
    }
}

/// STORE SUBCHANNEL (`handle_store`): refreshes the path masks from the
/// host. `out->ret` is the IOInstEnding; then apply `out->actions`.
///
/// # Safety
/// `current` is NULL or readable; `out` is NULL or a `QvcOutcome` whose
/// `size` the caller set, writable for that size.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_store(
    handle: QvcHandle,
    current: *const Schib,
    out: *mut QvcOutcome,
) -> QvcStatus {
    // SAFETY: the pointers are checked inside and valid by contract.
    unsafe {
        outcome_call(
            handle,
            out,
            || input(current),
            |device, current| device.store(&current),
        )
    }
}

/// The I/O eventfd is readable: reads the IRB. Apply `out->actions`
/// (none if the eventfd had not been signalled).
///
/// # Safety
/// `current` is NULL or readable; `out` is NULL or a `QvcOutcome` whose
/// `size` the caller set, writable for that size.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_io_interrupt(
    handle: QvcHandle,
    current: *const Schib,
    out: *mut QvcOutcome,
) -> QvcStatus {
    // SAFETY: the pointers are checked inside and valid by contract.
    unsafe {
        outcome_call(
            handle,
            out,
            || input(current),
            |device, current| device.io_interrupt(&current),
        )
    }
}

/// The CRW eventfd is readable: stores up to `capacity` channel reports
/// (and at most [`QVC_CRW_CAPACITY_MAX`]) in `crws` and their number in
/// `*count_out`; queue each with css_crw_add_to_queue. If more remain,
/// the eventfd fires again.
///
/// # Safety
/// `crws` is NULL or writable for `capacity` CRWs; `count_out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_crw_interrupt(
    handle: QvcHandle,
    crws: *mut Crw,
    capacity: usize,
    count_out: *mut usize,
) -> QvcStatus {
    boundary(|| {
        let crws = output(crws)?;
        let count_out = output(count_out)?;
        if capacity == 0 || !crws.is_aligned() {
            return Err(QvcStatus::InvalidArgument);
        }
        let capacity = capacity.min(QVC_CRW_CAPACITY_MAX);
        // SAFETY: non-null, aligned, writable for `capacity` elements by
        // the caller's contract (fewer than it promised, perhaps); no
        // other reference to it exists; 64 CRWs are far below isize::MAX.
        let crws = unsafe { std::slice::from_raw_parts_mut(crws, capacity) };
        let count = with_device(handle, |device| device.crw_interrupt(crws))?;
        // SAFETY: checked non-null; writable by the caller's contract.
        unsafe { store(count_out, count) };
        Ok(())
    })
}

/// The request eventfd is readable: `*unplug_out` is true when the host
/// wants the device back and QEMU should unplug it (qdev_unplug).
///
/// # Safety
/// `unplug_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn qvc_device_req_interrupt(
    handle: QvcHandle,
    unplug_out: *mut bool,
) -> QvcStatus {
    boundary(|| {
        let unplug_out = output(unplug_out)?;
        let unplug = with_device(handle, Device::req_interrupt)?;
        // SAFETY: checked non-null; writable by the caller's contract.
        unsafe { store(unplug_out, unplug) };
        Ok(())
    })
}

/// Device reset (VFIO_DEVICE_RESET). A failure of the reset itself is
/// logged, naming the device, and is not a status: QEMU's reset has no
/// way to fail.
#[no_mangle]
pub extern "C" fn qvc_device_reset(handle: QvcHandle) -> QvcStatus {
    boundary(|| {
        // Already reported through the log.
        let _ = with_device(handle, Device::reset)?;
        Ok(())
    })
}
