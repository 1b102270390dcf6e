// SPDX-License-Identifier: GPL-2.0-or-later
//! The iommufd way to the device as a preloaded C program sees it:
//! `/dev/iommu` with its I/O address spaces and the device cdev
//! `/dev/vfio/devices/vfio0`, answering like Linux 6.6 and later.

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::{probe, probe_command, probe_with, scratch};
use libc::{E2BIG, EBADF, EBADFD, EBUSY, EEXIST, EINVAL, EMSGSIZE, ENOENT};

/// The steps that bind the cdev to a fresh iommufd (device id 1) and
/// attach it to a fresh IOAS (id 2), as QEMU does.
const ATTACHED: [&str; 5] = ["iommufd", "cdev", "bind", "ioas", "attach=2"];

fn then<'a>(first: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    first.iter().chain(more).copied().collect()
}

/// The count of one operation in the simulator's statistics (absent: 0).
fn op_count(report: &str, op: &str) -> u64 {
    report
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(op)).then(|| words.next()?.parse().ok())?
        })
        .unwrap_or(0)
}

#[test]
fn the_cdev_is_the_character_device_sysfs_names() {
    native_only!();
    let r = probe(&scratch("cdev-stat"), &["cdev", "fstat-device"]);
    assert_eq!(r.result(1), "ok chr 511:0", "vfio-dev/vfio0/dev says 511:0");
}

#[test]
fn only_the_mdevs_cdev_exists() {
    native_only!();
    let r = probe(&scratch("cdev-name"), &["cdev=vfio1", "cdev=vfio0"]);
    assert_eq!(r.errno(0), Some(ENOENT));
    assert_eq!(r.result(1), "ok");
}

#[test]
fn an_unbound_cdev_answers_nothing_but_bind() {
    native_only!();
    let r = probe(&scratch("unbound"), &["cdev", "info", "read=0,4", "detach"]);
    assert_eq!(r.errno(1), Some(EINVAL), "GET_INFO");
    assert_eq!(r.errno(2), Some(EINVAL), "pread");
    assert_eq!(r.errno(3), Some(EINVAL), "DETACH");
}

#[test]
fn bind_needs_an_iommufd() {
    native_only!();
    let r = probe(&scratch("bind-fd"), &["cdev", "bind=0", "bind=999"]);
    assert_eq!(r.errno(1), Some(EBADFD), "stdin is no iommufd");
    assert_eq!(r.errno(2), Some(EBADF), "no file at all");
}

#[test]
fn bind_flags_must_be_zero() {
    native_only!();
    let r = probe(&scratch("bind-flags"), &["iommufd", "cdev", "bind-flags=1"]);
    assert_eq!(r.errno(2), Some(EINVAL));
}

#[test]
fn a_bound_cdev_is_the_ccw_device() {
    native_only!();
    let r = probe(&scratch("bound"), &["iommufd", "cdev", "bind", "info"]);
    assert_eq!(r.result(2), "ok 1", "the device id");
    assert!(
        r.result(3).starts_with("ok flags=0x11 regions=4 irqs=3"),
        "{}",
        r.result(3)
    );
}

#[test]
fn the_device_binds_once() {
    native_only!();
    let r = probe(
        &scratch("bind-once"),
        &["iommufd", "cdev", "bind", "bind", "cdev", "bind"],
    );
    assert_eq!(r.errno(3), Some(EINVAL), "the same cdev again");
    assert_eq!(r.errno(5), Some(EINVAL), "a second open of the cdev");
}

#[test]
fn the_group_and_the_cdev_exclude_each_other() {
    native_only!();
    let r = probe(
        &scratch("exclusive"),
        &[
            "iommufd",
            "group",
            "cdev",
            "bind",
            "close-group",
            "bind",
            "group",
        ],
    );
    assert_eq!(r.errno(3), Some(EBUSY), "bind while the group is open");
    assert_eq!(r.result(5), "ok 1");
    assert_eq!(r.errno(6), Some(EBUSY), "group open while bound");
}

#[test]
fn closing_the_cdev_unbinds_the_device() {
    native_only!();
    let r = probe(
        &scratch("unbind"),
        &["iommufd", "cdev", "bind", "close-device", "group"],
    );
    assert_eq!(r.result(4), "ok");
}

#[test]
fn object_ids_share_one_space_from_one() {
    native_only!();
    let r = probe(
        &scratch("ids"),
        &["iommufd", "cdev", "bind", "ioas", "ioas"],
    );
    assert_eq!(r.result(2), "ok 1");
    assert_eq!(r.result(3), "ok 2");
    assert_eq!(r.result(4), "ok 3");
}

#[test]
fn ioas_alloc_refuses_arguments_with_unknown_nonzero_bytes() {
    native_only!();
    let r = probe(&scratch("e2big"), &["iommufd", "ioas-e2big"]);
    assert_eq!(r.errno(1), Some(E2BIG));
}

#[test]
fn only_an_ioas_can_be_attached() {
    native_only!();
    let r = probe(
        &scratch("attach-what"),
        &["iommufd", "cdev", "bind", "attach=1", "attach=9"],
    );
    assert_eq!(r.errno(3), Some(ENOENT), "the device's own access object");
    assert_eq!(r.errno(4), Some(ENOENT), "no object");
}

#[test]
fn iova_ranges_count_first_then_fill() {
    native_only!();
    let r = probe(
        &scratch("ranges"),
        &["iommufd", "ioas", "ranges=0", "ranges=4"],
    );
    assert_eq!(r.result(2), format!("errno {EMSGSIZE} num=1"));
    assert_eq!(
        r.result(3),
        "ok num=1 alignment=4096 0-0xffffffffffffffff",
        "no IOMMU domain: every IOVA"
    );
}

#[test]
fn ioas_map_wants_aligned_disjoint_ranges() {
    native_only!();
    let r = probe(
        &scratch("map"),
        &[
            "iommufd",
            "ioas",
            "ioas-map=0x1000,0x2000",
            "ioas-map=0x2000,0x1000",
            "ioas-map=0x800,0x1000",
            "ioas-map=0x3000,0x800",
        ],
    );
    assert_eq!(r.result(2), "ok 0x1000");
    assert_eq!(r.errno(3), Some(EEXIST), "overlap");
    assert_eq!(r.errno(4), Some(EINVAL), "unaligned IOVA");
    assert_eq!(r.errno(5), Some(EINVAL), "unaligned length");
}

#[test]
fn ioas_map_without_a_fixed_iova_takes_the_lowest_free_one() {
    native_only!();
    let r = probe(
        &scratch("map-any"),
        &[
            "iommufd",
            "ioas",
            "ioas-map=0,0x1000",
            "ioas-map-any=0x2000",
        ],
    );
    assert_eq!(r.result(3), "ok 0x1000");
}

#[test]
fn ioas_unmap_takes_whole_mappings_and_reports_the_bytes() {
    native_only!();
    let r = probe(
        &scratch("unmap"),
        &[
            "iommufd",
            "ioas",
            "ioas-map=0x1000,0x2000",
            "ioas-unmap=0x1000,0x1000",
            "ioas-unmap=0,0x10000",
            "ioas-unmap=0,0x10000",
            "ioas-unmap=0,-1",
        ],
    );
    assert_eq!(r.errno(3), Some(ENOENT), "a mapping cut in two");
    assert_eq!(r.result(4), "ok 8192");
    assert_eq!(r.errno(5), Some(ENOENT), "nothing left in the range");
    assert_eq!(r.result(6), "ok 0", "unmap all of an empty IOAS");
}

#[test]
fn an_attached_ioas_cannot_be_destroyed() {
    native_only!();
    let r = probe(
        &scratch("destroy"),
        &then(
            &ATTACHED,
            &["destroy=2", "detach", "destroy=2", "destroy=2"],
        ),
    );
    assert_eq!(r.errno(5), Some(EBUSY));
    assert_eq!(r.result(7), "ok");
    assert_eq!(r.errno(8), Some(ENOENT));
}

/// Runs the probe with `steps`, then returns the simulator's counters.
fn counters_after(name: &str, steps: &[&str]) -> String {
    let dir = scratch(name);
    let stats = dir.join("stats.txt");
    let mut cmd = probe_command(&dir);
    cmd.env("VFIO_CCW_SIM_STATS", &stats);
    probe_with(cmd, steps);
    std::fs::read_to_string(&stats).expect("the statistics file")
}

#[test]
fn the_driver_sees_the_mappings_of_the_attached_ioas_only() {
    native_only!();
    let report = counters_after(
        "mirror",
        &[
            "iommufd",
            "ioas",
            "ioas-map=0,0x1000",
            "ioas",
            "ioas-map=0,0x1000",
            "cdev",
            "bind",
            "attach=1",
            "ioas-map=0x1000,0x1000",
            "ioas-unmap=0,0x1000",
            "detach",
        ],
    );
    // IOAS 1's page on attach, none of IOAS 2's.
    assert_eq!(op_count(&report, "dma-map"), 1, "{report}");
    // Unmapping IOAS 2 reaches no driver; the detach takes IOAS 1's page.
    assert_eq!(op_count(&report, "dma-unmap"), 1, "{report}");
}

#[test]
fn mappings_made_while_attached_reach_the_driver() {
    native_only!();
    let report = counters_after(
        "mirror-live",
        &then(
            &ATTACHED,
            &["ioas-map=0,0x10000", "ioas-unmap=0,0x10000", "close-device"],
        ),
    );
    assert_eq!(op_count(&report, "dma-map"), 1, "{report}");
    assert_eq!(op_count(&report, "dma-unmap"), 1, "{report}");
}

#[test]
fn without_groups_only_the_cdev_reaches_the_device() {
    native_only!();
    let mut cmd = probe_command(&scratch("no-group"));
    cmd.env("VFIO_CCW_SIM_GROUP", "none");
    let r = probe_with(
        cmd,
        &["container", "group=0", "iommufd", "cdev", "bind", "info"],
    );
    assert_eq!(r.errno(0), Some(ENOENT), "no /dev/vfio/vfio");
    assert_eq!(r.errno(1), Some(ENOENT), "no group node");
    assert_eq!(r.result(4), "ok 1");
    assert!(r.result(5).starts_with("ok flags=0x11"), "{}", r.result(5));
}

/// The probe with `/dev/null` open as fd 42 and `VFIO_CCW_SIM_CDEV_FD`
/// set to `announced`, as `vfio-ccw-sim run --cdev-fd` starts a program.
fn probe_with_inherited_fd(name: &str, announced: &str) -> std::process::Command {
    let mut cmd = probe_command(&scratch(name));
    cmd.env("VFIO_CCW_SIM_CDEV_FD", announced);
    let null = std::fs::File::open("/dev/null").unwrap();
    let raw = null.as_raw_fd();
    // SAFETY: between fork and exec; dup2 is async-signal-safe. `null`
    // lives in the parent until the closure is dropped with `cmd`.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &null;
            if libc::dup2(raw, 42) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn an_announced_inherited_fd_is_the_cdev_from_the_start() {
    native_only!();
    let r = probe_with(
        probe_with_inherited_fd("cdev-fd", "42"),
        &["use-fd=42", "info", "iommufd", "bind", "info"],
    );
    assert_eq!(r.errno(1), Some(EINVAL), "an unbound cdev");
    assert_eq!(r.result(3), "ok 1");
    assert!(r.result(4).starts_with("ok flags=0x11"), "{}", r.result(4));
}

#[test]
fn an_announced_fd_that_is_not_open_is_named_on_stderr() {
    native_only!();
    let r = probe_with(
        probe_with_inherited_fd("cdev-fd-bad", "77"),
        &["use-fd=77", "info"],
    );
    assert_eq!(r.errno(1), Some(libc::EBADF), "not ours: libc's answer");
    assert!(
        r.stderr
            .contains("VFIO_CCW_SIM_CDEV_FD=77: the program has no such open file"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_channel_program_reaching_unmapped_memory_is_enoent_under_iommufd() {
    native_only!();
    // The driver reads 2 KiB of CCWs: from 0xff0 they run past the one page
    // mapped, which iommufd's access answers ENOENT (type1: EINVAL).
    let r = probe(
        &scratch("unmapped-enoent"),
        &then(&ATTACHED, &["ioas-map=0,4096", "ssch-nop=0xff0"]),
    );
    assert_eq!(r.errno(6), Some(ENOENT));
}
