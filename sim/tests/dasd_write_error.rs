// SPDX-License-Identifier: GPL-2.0-or-later
//! A Write Data whose track cannot be written to the image file: the
//! channel sees an equipment check, and the record still reads what the
//! file holds.
//!
//! The failure is made with a file size limit, which holds for a whole
//! process: the device runs in a forked child, so that the limit reaches
//! neither the test harness's output (a file when it is redirected) nor
//! other tests.

mod common;

use common::CE_DE;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::ckd::{append, CkdImage, Count};
use vfio_ccw_sim::dasd::*;

/// Why the child failed, by its exit status.
const FAILURES: [&str; 4] = [
    "",
    "setrlimit(RLIMIT_FSIZE) failed",
    "the failed write did not end in unit check with equipment check",
    "the record reads what failed to reach the file",
];

fn search_record_1(d: &mut Dasd3390) {
    d.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    while d
        .command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&[0, 0, 0, 0, 1]))
        .dstat
        == CE_DE
    {}
}

/// In the child: the failing write and what it leaves. Exit status 0 or
/// an index into [`FAILURES`].
fn write_under_a_file_size_limit(d: &mut Dasd3390) -> i32 {
    // Track (0, 0) starts after the 512-byte device header: from there on
    // writes fail with EFBIG (SIGXFSZ ignored, as the signal would kill).
    // SAFETY: SIG_IGN for SIGXFSZ changes no memory.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let limit = libc::rlimit {
        rlim_cur: 512,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit) } != 0 {
        return 1;
    }
    search_record_1(d);
    let r = d.command(CMD_WRITE_DATA, Transfer::Write(&[0x5a; 100]));
    if r.dstat != CE_DE | dstat::UNIT_CHECK || d.sense()[0] != SENSE0_EQUIPMENT_CHECK {
        return 2;
    }
    search_record_1(d);
    let mut buf = [0u8; 100];
    d.command(CMD_READ_DATA, Transfer::Read(&mut buf));
    if buf != [0x11; 100] {
        return 3;
    }
    0
}

#[test]
fn a_failed_track_write_is_an_equipment_check_and_changes_nothing() {
    let path = std::env::temp_dir().join(format!(
        "vfio-ccw-dasd-write-error-{}.3390",
        std::process::id()
    ));
    let mut image = CkdImage::create(&path, 1).expect("create");
    let mut track = image.read_track(0, 0).unwrap();
    let count = Count {
        cyl: 0,
        head: 0,
        record: 1,
        key_len: 0,
        data_len: 100,
    };
    append(&mut track, count, &[], &[0x11; 100]).unwrap();
    image.write_track(0, 0, &track).unwrap();
    drop(image);
    let mut d = Dasd3390::open(&path).expect("open");

    // SAFETY: the child only runs the device code above and leaves with
    // _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let status = write_under_a_file_size_limit(&mut d);
        // SAFETY: ends the child without running the parent's exit code.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
    let _ = std::fs::remove_file(&path);
    assert_eq!(waited, pid);
    assert!(
        libc::WIFEXITED(status),
        "the child died: status {status:#x}"
    );
    let code = libc::WEXITSTATUS(status) as usize;
    assert_eq!(code, 0, "{}", FAILURES.get(code).unwrap_or(&"unknown"));
}
