// SPDX-License-Identifier: GPL-2.0-or-later
//! A Write Data whose track cannot be written to the image file: the
//! channel sees an equipment check, and the record still reads what the
//! file holds. Its own test binary, because the failure is made with a
//! process-wide file size limit.

mod common;

use common::CE_DE;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::ckd::{append, CkdImage, Count};
use vfio_ccw_sim::dasd::*;

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

    // Track (0, 0) starts after the 512-byte device header: from there on
    // writes fail with EFBIG (SIGXFSZ ignored, as the signal would kill us).
    // SAFETY: SIG_IGN for SIGXFSZ changes no memory; this process runs
    // only this test.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let limit = libc::rlimit {
        rlim_cur: 512,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &raw const limit) };
    assert_eq!(set, 0);

    let search = |d: &mut Dasd3390| {
        assert_eq!(d.command(CMD_SEEK, Transfer::Write(&[0; 6])).dstat, CE_DE);
        while d
            .command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&[0, 0, 0, 0, 1]))
            .dstat
            == CE_DE
        {}
    };
    search(&mut d);
    let r = d.command(CMD_WRITE_DATA, Transfer::Write(&[0x5a; 100]));
    assert_eq!(r.dstat, CE_DE | dstat::UNIT_CHECK);
    assert_eq!(d.sense()[0], SENSE0_EQUIPMENT_CHECK);

    search(&mut d);
    let mut buf = [0u8; 100];
    d.command(CMD_READ_DATA, Transfer::Read(&mut buf));
    assert_eq!(buf, [0x11; 100], "the record as the file has it");
    let _ = std::fs::remove_file(&path);
}
