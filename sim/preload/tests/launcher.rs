// SPDX-License-Identifier: GPL-2.0-or-later
//! `vfio-ccw-sim run`: the command line, the private sysfs it builds, the
//! environment it gives the command, and how it ends.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{artifacts, blank_volume, scratch, UUID};

const SYSFSDEV: &str = "/sys/bus/mdev/devices/6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313";

/// Runs needing a mount namespace need root; elsewhere they say so (and
/// fail in CI, which runs as root).
macro_rules! root_only {
    () => {
        native_only!();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(!common::ci(), "CI runs the launcher tests as root");
            eprintln!("skipped: vfio-ccw-sim run needs root for its mount namespace");
            return;
        }
    };
}

fn launcher() -> Command {
    let mut cmd = Command::new(&artifacts().launcher);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VFIO_CCW_SIM_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// `vfio-ccw-sim run --dasd <blank volume> OPTIONS -- COMMAND`.
fn run(dir: &Path, options: &[&str], command: &[&str]) -> Output {
    launcher()
        .arg("run")
        .arg("--dasd")
        .arg(blank_volume(dir))
        .args(options)
        .arg("--")
        .args(command)
        .output()
        .expect("running the launcher")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    native_only!();
    let out = launcher().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("usage: vfio-ccw-sim run"));
}

#[test]
fn a_run_without_a_volume_is_refused_with_the_reason() {
    native_only!();
    let out = launcher().args(["run", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--dasd IMAGE is required"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_volume_file_is_named() {
    native_only!();
    let out = launcher()
        .args(["run", "--dasd", "/nonexistent/v.3390", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--dasd /nonexistent/v.3390: no such file"));
}

#[test]
fn a_malformed_subchannel_id_is_refused_before_anything_runs() {
    native_only!();
    let dir = scratch("bad-schid");
    let marker = dir.join("ran");
    let script = format!("touch {}", marker.display());
    let out = run(&dir, &["--schid", "0.4.0313"], &sh(&script));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--schid 0.4.0313: expected a bus id"),
        "{}",
        text(&out.stderr)
    );
    assert!(!marker.exists());
}

#[test]
fn unknown_options_are_refused() {
    native_only!();
    let out = launcher()
        .args(["run", "--bogus", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown option '--bogus'"));
}

#[test]
fn a_run_without_a_command_is_refused() {
    native_only!();
    let dir = scratch("no-command");
    let out = launcher()
        .arg("run")
        .arg("--dasd")
        .arg(blank_volume(&dir))
        .arg("--")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no command given after --"));
}

#[test]
fn an_unprivileged_run_is_refused_before_touching_sys() {
    root_only!();
    let dir = scratch("unprivileged");
    let volume = blank_volume(&dir);
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&artifacts().launcher)
        .arg("run")
        .arg("--dasd")
        .arg(&volume)
        .args(["--", "true"])
        .output()
        .expect("setpriv (util-linux)");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot create a private mount namespace"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_mdev_path_resolves_below_its_subchannel_with_its_group() {
    root_only!();
    let out = run(
        &scratch("resolve"),
        &["--group", "12"],
        &sh(
            r#"readlink -f "$VFIO_CCW_SIM_SYSFSDEV"; readlink "$VFIO_CCW_SIM_SYSFSDEV/iommu_group""#,
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("/sys/devices/css0/0.0.0313/{UUID}"));
    assert!(
        lines[1].ends_with("/kernel/iommu_groups/12"),
        "{}",
        lines[1]
    );
}

#[test]
fn without_groups_the_mdev_has_its_cdev_and_no_group_link() {
    root_only!();
    let out = run(
        &scratch("no-group"),
        &["--no-group"],
        &sh(
            r#"cat "$VFIO_CCW_SIM_SYSFSDEV/vfio-dev/vfio0/dev"; test -e "$VFIO_CCW_SIM_SYSFSDEV/iommu_group" || test -L "$VFIO_CCW_SIM_SYSFSDEV/iommu_group" || echo "no group"; echo "$VFIO_CCW_SIM_GROUP""#,
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "511:0\nno group\nnone\n");
}

#[test]
fn the_subchannel_attributes_describe_the_configured_paths() {
    root_only!();
    let out = run(
        &scratch("attributes"),
        &[
            "--schid", "0.1.0a0b", "--devno", "0.1.4711", "--chpids", "5e,21",
        ],
        &sh(
            "cd /sys/bus/css/devices/0.1.0a0b && cat type pimpampom chpids dev_busid \
             /sys/devices/css0/chp0.5e/type /sys/devices/css0/chp0.21/type",
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "0\nc0 c0 ff\n5e 21 00 00 00 00 00 00 \n0.1.4711\n1b\n1b\n"
    );
}

#[test]
fn the_placeholder_in_arguments_becomes_the_mdev_path() {
    root_only!();
    let out = run(
        &scratch("placeholder"),
        &[],
        &[
            "sh",
            "-c",
            r#"echo "$1""#,
            "sh",
            "vfio-ccw,sysfsdev=@SYSFSDEV@,devno=fe.0.0001",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("vfio-ccw,sysfsdev={SYSFSDEV},devno=fe.0.0001\n")
    );
    assert!(text(&out.stderr).contains(&format!("sysfsdev={SYSFSDEV}")));
}

#[test]
fn the_hosts_sys_is_untouched_and_its_system_devices_stay_visible() {
    root_only!();
    let out = run(
        &scratch("host-sys"),
        &[],
        &sh("test -d /sys/devices/system/cpu && echo cpus"),
    );
    assert_eq!(text(&out.stdout), "cpus\n", "{}", text(&out.stderr));
    assert!(
        !Path::new(SYSFSDEV).exists(),
        "the mdev leaked into the host's /sys"
    );
    assert!(Path::new("/sys/bus")
        .read_dir()
        .unwrap()
        .any(|e| e.unwrap().file_name() != "mdev"));
}

#[test]
fn the_command_gets_the_interposer_and_its_configuration() {
    root_only!();
    let out = run(
        &scratch("environment"),
        &["--devno", "0.0.4711", "--compat", "qemu-c", "--group", "9"],
        &sh("echo $LD_PRELOAD; echo $VFIO_CCW_SIM_DEVNO $VFIO_CCW_SIM_COMPAT $VFIO_CCW_SIM_GROUP $VFIO_CCW_SIM_UUID"),
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].ends_with("libvfio_ccw_sim_preload.so"), "{stdout}");
    assert_eq!(lines[1], format!("0.0.4711 qemu-c 9 {UUID}"));
}

#[test]
fn the_exit_status_is_the_commands() {
    root_only!();
    let out = run(&scratch("status"), &[], &sh("exit 7"));
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn a_command_killed_by_a_signal_ends_the_run_with_128_plus_its_number() {
    root_only!();
    let out = run(&scratch("killed"), &[], &sh("kill -KILL $$"));
    assert_eq!(out.status.code(), Some(128 + 9));
    assert!(text(&out.stderr).contains("killed by signal 9"));
}

#[test]
fn sigterm_to_the_launcher_reaches_the_command() {
    root_only!();
    let dir = scratch("sigterm");
    let mut child = launcher()
        .arg("run")
        .arg("--dasd")
        .arg(blank_volume(&dir))
        .args([
            "--",
            "sh",
            "-c",
            "trap 'exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("the command did not end on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3));
}

/// The probe's steps that open the device through the group and the
/// container.
const OPEN_DEVICE: [&str; 5] = ["container", "group", "set-container", "iommu=3", "device"];

/// Runs the probe under the launcher with `options`: the device opened,
/// then `steps`.
fn run_probe_on_device(dir: &Path, options: &[&str], steps: &[&str]) -> Output {
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let command: Vec<&str> = std::iter::once(probe.as_str())
        .chain(OPEN_DEVICE)
        .chain(steps.iter().copied())
        .collect();
    run(dir, options, &command)
}

#[test]
fn a_command_that_used_the_device_gets_a_report_at_exit() {
    root_only!();
    let dir = scratch("report");
    let stats = dir.join("stats.txt");
    let out = run_probe_on_device(
        &dir,
        &["--stats", &stats.to_string_lossy()],
        &["info", "region=0"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("info: ok flags=0x11"),
        "{}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("vfio-ccw-sim statistics"), "{stderr}");
    assert!(stderr.contains("device-info  1"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&stats).unwrap().trim(),
        stderr[stderr.find("vfio-ccw-sim statistics").unwrap()..].trim()
    );
}

#[test]
fn stats_json_writes_the_counters_as_json_for_programs() {
    root_only!();
    let dir = scratch("report-json");
    let stats = dir.join("stats.json");
    let out = run_probe_on_device(
        &dir,
        &["--stats-json", &stats.to_string_lossy()],
        &["info", "region=0"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = std::fs::read_to_string(&stats).unwrap();
    assert!(
        json.starts_with("{\"devices\":[{\"name\":\"device 0 (subchannel 0.0.0313"),
        "{json}"
    );
    // The device's and the total's: the same single device.
    assert_eq!(json.matches("\"device-info\":1,").count(), 2, "{json}");
    assert_eq!(json.matches("\"region-info\":1,").count(), 2, "{json}");
    assert!(json.ends_with("}}\n"), "{json}");
}

#[test]
fn a_command_that_never_opened_the_device_is_told_so() {
    root_only!();
    let out = run(&scratch("unused"), &[], &["true"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("the command never opened the simulated device"));
}

#[test]
fn the_fault_script_reaches_the_model() {
    root_only!();
    let dir = scratch("faults");
    let script = dir.join("faults.txt");
    std::fs::write(&script, "device-info fail EIO\n").unwrap();
    let out = run_probe_on_device(
        &dir,
        &["--faults", &script.to_string_lossy()],
        &["info", "info"],
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[5], format!("info: errno {}", libc::EIO), "{stdout}");
    assert!(
        lines[6].starts_with("info: ok"),
        "the rule applies once: {stdout}"
    );
}

#[test]
fn the_command_starts_with_the_forwarded_signals_unblocked() {
    root_only!();
    let out = run(
        &scratch("sigmask"),
        &[],
        &["grep", "SigBlk", "/proc/self/status"],
    );
    let stdout = text(&out.stdout);
    let mask = u64::from_str_radix(stdout.trim().trim_start_matches("SigBlk:").trim(), 16)
        .unwrap_or_else(|_| panic!("{stdout}"));
    for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
        assert_eq!(
            mask & (1 << (signal - 1)),
            0,
            "signal {signal} blocked: {stdout}"
        );
    }
}

#[test]
fn a_preload_the_caller_already_has_comes_after_the_interposer() {
    root_only!();
    let dir = scratch("their-preload");
    let out = launcher()
        .env("LD_PRELOAD", "/nonexistent/theirs.so")
        .arg("run")
        .arg("--dasd")
        .arg(blank_volume(&dir))
        .args(["--", "sh", "-c", "echo $LD_PRELOAD"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let (ours, theirs) = stdout.trim().split_once(':').expect("two entries");
    assert!(ours.ends_with("/libvfio_ccw_sim_preload.so"), "{stdout}");
    assert_eq!(theirs, "/nonexistent/theirs.so");
}

#[test]
fn the_model_has_the_paths_the_sysfs_shows() {
    root_only!();
    let out = run_probe_on_device(
        &scratch("model-paths"),
        &["--chpids", "5e,21"],
        &["read=0x800,24"],
    );
    let stdout = text(&out.stdout);
    let schib = stdout
        .lines()
        .find_map(|l| l.strip_prefix("read=0x800,24: ok 24 "))
        .unwrap_or_else(|| panic!("{stdout}"));
    // PMCW byte 11 PIM, 15 PAM, 16-23 the CHPIDs.
    assert_eq!(&schib[22..24], "c0", "PIM: {schib}");
    assert_eq!(&schib[30..32], "c0", "PAM: {schib}");
    assert_eq!(&schib[32..48], "5e21000000000000", "CHPIDs: {schib}");
}

#[test]
fn the_command_starts_with_the_cdev_open_as_the_fd_asked_for() {
    root_only!();
    let out = run(
        &scratch("cdev-fd"),
        &["--cdev-fd", "42"],
        &sh(r#"readlink /proc/self/fd/42; echo "$VFIO_CCW_SIM_CDEV_FD""#),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "/dev/null\n42\n");
}

#[test]
fn a_cdev_fd_outside_3_to_1023_is_refused() {
    native_only!();
    let out = run(&scratch("bad-cdev-fd"), &["--cdev-fd", "2"], &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--cdev-fd 2: expected a number from 3 to 1023"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_chpid_list_is_refused() {
    native_only!();
    let out = run(&scratch("bad-chpids"), &["--chpids", "40,40"], &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--chpids 40,40: CHPID 40 given twice"),
        "{}",
        text(&out.stderr)
    );
}

/// `vfio-ccw-sim run OPTIONS -- COMMAND`, the volumes among the options.
fn run_devices(options: &[String], command: &[&str]) -> Output {
    launcher()
        .arg("run")
        .args(options)
        .arg("--")
        .args(command)
        .output()
        .expect("running the launcher")
}

/// `count` blank volumes in `dir`, as `--dasd` options.
fn dasds(dir: &Path, count: usize) -> Vec<String> {
    (0..count)
        .flat_map(|i| {
            let volume = dir.join(format!("v{i}.3390"));
            vfio_ccw_sim::ckd::CkdImage::create(&volume, 1).expect("creating a blank 3390");
            ["--dasd".to_owned(), volume.to_string_lossy().into_owned()]
        })
        .collect()
}

fn uuid(position: usize) -> String {
    vfio_ccw_sim::subchannel::Description::at(position).uuid
}

#[test]
fn each_dasd_is_a_subchannel_with_its_own_mdev_group_and_placeholder() {
    root_only!();
    let dir = scratch("two-dasds");
    let out = run_devices(
        &dasds(&dir, 2),
        &sh(r#"echo "$1"; readlink -f "$VFIO_CCW_SIM_SYSFSDEV1"; readlink "$VFIO_CCW_SIM_SYSFSDEV1/iommu_group"; cat "$VFIO_CCW_SIM_SYSFSDEV1/vfio-dev/vfio1/dev" /sys/bus/css/devices/0.0.0314/chpids; echo "$VFIO_CCW_SIM_SYSFSDEV0""#)
            .into_iter()
            .chain(["sh", "@SYSFSDEV@ @SYSFSDEV0@ @SYSFSDEV1@"])
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mdev1 = format!("/sys/bus/mdev/devices/{}", uuid(1));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{SYSFSDEV} {SYSFSDEV} {mdev1}\n/sys/devices/css0/0.0.0314/{}\n../../../../kernel/iommu_groups/8\n511:1\n41 00 00 00 00 00 00 00 \n{SYSFSDEV}\n",
            uuid(1)
        )
    );
    assert!(text(&out.stderr).contains(&format!("sysfsdev1={mdev1}")));
}

#[test]
fn a_device_option_gives_the_device_its_own_numbers_and_paths() {
    root_only!();
    let dir = scratch("device-option");
    let mut options = dasds(&dir, 1);
    let second = blank_volume(&dir);
    options.extend([
        "--device".to_owned(),
        format!(
            "dasd={},schid=0.1.0a0b,devno=0.1.4711,chpids=40.5e,group=20",
            second.display()
        ),
    ]);
    let out = run_devices(
        &options,
        &sh(
            r#"cd /sys/bus/css/devices/0.1.0a0b && cat pimpampom chpids dev_busid; readlink "$VFIO_CCW_SIM_SYSFSDEV1/iommu_group"; ls /sys/devices/css0 | grep chp"#,
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "c0 c0 ff\n40 5e 00 00 00 00 00 00 \n0.1.4711\n../../../../kernel/iommu_groups/20\nchp0.40\nchp0.5e\n"
    );
}

#[test]
fn the_same_volume_for_two_devices_is_refused_naming_the_second() {
    native_only!();
    let dir = scratch("same-volume");
    let mut options = dasds(&dir, 2);
    options.extend(["--dasd".to_owned(), options[1].clone()]);
    let out = run_devices(&options, &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!(
            "device 2 (--dasd {0}): {0} is device 0's volume too",
            options[1]
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn devices_that_share_a_number_are_refused_naming_both_and_the_number() {
    native_only!();
    let dir = scratch("clash");
    let mut options = dasds(&dir, 1);
    options.extend([
        "--device".to_owned(),
        format!("dasd={},devno=0.0.0190", blank_volume(&dir).display()),
    ]);
    let out = run_devices(&options, &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("device 1 has the device number 0.0.0190 of device 0"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_device_setting_is_refused_naming_the_device_and_the_cause() {
    native_only!();
    let dir = scratch("bad-device");
    let mut options = dasds(&dir, 1);
    options.extend(["--device".to_owned(), "dasd=x.3390,chpids=40.zz".to_owned()]);
    let out = run_devices(&options, &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("--device dasd=x.3390,chpids=40.zz (device 1): 'zz' is not a hex CHPID"),
        "{}",
        text(&out.stderr)
    );
    let out = run_devices(&["--device".to_owned(), "chpids=40".to_owned()], &["true"]);
    assert!(
        text(&out.stderr).contains("(device 0): dasd=IMAGE is required"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_report_has_each_device_and_their_total() {
    root_only!();
    let dir = scratch("report-several");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let device1 = format!("device={}", uuid(1));
    let out = run_devices(
        &dasds(&dir, 2),
        &[
            &probe,
            "container",
            "group=7",
            "set-container",
            "iommu=3",
            "device",
            "info",
            "group=8",
            "set-container",
            &device1,
            "info",
            "region=0",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let at = |header: &str| {
        stderr
            .find(header)
            .unwrap_or_else(|| panic!("no '{header}' in {stderr}"))
    };
    let (first, second, total) = (
        at("vfio-ccw-sim statistics: device 0 (subchannel 0.0.0313, device 0.0.0190, CHPIDs 40)"),
        at("vfio-ccw-sim statistics: device 1 (subchannel 0.0.0314, device 0.0.0191, CHPIDs 41)"),
        at("vfio-ccw-sim statistics: total of 2 devices"),
    );
    assert!(first < second && second < total, "{stderr}");
    assert!(
        stderr[first..second].contains("device fd syscalls: 1"),
        "{stderr}"
    );
    assert!(
        stderr[second..total].contains("device fd syscalls: 2"),
        "{stderr}"
    );
    assert!(
        stderr[total..].contains("device fd syscalls: 3"),
        "{stderr}"
    );
}

#[test]
fn sixty_four_dasds_run_each_on_its_own_subchannel() {
    root_only!();
    let dir = scratch("sixty-four");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let device63 = format!("device={}", uuid(63));
    let out = run_devices(
        &dasds(&dir, 64),
        &[
            &probe,
            "open=@SYSFSDEV63@/vfio-dev/vfio63/dev",
            "container",
            "group=70",
            "set-container",
            "iommu=3",
            &device63,
            "read=0x800,24",
            "cdev=vfio63",
            "fstat-device",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].ends_with(": ok"), "{stdout}");
    assert!(lines[6].starts_with("read=0x800,24: ok 24 "), "{stdout}");
    assert_eq!(
        &lines[6][21 + 12..21 + 16],
        "01cf",
        "device 0.0.0190 + 63: {stdout}"
    );
    assert_eq!(lines[8], "fstat-device: ok chr 511:63", "{stdout}");
    assert!(text(&out.stderr).contains("total of 64 devices"));
}

#[test]
fn a_control_fifo_path_event_reaches_every_subchannel_on_the_chpid() {
    root_only!();
    let dir = scratch("control");
    let fifo = dir.join("control");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let mut options = dasds(&dir, 3);
    options.extend(["--chpids".to_owned(), "40,41".to_owned()]);
    // Device 1 on 41 as well, device 2 on its own 42.
    options[3] = format!("dasd={},chpids=41", options[3]);
    options[2] = "--device".to_owned();
    options.extend(["--control".to_owned(), fifo.to_string_lossy().into_owned()]);
    let event = format!("run=echo chp-offline 41 >{}", fifo.display());
    let device1 = format!("device={}", uuid(1));
    let device2 = format!("device={}", uuid(2));
    let out = run_devices(
        &options,
        &[
            &probe,
            "container",
            "group=7",
            "set-container",
            "iommu=3",
            "device",
            "group=8",
            "set-container",
            &device1,
            "group=9",
            "set-container",
            &device2,
            &event,
            "select=0",
            "wait-crw",
            "select=1",
            "wait-crw",
            "select=2",
            "read=0xc00,8",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[11], format!("{event}: ok 0"), "{stdout}");
    assert_eq!(lines[13], "wait-crw: ok 04060041", "device 0: {stdout}");
    assert_eq!(lines[15], "wait-crw: ok 04060041", "device 1: {stdout}");
    assert_eq!(
        lines[17], "read=0xc00,8: ok 8 0000000000000000",
        "device 2 is not on 41: {stdout}"
    );
    assert!(!fifo.exists(), "the launcher removes the FIFO it made");
}

#[test]
fn a_control_fifo_removes_an_mdev_and_creates_it_again() {
    root_only!();
    let dir = scratch("control-mdev");
    let fifo = dir.join("control");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let mut options = dasds(&dir, 1);
    options.extend(["--control".to_owned(), fifo.to_string_lossy().into_owned()]);
    // The interposer's thread applies a line after the write returns:
    // the pause lets it.
    let remove = format!("run=echo mdev-remove 0 >{} && sleep 0.5", fifo.display());
    let create = format!("run=echo mdev-create 0 >{} && sleep 0.5", fifo.display());
    let out = run_devices(
        &options,
        &[
            &probe,
            "container",
            "group=7",
            "set-container",
            "iommu=3",
            "device",
            &remove,
            "close-device",
            "device",
            &create,
            "device",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[4].starts_with("device: ok"), "{stdout}");
    assert_eq!(
        lines[7], "device: errno 19",
        "ENODEV: removed at the last close: {stdout}"
    );
    assert!(
        lines[9].starts_with("device: ok"),
        "created again: {stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("removal requests: 1"), "{stderr}");
}

#[test]
fn a_control_fifo_sch_gone_makes_the_subchannel_not_operational_and_asks_for_the_mdev() {
    root_only!();
    let dir = scratch("control-sch-gone");
    let fifo = dir.join("control");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let mut options = dasds(&dir, 1);
    options.extend(["--control".to_owned(), fifo.to_string_lossy().into_owned()]);
    let gone = format!("run=echo sch-gone 0 >{} && sleep 0.5", fifo.display());
    let out = run_devices(
        &options,
        &[
            &probe,
            "container",
            "group=7",
            "set-container",
            "iommu=3",
            "device",
            "read=0x800,4",
            &gone,
            "read=0x800,4",
            "close-device",
            "device",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[5].starts_with("read=0x800,4: ok 4 "), "{stdout}");
    assert_eq!(lines[7], "read=0x800,4: errno 19", "STSCH fails: {stdout}");
    assert_eq!(
        lines[9], "device: errno 19",
        "the mdev went at the last close: {stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("removal requests: 1"), "{stderr}");
}

#[test]
fn a_control_fifo_stats_line_prints_the_counters_then_with_each_path_s_starts() {
    root_only!();
    let dir = scratch("control-stats");
    let fifo = dir.join("control");
    let probe = artifacts().probe.to_string_lossy().into_owned();
    let mut options = dasds(&dir, 1);
    options.extend(["--chpids".to_owned(), "40,41".to_owned()]);
    options.extend(["--control".to_owned(), fifo.to_string_lossy().into_owned()]);
    // One start on path 0, then 40 goes and one more takes path 1.
    let first = format!(
        "run=echo stats first >{f} && echo chp-offline 40 >{f} && sleep 0.5",
        f = fifo.display()
    );
    let second = format!("run=echo stats second >{} && sleep 0.5", fifo.display());
    let out = run_devices(
        &options,
        &[
            &probe,
            "container",
            "group=7",
            "set-container",
            "iommu=3",
            "map=0,65536",
            "device",
            "ssch-nop=0x1000",
            &first,
            "ssch-nop=0x1000",
            &second,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let line = |label: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(&format!("vfio-ccw-sim stats {label}:   ssch by path:")))
            .map(|l| l.rsplit_once(": ").unwrap().1.to_owned())
    };
    assert_eq!(line("first").as_deref(), Some("0:1"), "{stderr}");
    assert_eq!(line("second").as_deref(), Some("0:1, 1:1"), "{stderr}");
    assert!(
        stderr.contains("\n  ssch by path: 0:1, 1:1\n"),
        "and the report at exit: {stderr}"
    );
}

#[test]
fn a_control_path_that_is_not_a_fifo_is_refused() {
    native_only!();
    let dir = scratch("control-file");
    let file = dir.join("plain");
    std::fs::write(&file, "").unwrap();
    let out = run(&dir, &["--control", &file.to_string_lossy()], &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("exists and is not a FIFO"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_latency_that_is_not_a_number_of_microseconds_is_refused() {
    native_only!();
    let out = run(&scratch("bad-latency"), &["--latency", "1ms"], &["true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--latency 1ms: expected a service time in microseconds"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_latency_reaches_the_interposer_and_is_printed() {
    root_only!();
    let out = run(
        &scratch("latency"),
        &["--latency", "250"],
        &sh("echo $VFIO_CCW_SIM_LATENCY"),
    );
    assert_eq!(text(&out.stdout).trim(), "250");
    assert!(
        text(&out.stderr).contains("vfio-ccw-sim: latency=250 us"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_3390_model_prints_its_seed_and_passes_it_on() {
    root_only!();
    let out = run(
        &scratch("seed"),
        &["--latency", "3390", "--seed", "77"],
        &sh("echo $VFIO_CCW_SIM_LATENCY $VFIO_CCW_SIM_SEED"),
    );
    assert_eq!(text(&out.stdout).trim(), "3390 77");
    assert!(
        text(&out.stderr).contains("vfio-ccw-sim: latency=3390 seed=77"),
        "{}",
        text(&out.stderr)
    );
}
