// SPDX-License-Identifier: GPL-2.0-or-later
//! The real device fd refuses a variable-size ioctl argument whose argsz
//! does not fit its buffer, before the kernel (which trusts argsz) sees it.

use std::os::fd::AsRawFd;

use nix::errno::Errno;
use qemu_vfio_ccw::kernel::{DeviceFd, RawDeviceFd};
use qemu_vfio_ccw::uapi;

/// A buffer of `len` bytes whose first field, argsz, says `argsz`.
fn argument(len: usize, argsz: u32) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    buf[..4].copy_from_slice(&argsz.to_ne_bytes());
    buf
}

fn not_a_device() -> std::fs::File {
    std::fs::File::open("/dev/null").expect("/dev/null")
}

/// What an ioctl on /dev/null answers: ENOTTY from Linux; ENOSYS from
/// qemu-user (the s390x lane), which passes no ioctl it does not know.
fn refused_by_the_kernel(result: Result<(), Errno>) -> bool {
    matches!(result, Err(Errno::ENOTTY | Errno::ENOSYS))
}

#[test]
fn region_info_refuses_an_argsz_larger_than_its_buffer() {
    let file = not_a_device();
    let fd = RawDeviceFd::new(file.as_raw_fd());
    let len = uapi::REGION_INFO_SIZE;
    let mut buf = argument(len, 4096);
    assert_eq!(fd.get_region_info(&mut buf), Err(Errno::EINVAL));
    let mut buf = argument(len, len as u32);
    assert!(
        refused_by_the_kernel(fd.get_region_info(&mut buf)),
        "a fitting argsz reaches the ioctl, which /dev/null refuses"
    );
}

#[test]
fn region_info_refuses_an_argsz_smaller_than_the_header() {
    let file = not_a_device();
    let fd = RawDeviceFd::new(file.as_raw_fd());
    let mut buf = argument(uapi::REGION_INFO_SIZE, 8);
    assert_eq!(fd.get_region_info(&mut buf), Err(Errno::EINVAL));
}

#[test]
fn set_irqs_refuses_an_argsz_larger_than_its_buffer() {
    let file = not_a_device();
    let fd = RawDeviceFd::new(file.as_raw_fd());
    let len = uapi::IRQ_SET_HEADER_SIZE + 4;
    assert_eq!(fd.set_irqs(&argument(len, 1 << 20)), Err(Errno::EINVAL));
    assert!(refused_by_the_kernel(
        fd.set_irqs(&argument(len, len as u32))
    ));
}
