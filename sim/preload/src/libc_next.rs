// SPDX-License-Identifier: GPL-2.0-or-later
//! The real libc functions behind the interposed ones, found once with
//! dlsym(RTLD_NEXT).

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

use libc::{mode_t, off_t, size_t, ssize_t};

/// Resolves `name` in the libraries after this one, caching it in `slot`.
fn next(slot: &AtomicPtr<c_void>, name: &CStr) -> *mut c_void {
    let cached = slot.load(Ordering::Acquire);
    if !cached.is_null() {
        return cached;
    }
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT is valid in a shared
    // object.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if found.is_null() {
        // Without libc's own function nothing sensible can happen.
        // SAFETY: abort takes no arguments.
        unsafe { libc::abort() };
    }
    slot.store(found, Ordering::Release);
    found
}

macro_rules! next_fn {
    ($name:ident, $sym:literal, fn($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        /// The libc function of that name.
        ///
        /// # Safety
        /// As the libc function.
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            static SLOT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
            let f = next(&SLOT, $sym);
            // SAFETY: dlsym found libc's function of this name, which has
            // this signature.
            let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(f) };
            // SAFETY: the caller's contract is the function's.
            unsafe { f($($arg),*) }
        }
    };
}

next_fn!(
    open,
    c"open64",
    fn(path: *const c_char, flags: c_int, mode: mode_t) -> c_int
);
next_fn!(
    openat,
    c"openat64",
    fn(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int
);
next_fn!(
    ioctl,
    c"ioctl",
    fn(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int
);
next_fn!(
    pread,
    c"pread64",
    fn(fd: c_int, buf: *mut c_void, count: size_t, offset: off_t) -> ssize_t
);
next_fn!(
    pwrite,
    c"pwrite64",
    fn(fd: c_int, buf: *const c_void, count: size_t, offset: off_t) -> ssize_t
);
next_fn!(close, c"close", fn(fd: c_int) -> c_int);
next_fn!(
    fstat,
    c"fstat64",
    fn(fd: c_int, buf: *mut libc::stat) -> c_int
);
