// SPDX-License-Identifier: GPL-2.0-or-later
//! A host with several vfio-ccw devices, through the interposer: each has
//! its own group, device fd and cdev; a container's or IOAS's DMA mappings
//! reach every device in it; a channel-path event reaches every
//! subchannel on that CHPID; 64 devices open at once in bounded fds,
//! threads and memory.

mod common;

use std::path::Path;
use std::process::Command;

use common::{probe_command, probe_with, scratch, Report, UUID};

/// The UUID of the device at `position`, as its defaults give it.
fn uuid(position: usize) -> String {
    vfio_ccw_sim::subchannel::Description::at(position).uuid
}

/// The probe with `count` devices, each on a blank volume of its own;
/// `settings` are further variables (`VFIO_CCW_SIM_CHPIDS1`, ...).
fn probe_with_devices(dir: &Path, count: usize, settings: &[(&str, &str)]) -> Command {
    let mut cmd = probe_command(dir);
    cmd.env("VFIO_CCW_SIM_DEVICES", count.to_string());
    for i in 1..count {
        let volume = dir.join(format!("blank{i}.3390"));
        vfio_ccw_sim::ckd::CkdImage::create(&volume, 1).expect("creating a blank 3390");
        cmd.env(format!("VFIO_CCW_SIM_DASD{i}"), volume);
    }
    for (key, value) in settings {
        cmd.env(key, value);
    }
    cmd
}

/// Steps that open device `i` through its own group, in the container the
/// first opened (`iommu=3` once, by the first group).
fn open_through_group(i: usize) -> Vec<String> {
    let mut steps = vec![format!("group={}", 7 + i), "set-container".to_owned()];
    if i == 0 {
        steps.push("iommu=3".to_owned());
    }
    steps.push(format!("device={}", uuid(i)));
    steps
}

fn run(cmd: Command, steps: &[String]) -> Report {
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    probe_with(cmd, &steps)
}

/// The result of the step named `step`.
fn last_result<'a>(r: &'a Report, steps: &[String], step: &str) -> &'a str {
    let i = steps
        .iter()
        .rposition(|s| s == step)
        .unwrap_or_else(|| panic!("no step {step}"));
    r.result(i)
}

/// The SCHIB region's PMCW bytes 0-23 in hex: device number at 12..16,
/// PIM 22..24, PAM 30..32, CHPIDs 32..48.
const SCHIB: &str = "read=0x800,24";
/// The CRW region: one CRW, or zeros.
const CRW: &str = "read=0xc00,8";

#[test]
fn several_devices_open_at_once_each_with_its_own_subchannel() {
    native_only!();
    let dir = scratch("two-open");
    let mut steps = vec!["container".to_owned()];
    steps.extend(open_through_group(0));
    steps.extend(open_through_group(1));
    steps.extend([
        "select=0".into(),
        SCHIB.into(),
        "select=1".into(),
        SCHIB.into(),
    ]);
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    let first = r.result(steps.len() - 3);
    let second = r.result(steps.len() - 1);
    assert!(first.starts_with("ok 24 "), "{first}");
    assert_eq!(&first[6 + 12..6 + 16], "0190", "{first}");
    assert_eq!(&first[6 + 32..6 + 34], "40", "{first}");
    assert_eq!(&second[6 + 12..6 + 16], "0191", "{second}");
    assert_eq!(&second[6 + 32..6 + 34], "41", "{second}");
}

#[test]
fn a_group_gives_only_its_own_device() {
    native_only!();
    let dir = scratch("own-device");
    let steps: Vec<String> = [
        "container",
        "group=8",
        "set-container",
        "iommu=3",
        &format!("device={UUID}"),
        &format!("device={}", uuid(1)),
    ]
    .map(str::to_owned)
    .to_vec();
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    assert_eq!(r.errno(4), Some(libc::ENODEV), "device 0 is not in group 8");
    assert_eq!(r.result(5), "ok");
}

#[test]
fn each_group_node_opens_once_and_groups_of_no_device_do_not_exist() {
    native_only!();
    let dir = scratch("group-nodes");
    let steps: Vec<String> = ["group=7", "group=8", "group=8", "group=9"]
        .map(str::to_owned)
        .to_vec();
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    assert_eq!(r.result(0), "ok");
    assert_eq!(r.result(1), "ok", "another device's group is free");
    assert_eq!(r.errno(2), Some(libc::EBUSY));
    assert_eq!(r.errno(3), Some(libc::ENOENT));
}

#[test]
fn a_container_mapping_made_before_a_group_joined_reaches_its_device() {
    native_only!();
    let dir = scratch("shared-container");
    let mut steps = vec!["container".to_owned()];
    steps.extend(open_through_group(0));
    steps.push("map=0x100000,0x1000".into());
    steps.extend(open_through_group(1));
    steps.push("ssch-nop=0x100000".into());
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    assert_eq!(
        last_result(&r, &steps, "ssch-nop=0x100000"),
        "ok ret=0 dstat=0c cstat=00",
        "device 1 ran the NOP from the container's memory"
    );
}

#[test]
fn a_container_mapping_made_and_unmapped_later_reaches_every_device() {
    native_only!();
    let dir = scratch("shared-unmap");
    let mut steps = vec!["container".to_owned()];
    steps.extend(open_through_group(0));
    steps.extend(open_through_group(1));
    steps.extend([
        "map=0x200000,0x1000".into(),
        "select=0".into(),
        "ssch-nop=0x200000".into(),
        "select=1".into(),
        "ssch-nop=0x200000".into(),
        "unmap=0x200000,0x1000".into(),
        "ssch-nop=0x200000".into(),
    ]);
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    let n = steps.len();
    assert_eq!(r.result(n - 5), "ok ret=0 dstat=0c cstat=00");
    assert_eq!(r.result(n - 3), "ok ret=0 dstat=0c cstat=00");
    assert_eq!(r.result(n - 2), "ok 4096");
    // The kernel cannot pin the channel program: the write fails, or
    // ret_code says why.
    let after = r.result(n - 1);
    assert!(
        after.starts_with("errno ") || !after.starts_with("ok ret=0 "),
        "device 1 still saw the unmapped page: {after}"
    );
}

#[test]
fn a_group_leaving_the_container_no_longer_sees_its_mappings() {
    native_only!();
    let dir = scratch("leave-container");
    let mut steps = vec!["container".to_owned()];
    steps.extend(open_through_group(0));
    steps.extend(open_through_group(1));
    steps.extend([
        "map=0x300000,0x1000".into(),
        "close-device".into(),
        "unset-container".into(),
        "select=0".into(),
        "ssch-nop=0x300000".into(),
        "iommu-info=72".into(),
    ]);
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    let n = steps.len();
    assert_eq!(r.result(n - 4), "ok", "group 8 left");
    assert_eq!(
        r.result(n - 2),
        "ok ret=0 dstat=0c cstat=00",
        "device 0 keeps the mapping"
    );
    assert!(
        r.result(n - 1).contains("(avail=65534)"),
        "{}",
        r.result(n - 1)
    );
}

#[test]
fn an_ioas_mapping_reaches_every_device_attached_to_it() {
    native_only!();
    let dir = scratch("shared-ioas");
    let steps: Vec<String> = [
        "iommufd",
        "ioas",
        "cdev=vfio0",
        "bind",
        "attach=1",
        "ioas-map=0x400000,0x1000",
        "cdev=vfio1",
        "bind",
        "attach=1",
        "ssch-nop=0x400000",
        "select=0",
        "ssch-nop=0x400000",
        "fstat-device",
        "select=1",
        "fstat-device",
    ]
    .map(str::to_owned)
    .to_vec();
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    assert_eq!(r.result(9), "ok ret=0 dstat=0c cstat=00", "device 1");
    assert_eq!(r.result(11), "ok ret=0 dstat=0c cstat=00", "device 0");
    assert_eq!(r.result(12), "ok chr 511:0");
    assert_eq!(r.result(14), "ok chr 511:1");
}

#[test]
fn a_cdev_binds_once_while_another_devices_cdev_is_bound() {
    native_only!();
    let dir = scratch("cdev-bind");
    let steps: Vec<String> = [
        "iommufd",
        "cdev=vfio0",
        "bind",
        "cdev=vfio1",
        "bind",
        "cdev=vfio1",
        "bind",
        "cdev=vfio2",
    ]
    .map(str::to_owned)
    .to_vec();
    let r = run(probe_with_devices(&dir, 2, &[]), &steps);
    assert!(r.result(2).starts_with("ok "), "{}", r.result(2));
    assert!(r.result(4).starts_with("ok "), "{}", r.result(4));
    assert_eq!(r.errno(6), Some(libc::EINVAL), "device 1 is bound already");
    assert_eq!(r.errno(7), Some(libc::ENOENT));
}

#[test]
fn a_path_event_from_a_fault_reaches_every_subchannel_on_that_chpid() {
    native_only!();
    let dir = scratch("crw-fanout");
    let faults = dir.join("faults");
    std::fs::write(&faults, "device-info #1 chp-offline 0x41\n").unwrap();
    let faults = faults.to_string_lossy().into_owned();
    let settings = [
        ("VFIO_CCW_SIM_CHPIDS", "40,41"),
        ("VFIO_CCW_SIM_CHPIDS1", "41"),
        ("VFIO_CCW_SIM_CHPIDS2", "42"),
        ("VFIO_CCW_SIM_FAULTS", faults.as_str()),
    ];
    let mut steps = vec!["container".to_owned()];
    for i in 0..3 {
        steps.extend(open_through_group(i));
    }
    steps.extend(["select=0".into(), "info".into()]);
    for i in 0..3 {
        steps.extend([format!("select={i}"), CRW.into(), SCHIB.into()]);
    }
    let r = run(probe_with_devices(&dir, 3, &settings), &steps);
    let n = steps.len();
    let crw = |i: usize| r.result(n - 8 + 3 * i);
    let pam = |i: usize| r.result(n - 7 + 3 * i)[6 + 30..6 + 32].to_owned();
    assert_eq!(crw(0), "ok 8 0406004100000000", "device 0 (40,41)");
    assert_eq!(crw(1), "ok 8 0406004100000000", "device 1 (41)");
    assert_eq!(
        crw(2),
        "ok 8 0000000000000000",
        "device 2 (42) is not on it"
    );
    assert_eq!(pam(0), "80");
    assert_eq!(pam(1), "00");
    assert_eq!(pam(2), "80");
}

#[test]
fn sixty_four_devices_open_at_once_in_bounded_fds_threads_and_memory() {
    native_only!();
    let dir = scratch("sixty-four");
    let mut steps = vec!["resources".to_owned(), "container".to_owned()];
    for i in 0..64 {
        steps.extend(open_through_group(i));
    }
    steps.push("map=0x100000,0x1000".into());
    let mut checks = Vec::new();
    for i in [0usize, 31, 63] {
        steps.extend([format!("select={i}"), SCHIB.into()]);
        checks.push((i, steps.len() - 1));
        steps.push("ssch-nop=0x100000".into());
    }
    steps.push("resources".into());
    let r = run(probe_with_devices(&dir, 64, &[]), &steps);
    for (i, at) in checks {
        let schib = r.result(at);
        assert_eq!(
            &schib[6 + 12..6 + 16],
            format!("{:04x}", 0x190 + i),
            "device {i}: {schib}"
        );
        assert_eq!(r.result(at + 1), "ok ret=0 dstat=0c cstat=00", "device {i}");
    }
    let numbers = |text: &str| -> Vec<i64> {
        text.split_whitespace()
            .filter_map(|w| w.split_once('=').and_then(|(_, v)| v.parse().ok()))
            .collect()
    };
    let before = numbers(r.result(0));
    let after = numbers(last_result(&r, &steps, "resources"));
    // Each device: its volume's file, its group's and its device's fds;
    // and the container.
    assert!(
        after[0] - before[0] <= 64 * 3 + 1,
        "fds {} -> {}",
        before[0],
        after[0]
    );
    // At most one thread of the simulator per device.
    assert!(after[1] <= 1 + 64, "threads {}", after[1]);
    assert!(
        after[2] - before[2] < 64 * 1024,
        "resident KiB {} -> {}",
        before[2],
        after[2]
    );
}
