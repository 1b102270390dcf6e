// SPDX-License-Identifier: GPL-2.0-or-later
//! The interposer as a preloaded C program sees it: the container, group
//! and device nodes answer like the kernel's vfio core and type1 IOMMU,
//! and every other file is left to libc.

mod common;

use common::{probe, probe_command, probe_with, scratch};
use libc::{EBADF, EBUSY, EINVAL, ENODEV, ENOENT, ENOTTY};

/// The steps that leave a container with a type1v2 IOMMU and the group in it.
const READY: [&str; 4] = ["container", "group", "set-container", "iommu=3"];

fn ready_then<'a>(more: &[&'a str]) -> Vec<&'a str> {
    READY.iter().copied().chain(more.iter().copied()).collect()
}

#[test]
fn container_reports_api_version_zero() {
    native_only!();
    let r = probe(&scratch("api"), &["container", "api"]);
    assert_eq!(r.result(1), "ok 0");
}

#[test]
fn container_offers_type1_and_type1v2_and_nothing_else() {
    native_only!();
    let r = probe(
        &scratch("ext"),
        &["container", "ext=3", "ext=1", "ext=2", "ext=7", "ext=8"],
    );
    assert_eq!(r.result(1), "ok 1", "TYPE1v2");
    assert_eq!(r.result(2), "ok 1", "TYPE1");
    assert_eq!(r.result(3), "ok 0", "SPAPR");
    assert_eq!(r.result(4), "ok 0", "SPAPRv2");
    assert_eq!(r.result(5), "ok 0", "NOIOMMU");
}

#[test]
fn group_is_viable_and_says_when_it_has_a_container() {
    native_only!();
    let r = probe(
        &scratch("status"),
        &["container", "group", "status", "set-container", "status"],
    );
    assert_eq!(r.result(2), "ok 1", "VIABLE");
    assert_eq!(r.result(4), "ok 3", "VIABLE | CONTAINER_SET");
}

#[test]
fn only_the_configured_group_node_exists() {
    native_only!();
    let r = probe(&scratch("group-number"), &["group=8", "group=7"]);
    assert_eq!(r.errno(0), Some(ENOENT));
    assert_eq!(r.result(1), "ok");
}

#[test]
fn group_opens_once_at_a_time() {
    native_only!();
    let r = probe(
        &scratch("group-busy"),
        &["group", "group", "close-group", "group"],
    );
    assert_eq!(
        r.errno(1),
        Some(EBUSY),
        "a second open while the first is open"
    );
    assert_eq!(r.result(2), "ok");
    assert_eq!(r.result(3), "ok", "after the close");
}

#[test]
fn group_status_with_a_short_argsz_is_einval() {
    native_only!();
    let r = probe(&scratch("status-argsz"), &["group", "status=4"]);
    assert_eq!(r.errno(1), Some(EINVAL));
}

#[test]
fn set_container_takes_only_a_container_fd() {
    native_only!();
    // fd 0 is open (stdin) but no container; 999 is not open at all.
    let r = probe(
        &scratch("set-container"),
        &["group", "set-container=0", "set-container=999"],
    );
    assert_eq!(r.errno(1), Some(EINVAL));
    assert_eq!(r.errno(2), Some(EBADF));
}

#[test]
fn set_iommu_needs_a_group_in_the_container() {
    native_only!();
    let r = probe(&scratch("iommu-early"), &["container", "iommu=3"]);
    assert_eq!(r.errno(1), Some(EINVAL));
}

#[test]
fn set_iommu_refuses_a_model_other_than_type1() {
    native_only!();
    let r = probe(
        &scratch("iommu-spapr"),
        &["container", "group", "set-container", "iommu=7"],
    );
    assert_eq!(r.errno(3), Some(ENODEV));
}

#[test]
fn iommu_info_asks_for_room_for_its_capabilities_then_fills_them() {
    native_only!();
    let r = probe(
        &scratch("iommu-info"),
        &ready_then(&["iommu-info=24", "iommu-info=72"]),
    );
    // Too small: the needed argsz, the CAPS flag, no chain.
    assert!(
        r.result(4).starts_with("ok argsz=72 flags=3 "),
        "{}",
        r.result(4)
    );
    assert!(r.result(4).ends_with("cap_offset=0"), "{}", r.result(4));
    // Big enough: the IOVA range and the DMA-available capability.
    assert!(
        r.result(5).contains("cap_offset=24 cap1 cap3(avail=65535)"),
        "{}",
        r.result(5)
    );
}

#[test]
fn iommu_info_counts_mappings_against_the_dma_limit() {
    native_only!();
    let r = probe(
        &scratch("dma-avail"),
        &ready_then(&["map=0,65536", "iommu-info=72"]),
    );
    assert!(r.result(5).contains("cap3(avail=65534)"), "{}", r.result(5));
}

#[test]
fn iommu_info_below_the_minimum_argsz_is_einval() {
    native_only!();
    let r = probe(&scratch("iommu-info-short"), &ready_then(&["iommu-info=8"]));
    assert_eq!(r.errno(4), Some(EINVAL));
}

#[test]
fn map_dma_reaches_the_model_and_unmap_reports_the_size() {
    native_only!();
    let r = probe(
        &scratch("map"),
        &ready_then(&["map=0,1048576", "unmap=0,1048576"]),
    );
    assert_eq!(r.result(4), "ok");
    assert_eq!(r.result(5), "ok 1048576");
}

#[test]
fn map_dma_before_an_iommu_is_set_is_einval() {
    native_only!();
    let r = probe(&scratch("map-early"), &["container", "map=0,4096"]);
    assert_eq!(r.errno(1), Some(EINVAL));
}

#[test]
fn device_fd_needs_the_mdev_uuid() {
    native_only!();
    let r = probe(
        &scratch("uuid"),
        &ready_then(&["device=00000000-0000-0000-0000-000000000000", "device"]),
    );
    assert_eq!(r.errno(4), Some(ENODEV));
    assert_eq!(r.result(5), "ok");
}

#[test]
fn device_fd_needs_an_iommu_in_the_container() {
    native_only!();
    let r = probe(
        &scratch("device-early"),
        &["container", "group", "set-container", "device"],
    );
    assert_eq!(r.errno(3), Some(EINVAL));
}

#[test]
fn device_info_shows_a_ccw_device_with_reset_four_regions_and_three_irqs() {
    native_only!();
    let r = probe(&scratch("info"), &ready_then(&["device", "info"]));
    assert!(
        r.result(5).starts_with("ok flags=0x11 regions=4 irqs=3"),
        "{}",
        r.result(5)
    );
}

#[test]
fn device_info_below_sixteen_bytes_is_einval() {
    native_only!();
    let r = probe(&scratch("info-short"), &ready_then(&["device", "info=8"]));
    assert_eq!(r.errno(5), Some(EINVAL));
}

#[test]
fn device_info_with_a_large_argsz_is_answered() {
    native_only!();
    let r = probe(
        &scratch("info-large"),
        &ready_then(&["device", "info=0x20000"]),
    );
    assert!(r.result(5).starts_with("ok flags=0x11 "), "{}", r.result(5));
}

#[test]
fn region_info_below_the_fixed_header_is_einval() {
    native_only!();
    let r = probe(
        &scratch("region-short"),
        &ready_then(&["device", "region=0,16", "region=1,32"]),
    );
    assert_eq!(r.errno(5), Some(EINVAL));
    assert!(
        r.result(6).ends_with("cap_offset=0 argsz=48"),
        "{}",
        r.result(6)
    );
}

#[test]
fn set_irqs_below_the_fixed_header_is_einval() {
    native_only!();
    let r = probe(
        &scratch("irqs-short"),
        &ready_then(&["device", "set-irqs=0x24,8"]),
    );
    assert_eq!(r.errno(5), Some(EINVAL));
}

#[test]
fn set_irqs_with_count_0_reads_its_data_as_linux_does() {
    native_only!();
    // EVENTFD with fd -1 releases; BOOL with a nonzero byte fires.
    let r = probe(
        &scratch("irqs-count0"),
        &ready_then(&["device", "set-irqs=0x24,20", "set-irqs=0x22,20"]),
    );
    assert_eq!(r.result(5), "ok");
    assert_eq!(r.result(6), "ok");
}

#[test]
fn a_type1_v1_container_refuses_the_pins_of_a_program_with_data() {
    native_only!();
    let r = probe(
        &scratch("type1-v1"),
        &[
            "container",
            "group",
            "set-container",
            "iommu=1",
            "map=0,65536",
            "device",
            "ssch-nop=0x1000",
            "ssch-sense-id=0x1000",
        ],
    );
    assert!(r.result(6).starts_with("ok ret=0 "), "{}", r.result(6));
    assert_eq!(r.errno(7), Some(libc::EACCES));
}

#[test]
fn a_type1_v2_container_lets_a_program_with_data_run() {
    native_only!();
    let r = probe(
        &scratch("type1-v2"),
        &ready_then(&["map=0,65536", "device", "ssch-sense-id=0x1000"]),
    );
    assert!(
        r.result(6).starts_with("ok ret=0 dstat=0c"),
        "{}",
        r.result(6)
    );
}

#[test]
fn unmap_dma_with_size_0_is_einval() {
    native_only!();
    let r = probe(
        &scratch("unmap-0"),
        &ready_then(&["map=0,65536", "unmap=0,0"]),
    );
    assert_eq!(r.errno(5), Some(EINVAL));
}

#[test]
fn io_region_is_124_bytes_at_offset_0_and_reads_whole() {
    native_only!();
    let r = probe(
        &scratch("io-region"),
        &ready_then(&["device", "region=0", "read=0,124"]),
    );
    assert_eq!(
        r.result(5),
        "ok flags=0x3 size=124 offset=0 cap_offset=0 argsz=48"
    );
    assert!(r.result(6).starts_with("ok 124 "), "{}", r.result(6));
}

#[test]
fn schib_region_carries_the_configured_device_number() {
    native_only!();
    let dir = scratch("schib");
    let mut cmd = probe_command(&dir);
    cmd.env("VFIO_CCW_SIM_DEVNO", "0.0.4711");
    // Region 2 is the SCHIB (offset 2 << 10); read it through pread64 too.
    let r = probe_with(
        cmd,
        &ready_then(&["device", "read=0x800,52", "read64=0x800,8"]),
    );
    let hex = r.result(5).strip_prefix("ok 52 ").expect("52 bytes");
    // PMCW byte 5 bit 0x01: device number valid; bytes 6-7: the number.
    let byte5 = u8::from_str_radix(&hex[10..12], 16).unwrap();
    assert_eq!(byte5 & 0x01, 0x01, "{hex}");
    assert_eq!(&hex[12..16], "4711", "{hex}");
    assert_eq!(r.result(6), format!("ok 8 {}", &hex[..16]));
}

#[test]
fn unknown_ioctls_are_enotty_on_the_group_and_device() {
    native_only!();
    let r = probe(
        &scratch("enotty"),
        &ready_then(&["device", "ioctl=group,120", "ioctl=device,120"]),
    );
    assert_eq!(r.errno(5), Some(ENOTTY));
    assert_eq!(r.errno(6), Some(ENOTTY));
}

#[test]
fn unknown_ioctls_on_the_container_are_einval_until_an_iommu_answers_them() {
    native_only!();
    let r = probe(
        &scratch("container-unknown"),
        &[
            "container",
            "group",
            "set-container",
            "ioctl=container,120",
            "iommu=3",
            "ioctl=container,120",
        ],
    );
    assert_eq!(r.errno(3), Some(EINVAL), "the vfio core's default");
    assert_eq!(r.errno(5), Some(ENOTTY), "type1's default");
}

#[test]
fn container_ioctls_on_the_group_are_enotty() {
    native_only!();
    // 100 is VFIO_GET_API_VERSION, 101 VFIO_CHECK_EXTENSION.
    let r = probe(
        &scratch("group-api"),
        &["group", "ioctl=group,100", "ioctl=group,101"],
    );
    assert_eq!(r.errno(1), Some(ENOTTY));
    assert_eq!(r.errno(2), Some(ENOTTY));
}

#[test]
fn group_leaves_its_container_only_when_no_device_fd_is_open() {
    native_only!();
    let r = probe(
        &scratch("unset"),
        &ready_then(&[
            "device",
            "unset-container",
            "close-device",
            "unset-container",
            "unset-container",
        ]),
    );
    assert_eq!(r.errno(5), Some(EBUSY));
    assert_eq!(r.result(7), "ok");
    assert_eq!(r.errno(8), Some(EINVAL), "no container any more");
}

#[test]
fn closed_device_fd_is_no_longer_ours() {
    native_only!();
    let r = probe(
        &scratch("closed"),
        &ready_then(&["device", "close-device", "read=0,124"]),
    );
    assert_eq!(r.errno(6), Some(EBADF));
}

#[test]
fn other_files_go_to_libc() {
    native_only!();
    let dir = scratch("passthrough");
    let file = dir.join("plain");
    let step = format!("file-io={}", file.display());
    let open = format!("open={}", file.display());
    let openat = format!("openat={}", dir.join("missing").display());
    let r = probe(&dir, &[&step, &open, &openat]);
    assert_eq!(r.result(0), "ok Jello");
    assert_eq!(r.result(1), "ok");
    assert_eq!(r.errno(2), Some(ENOENT));
}

#[test]
fn without_a_volume_the_nodes_are_absent_and_stderr_says_why() {
    native_only!();
    let mut cmd = probe_command(&scratch("no-volume"));
    cmd.env_remove("VFIO_CCW_SIM_DASD");
    let r = probe_with(cmd, &["container"]);
    assert_eq!(r.errno(0), Some(ENODEV));
    assert!(
        r.stderr.contains("VFIO_CCW_SIM_DASD is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_configuration_is_named_on_stderr() {
    native_only!();
    let mut cmd = probe_command(&scratch("bad-config"));
    cmd.env("VFIO_CCW_SIM_SCHID", "0.9.zz");
    let r = probe_with(cmd, &["container"]);
    assert_eq!(r.errno(0), Some(ENODEV));
    assert!(
        r.stderr.contains("VFIO_CCW_SIM_SCHID=0.9.zz"),
        "{}",
        r.stderr
    );
}

#[test]
fn statistics_are_written_at_exit() {
    native_only!();
    let dir = scratch("stats");
    let stats = dir.join("stats.txt");
    let mut cmd = probe_command(&dir);
    cmd.env("VFIO_CCW_SIM_STATS", &stats);
    probe_with(
        cmd,
        &ready_then(&["map=0,65536", "device", "info", "region=0", "read=0,124"]),
    );
    let report = std::fs::read_to_string(&stats).expect("the statistics file");
    assert!(report.contains("vfio-ccw-sim statistics"), "{report}");
    assert!(report.contains("region-info  1"), "{report}");
    assert!(report.contains("dma-map      1"), "{report}");
}

#[test]
fn closing_the_last_group_releases_the_iommu_and_its_mappings() {
    native_only!();
    let r = probe(
        &scratch("release"),
        &ready_then(&[
            "map=0,65536",
            "close-group",
            "iommu-info=72",
            "group",
            "set-container",
            "iommu=3",
            "map=0,65536",
        ]),
    );
    assert_eq!(r.errno(6), Some(EINVAL), "no IOMMU model left");
    assert_eq!(r.result(10), "ok", "the old mapping is gone (else EEXIST)");
}

#[test]
fn region_access_through_a_null_buffer_is_efault() {
    native_only!();
    let r = probe(
        &scratch("null-buffer"),
        &ready_then(&["device", "read-null=0,124", "write-null=0,124"]),
    );
    assert_eq!(r.errno(5), Some(libc::EFAULT));
    assert_eq!(r.errno(6), Some(libc::EFAULT));
}

/// Whether `binary` imports `name` (any version).
fn imports(binary: &std::path::Path, name: &str) -> bool {
    let nm = std::process::Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(binary)
        .output()
        .expect("nm (binutils)");
    String::from_utf8_lossy(&nm.stdout).lines().any(|l| {
        l.split_whitespace()
            .last()
            .is_some_and(|s| s.split('@').next() == Some(name))
    })
}

#[test]
fn the_plain_probe_exercises_the_plain_names() {
    native_only!();
    let probe = &common::artifacts().probe;
    for name in ["open", "openat", "pread", "pwrite", "pread64", "pwrite64"] {
        assert!(imports(probe, name), "the probe should import {name}");
    }
}

/// The probe at `probe` opens, maps and reads the device and a plain file.
fn reaches_the_interposer(probe: &std::path::Path, name: &str) {
    let dir = scratch(name);
    let file = format!("file-io={}", dir.join("plain").display());
    let r = common::probe_with(
        common::probe_command_for(probe, &dir),
        &[
            "openat-vfio",
            "group",
            "set-container",
            "iommu=3",
            "device",
            "info",
            "read=0x800,8",
            &file,
        ],
    );
    assert_eq!(r.result(0), "ok", "openat of the container");
    assert!(r.result(5).starts_with("ok flags=0x11"), "{}", r.result(5));
    assert!(r.result(6).starts_with("ok 8 "), "{}", r.result(6));
    assert_eq!(r.result(7), "ok Jello");
}

#[test]
fn a_fortified_64_bit_build_reaches_the_interposer_through_the_names_qemu_imports() {
    native_only!();
    let probe = &common::artifacts().fortified_probe;
    for name in [
        "open64",
        "__open64_2",
        "__openat64_2",
        "__pread64_chk",
        "pwrite64",
        "ioctl",
        "close",
    ] {
        assert!(
            imports(probe, name),
            "the fortified probe should import {name}"
        );
    }
    reaches_the_interposer(probe, "fortified");
}

#[test]
fn a_fortified_32_bit_offset_build_reaches_the_interposer() {
    native_only!();
    let probe = &common::artifacts().fortified32_probe;
    for name in ["__open_2", "__openat_2", "__pread_chk", "pwrite"] {
        assert!(imports(probe, name), "the probe should import {name}");
    }
    reaches_the_interposer(probe, "fortified32");
}
