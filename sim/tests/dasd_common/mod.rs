// SPDX-License-Identifier: GPL-2.0-or-later
//! Scaffolding for the DASD tests: scratch image files, volumes made by
//! the IPL writer, and a channel rig with the 3390 behind it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use vfio_ccw_sim::dasd::Dasd;
use vfio_ccw_sim::ipl::{make_volume, IplSpec};
use vfio_ccw_sim::{Kernel, SimConfig, SimDeviceFd, DMA_READ, DMA_WRITE};

use crate::common::{set_eventfd, GuestMem, RawEventFd, GUEST_SIZE};

/// A file in the temporary directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Scratch(std::env::temp_dir().join(format!(
            "vfio-ccw-sim-dasd-{}-{n}-{tag}.3390",
            std::process::id()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub const LOAD: u32 = 0x10000;
pub const ENTRY: u32 = 0x10040;

/// A payload whose bytes all differ from their neighbours' positions.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A volume of `cyls` cylinders carrying `payload`.
pub fn volume(tag: &str, cyls: u32, payload: &[u8]) -> Scratch {
    let s = Scratch::new(tag);
    make_volume(
        s.path(),
        &IplSpec {
            cylinders: cyls,
            volser: "TEST01",
            payload,
            load_addr: LOAD,
            entry: ENTRY,
        },
    )
    .expect("make the volume");
    s
}

pub struct DasdRig {
    pub kernel: Arc<Kernel>,
    pub fd: SimDeviceFd,
    pub mem: GuestMem,
    pub io_efd: nix::sys::eventfd::EventFd,
}

/// The channel with the 3390 on `image` behind it, guest memory mapped.
pub fn dasd_rig(image: &Path, writable: bool) -> DasdRig {
    let dasd = Dasd::open(image, writable).expect("open the image");
    let kernel = Kernel::new(SimConfig::default(), Box::new(dasd));
    let mem = GuestMem::new(GUEST_SIZE);
    kernel
        .dma_map(0, mem.addr(), GUEST_SIZE as u64, DMA_READ | DMA_WRITE)
        .expect("map guest memory");
    let fd = kernel.open_device().expect("open device");
    let io_efd = crate::common::new_eventfd();
    set_eventfd(&fd, 0, io_efd.as_fd_raw()).expect("set the I/O eventfd");
    DasdRig {
        kernel,
        fd,
        mem,
        io_efd,
    }
}

/// Whether Hercules' dasdinit can be run; with CI=true its absence fails
/// the test, else the test is skipped with the reason printed.
pub fn have_dasdinit(test: &str) -> bool {
    let found = std::process::Command::new("dasdinit")
        .arg("-v")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: dasdinit (Debian package hercules) is missing and CI=true"
        );
        eprintln!("{test}: skipped: dasdinit (Debian package hercules) is not installed");
    }
    found
}
