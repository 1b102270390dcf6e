// SPDX-License-Identifier: GPL-2.0-or-later
//! LD_PRELOAD interposer: presents the simulated vfio-ccw kernel to an
//! unmodified program (QEMU, the C tests) through `/dev/vfio/vfio`, the
//! IOMMU group nodes `/dev/vfio/<group>` and the device fds, or through
//! `/dev/iommu` and the device cdevs `/dev/vfio/devices/vfio<N>`.
//!
//! Every fd it hands out is a real descriptor (of `/dev/null`), so stray
//! calls on it are harmless; a table maps those fds to what they stand
//! for. Calls on any other file go straight to libc. Configuration comes
//! from the environment (see `docs/simulator.md`):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `VFIO_CCW_SIM_GROUP` | IOMMU group number (device i: this + i), `none` for a kernel without groups | `7` |
//! | `VFIO_CCW_SIM_UUID` | mdev UUID (device name for GET_DEVICE_FD) | `6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313` |
//! | `VFIO_CCW_SIM_DASD` | 3390 CKD image behind the subchannel | required |
//! | `VFIO_CCW_SIM_SCHID` | host subchannel `C.S.XXXX` | `0.0.0313` |
//! | `VFIO_CCW_SIM_DEVNO` | device number `C.S.XXXX` (C.S ignored) | `0.0.0190` |
//! | `VFIO_CCW_SIM_CHPIDS` | CHPIDs of paths 0, 1, ... (hex, comma-separated) | `40` |
//! | `VFIO_CCW_SIM_COMPAT` | `qemu-c` for the stock C device | architecture byte order |
//! | `VFIO_CCW_SIM_FAULTS` | fault script file | none |
//! | `VFIO_CCW_SIM_LATENCY` | service time of a channel program in microseconds; `0` completes it inside the write; `3390` the disk model | `0` |
//! | `VFIO_CCW_SIM_SEED` | where the 3390 model's random rotational positions start | `0` |
//! | `VFIO_CCW_SIM_STATS` | where to write the kernel's counters at exit | stderr if `-` |
//! | `VFIO_CCW_SIM_STATS_JSON` | where to write the same counters at exit as JSON | none |
//! | `VFIO_CCW_SIM_CDEV_FD` | an inherited fd that is the first device's cdev, opened | none |
//! | `VFIO_CCW_SIM_DEVICES` | how many devices (subchannels) the host has | `1` |
//! | `VFIO_CCW_SIM_CONTROL` | a file (FIFO) of host path events (see `control`) | none |
//!
//! Device `i` reads the per-device variables (`DASD`, `SCHID`, `DEVNO`,
//! `CHPIDS`, `UUID`, `GROUP`, `FAULTS`) with `i` appended; device 0 also
//! the plain names above. Unset ones take the position's defaults
//! (`vfio_ccw_sim::subchannel::Description::at`).

mod control;
mod host;
mod iommufd;
mod libc_next;
mod vfio;

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use libc::{mode_t, off_t, size_t, ssize_t};

thread_local! {
    /// Set while this library runs: calls that its own code (or Rust's
    /// std, or the simulator) makes go straight to libc.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread (one of the interposer's own) as inside for good:
/// every file call it makes goes straight to libc.
pub(crate) fn inside_forever() {
    INSIDE.with(|i| i.set(true));
}

/// Runs `ours` unless this thread is already inside the interposer, in
/// which case `next` (the libc call) runs. A panic becomes -1/EIO.
fn interpose<T: From<i8>>(ours: impl FnOnce() -> Option<T>, next: impl FnOnce() -> T) -> T {
    if INSIDE.with(Cell::get) {
        return next();
    }
    INSIDE.with(|i| i.set(true));
    let result = catch_unwind(AssertUnwindSafe(ours));
    INSIDE.with(|i| i.set(false));
    match result {
        Ok(Some(value)) => value,
        Ok(None) => next(),
        Err(_) => {
            set_errno(libc::EIO);
            T::from(-1)
        }
    }
}

/// Runs when the program loads the interposer, before its main: an fd
/// the launcher opened as the device cdev must be ours from the start.
#[used]
#[link_section = ".init_array"]
static ADOPT_CDEV: extern "C" fn() = adopt_cdev;

extern "C" fn adopt_cdev() {
    let Ok(text) = std::env::var("VFIO_CCW_SIM_CDEV_FD") else {
        return;
    };
    INSIDE.with(|i| i.set(true));
    let adopted = catch_unwind(|| match text.parse() {
        Ok(fd) if fd >= 0 => vfio::adopt_cdev(fd),
        _ => Err(format!(
            "VFIO_CCW_SIM_CDEV_FD={text}: expected an fd number"
        )),
    });
    INSIDE.with(|i| i.set(false));
    match adopted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("vfio-ccw-sim: {e}"),
        Err(_) => eprintln!("vfio-ccw-sim: adopting the device cdev failed"),
    }
}

fn set_errno(errno: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = errno };
}

/// A result in the libc convention: the value, or -1 with errno set.
fn libc_result<T: From<i8>>(result: Result<T, nix::errno::Errno>) -> T {
    match result {
        Ok(value) => value,
        Err(errno) => {
            set_errno(errno as c_int);
            T::from(-1)
        }
    }
}

/// The path as text, if it is one of ours worth looking at.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string.
unsafe fn vfio_path<'a>(path: *const c_char) -> Option<&'a str> {
    if path.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated by the caller's contract.
    let path = unsafe { CStr::from_ptr(path) }.to_str().ok()?;
    (path.starts_with("/dev/vfio/") || path == "/dev/iommu").then_some(path)
}

/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    interpose(
        // SAFETY: `path` is the caller's string.
        || unsafe { vfio_path(path) }.map(|p| libc_result(vfio::open(p))),
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::open(path, flags, mode) },
    )
}

/// # Safety
/// As open(2).
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    // SAFETY: the same contract.
    unsafe { open(path, flags, mode) }
}

/// # Safety
/// As glibc's fortified open.
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the same contract, without a mode.
    unsafe { open(path, flags, 0) }
}

/// # Safety
/// As glibc's fortified open64.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the same contract, without a mode.
    unsafe { open(path, flags, 0) }
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    interpose(
        // SAFETY: `path` is the caller's string; our paths are absolute,
        // so `dirfd` does not matter for them.
        || unsafe { vfio_path(path) }.map(|p| libc_result(vfio::open(p))),
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::openat(dirfd, path, flags, mode) },
    )
}

/// # Safety
/// As openat(2).
#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    // SAFETY: the same contract.
    unsafe { openat(dirfd, path, flags, mode) }
}

/// # Safety
/// As glibc's fortified openat.
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the same contract, without a mode.
    unsafe { openat(dirfd, path, flags, 0) }
}

/// # Safety
/// As glibc's fortified openat64.
#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: the same contract, without a mode.
    unsafe { openat(dirfd, path, flags, 0) }
}

/// # Safety
/// As ioctl(2): `arg` is what `request` expects.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    interpose(
        // SAFETY: `arg` is valid for `request` by the caller's contract.
        || vfio::is_ours(fd).then(|| libc_result(unsafe { vfio::ioctl(fd, request, arg) })),
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::ioctl(fd, request, arg) },
    )
}

/// pread and pwrite: on one of our fds, the checks the kernel makes on
/// the user buffer before it copies, then `ours` (which may build a slice
/// of `count` bytes at `buf`); on any other fd, `next`.
fn buffer_io(
    fd: c_int,
    buf: *const c_void,
    count: size_t,
    ours: impl FnOnce() -> Result<usize, nix::errno::Errno>,
    next: impl FnOnce() -> ssize_t,
) -> ssize_t {
    interpose(
        || {
            vfio::is_ours(fd).then(|| {
                if buf.is_null() {
                    // The kernel's copy to or from user space faults.
                    return libc_result(Err(nix::errno::Errno::EFAULT));
                }
                if isize::try_from(count).is_err() {
                    // No buffer is that big: a slice cannot describe it.
                    return libc_result(Err(nix::errno::Errno::EINVAL));
                }
                libc_result(ours().map(|n| n as ssize_t))
            })
        },
        next,
    )
}

/// # Safety
/// As pread(2).
#[no_mangle]
pub unsafe extern "C" fn pread(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    buffer_io(
        fd,
        buf.cast_const(),
        count,
        || {
            // SAFETY: `buffer_io` checked that `buf` is non-NULL and
            // `count` fits a slice; it is writable for `count` bytes by
            // contract.
            let buf = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), count) };
            vfio::pread(fd, buf, offset)
        },
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::pread(fd, buf, count, offset) },
    )
}

/// # Safety
/// As pread(2).
#[no_mangle]
pub unsafe extern "C" fn pread64(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    // SAFETY: the same contract (64-bit off_t on every 64-bit host).
    unsafe { pread(fd, buf, count, offset) }
}

/// # Safety
/// As glibc's fortified pread: `buflen` is the buffer's real size.
#[no_mangle]
pub unsafe extern "C" fn __pread_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off_t,
    buflen: size_t,
) -> ssize_t {
    if count > buflen {
        // What glibc's check does: the caller overflows its buffer.
        // SAFETY: abort takes no arguments.
        unsafe { libc::abort() };
    }
    // SAFETY: the same contract.
    unsafe { pread(fd, buf, count, offset) }
}

/// # Safety
/// As glibc's fortified pread64.
#[no_mangle]
pub unsafe extern "C" fn __pread64_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    offset: off_t,
    buflen: size_t,
) -> ssize_t {
    // SAFETY: the same contract.
    unsafe { __pread_chk(fd, buf, count, offset, buflen) }
}

/// # Safety
/// As pwrite(2).
#[no_mangle]
pub unsafe extern "C" fn pwrite(
    fd: c_int,
    buf: *const c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    buffer_io(
        fd,
        buf,
        count,
        || {
            // SAFETY: `buffer_io` checked that `buf` is non-NULL and
            // `count` fits a slice; it is readable for `count` bytes by
            // contract.
            let buf = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), count) };
            vfio::pwrite(fd, buf, offset)
        },
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::pwrite(fd, buf, count, offset) },
    )
}

/// # Safety
/// As pwrite(2).
#[no_mangle]
pub unsafe extern "C" fn pwrite64(
    fd: c_int,
    buf: *const c_void,
    count: size_t,
    offset: off_t,
) -> ssize_t {
    // SAFETY: the same contract.
    unsafe { pwrite(fd, buf, count, offset) }
}

/// # Safety
/// As close(2).
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    interpose(
        || {
            vfio::forget(fd);
            None
        },
        // SAFETY: forwarded unchanged: our fds are real descriptors too.
        || unsafe { libc_next::close(fd) },
    )
}

/// # Safety
/// As fstat(2): `buf` is writable.
#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int {
    interpose(
        || {
            let rdev = vfio::rdev(fd)?;
            // SAFETY: forwarded unchanged: the backing descriptor's answer,
            // then the node's type and number in place of /dev/null's.
            let ret = unsafe { libc_next::fstat(fd, buf) };
            if ret == 0 {
                // SAFETY: fstat filled `buf`, which the caller gave.
                let st = unsafe { &mut *buf };
                st.st_mode = libc::S_IFCHR | 0o600;
                st.st_rdev = rdev;
            }
            Some(ret)
        },
        // SAFETY: forwarded unchanged.
        || unsafe { libc_next::fstat(fd, buf) },
    )
}

/// # Safety
/// As fstat(2) (struct stat64 is struct stat on every 64-bit host).
#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, buf: *mut libc::stat) -> c_int {
    // SAFETY: the same contract.
    unsafe { fstat(fd, buf) }
}
