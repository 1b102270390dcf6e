// SPDX-License-Identifier: GPL-2.0-or-later
//! Unmodified upstream QEMU under `vfio-ccw-sim run --compat qemu-c`: it
//! realizes `-device vfio-ccw` on the simulated kernel, and its s390-ccw
//! firmware IPLs a simulated 3390 and runs the program on it.
//!
//! The QEMU binary: `$QVC_STOCK_QEMU`, else `build/qemu/stock/` (what
//! `scripts/build-qemu stock` makes), else `qemu-system-s390x` on PATH if
//! it is 10.0.x. The firmware: `$QVC_FIRMWARE` (the s390-ccw.img), else
//! `build/qemu/firmware/`, else `/usr/share/qemu/`. Without them the tests
//! say so; with CI=true they fail.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{artifacts, blank_volume, root, scratch};
use vfio_ccw_sim::ipl::{make_ipl_volume, Payload};

/// `sim/payload/c0ffee.S` assembled (`scripts/build-payload`): BASR 1,0;
/// LPSW 6(1); padding; the ESA/390 PSW 000a0000 00c0ffee (disabled wait).
const C0FFEE: [u8; 16] = [
    0x0d, 0x10, 0x82, 0x00, 0x10, 0x06, 0x07, 0x07, 0x00, 0x0a, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xee,
];

/// QEMU's arguments for an IPL from the simulated device: the guest's
/// disabled wait is a panic, reported and then the end of the run.
const IPL_FROM_THE_DEVICE: [&str; 15] = [
    "-device",
    "vfio-ccw,sysfsdev=@SYSFSDEV@,devno=fe.0.0001,bootindex=1",
    "-d",
    "guest_errors",
    "-action",
    "panic=shutdown",
    "-no-reboot",
    "-serial",
    "none",
    "-monitor",
    "none",
    "-chardev",
    "stdio,id=con",
    "-device",
    "sclpconsole,chardev=con",
];

fn stock_qemu() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("QVC_STOCK_QEMU") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("QVC_STOCK_QEMU={}: no such file", path.display()))
        };
    }
    let built = root().join("build/qemu/stock/qemu-system-s390x");
    if built.is_file() {
        return Ok(built);
    }
    let version = Command::new("qemu-system-s390x").arg("--version").output();
    match version {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("version 10.0.") => {
            Ok("qemu-system-s390x".into())
        }
        Ok(out) => {
            Err(format!(
            "no {} (scripts/build-qemu stock), and the qemu-system-s390x on PATH is not 10.0.x: {}",
            built.display(),
            String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("")
        ))
        }
        Err(_) => Err(format!(
            "no {} (scripts/build-qemu stock) and no qemu-system-s390x on PATH",
            built.display()
        )),
    }
}

fn firmware() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("QVC_FIRMWARE") {
        Some(path) => vec![path.into()],
        None => vec![
            root().join("build/qemu/firmware/s390-ccw.img"),
            "/usr/share/qemu/s390-ccw.img".into(),
        ],
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| format!("no s390-ccw.img firmware among {candidates:?}"))
}

/// The QEMU and firmware, or the reason the test cannot run (which fails
/// it in CI).
fn qemu_and_firmware() -> Option<(PathBuf, PathBuf)> {
    if let Some(why) = common::cannot_run_here() {
        eprintln!("skipped: {why}");
        return None;
    }
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let found = if root_user {
        stock_qemu().and_then(|q| firmware().map(|f| (q, f)))
    } else {
        Err("vfio-ccw-sim run needs root for its mount namespace".into())
    };
    match found {
        Ok(found) => Some(found),
        Err(why) if common::ci() => panic!("CI needs this test to run, but: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// Runs QEMU (TCG, with the s390-ccw firmware) under the launcher with
/// `stdin`, killing it after `limit`;
/// returns what it printed (stdout and stderr, in that order).
fn run_qemu(
    volume: &Path,
    qemu_args: &[&str],
    stdin: &str,
    limit: Duration,
) -> (Option<i32>, String) {
    let (qemu, firmware) = qemu_and_firmware().expect("checked by the caller");
    let mut child = Command::new(&artifacts().launcher)
        .arg("run")
        .arg("--dasd")
        .arg(volume)
        .args(["--compat", "qemu-c", "--"])
        .arg(qemu)
        .args([
            "-M",
            "s390-ccw-virtio",
            "-accel",
            "tcg",
            "-m",
            "256",
            "-nographic",
            "-nodefaults",
            "-bios",
        ])
        .arg(firmware)
        .args(qemu_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the launcher");
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
    // QEMU keeps reading its stdin (QMP) until `quit`; leave it open.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            // SIGTERM to the launcher, which forwards it to QEMU.
            // SAFETY: kill has no memory preconditions; the pid is ours.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            std::thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(input);
    let text = out.join().unwrap() + &err.join().unwrap();
    (status, text)
}

#[test]
fn stock_qemu_realizes_vfio_ccw_on_the_simulated_kernel() {
    let Some(_) = qemu_and_firmware() else {
        return;
    };
    let dir = scratch("qtree");
    let qmp = concat!(
        r#"{"execute":"qmp_capabilities"}"#,
        "\n",
        r#"{"execute":"human-monitor-command","arguments":{"command-line":"info qtree"}}"#,
        "\n",
        r#"{"execute":"quit"}"#,
        "\n"
    );
    let (status, text) = run_qemu(
        &blank_volume(&dir),
        &[
            "-device",
            "vfio-ccw,sysfsdev=@SYSFSDEV@,devno=fe.0.0001",
            "-S",
            "-qmp",
            "stdio",
        ],
        qmp,
        Duration::from_secs(60),
    );
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains("dev: vfio-ccw"), "{text}");
    assert!(
        text.contains(
            r#"sysfsdev = \"/sys/bus/mdev/devices/6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313\""#
        ),
        "{text}"
    );
    assert!(text.contains(r#"dev_id = \"fe.0.0001\""#), "{text}");
}

#[test]
fn stock_qemu_ipls_a_simulated_dasd_and_runs_its_payload() {
    let Some(_) = qemu_and_firmware() else {
        return;
    };
    let dir = scratch("ipl");
    let volume = dir.join("ipl.3390");
    let payload = Payload {
        bytes: &C0FFEE,
        load_address: 0x20000,
        entry: 0x20000,
    };
    make_ipl_volume(&volume, 3, "VFIOCC", &payload).expect("an IPL volume");
    let (status, text) = run_qemu(&volume, &IPL_FROM_THE_DEVICE, "", Duration::from_secs(120));
    assert!(
        text.contains("executing ccw chain"),
        "the firmware's DASD IPL: {text}"
    );
    assert!(
        text.contains("disabled-wait")
            && text.contains("PSW: 0x0002000000000000 0x0000000000c0ffee"),
        "{text}"
    );
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("errors: none"),
        "the simulated kernel's report: {text}"
    );
}

#[test]
fn stock_qemu_refuses_to_ipl_a_volume_without_ipl_records() {
    let Some(_) = qemu_and_firmware() else {
        return;
    };
    let dir = scratch("no-ipl");
    let (_, text) = run_qemu(
        &blank_volume(&dir),
        &IPL_FROM_THE_DEVICE,
        "",
        Duration::from_secs(120),
    );
    assert!(text.contains("No suitable device for IPL"), "{text}");
    assert!(!text.contains("0x0000000000c0ffee"), "{text}");
}

#[test]
fn stock_qemu_unplugs_the_device_and_hands_everything_back() {
    let Some(_) = qemu_and_firmware() else {
        return;
    };
    let dir = scratch("unplug");
    let qmp = concat!(
        r#"{"execute":"qmp_capabilities"}"#,
        "\n",
        r#"{"execute":"device_del","arguments":{"id":"v0"}}"#,
        "\n",
        r#"{"execute":"quit"}"#,
        "\n"
    );
    let (status, text) = run_qemu(
        &blank_volume(&dir),
        &[
            "-device",
            "vfio-ccw,id=v0,sysfsdev=@SYSFSDEV@,devno=fe.0.0001",
            "-S",
            "-qmp",
            "stdio",
        ],
        qmp,
        Duration::from_secs(60),
    );
    assert_eq!(status, Some(0), "{text}");
    // Teardown (the DEVICE_DELETED event may come after `quit`): the three
    // IRQs unset, the guest RAM unmapped, and the group's UNSET_CONTAINER
    // and closes accepted (QEMU reports failures).
    assert!(text.contains("set-irqs     6"), "{text}");
    assert!(text.contains("dma-unmap    1"), "{text}");
    assert!(
        !text.contains("qemu-system-s390x:"),
        "QEMU complained: {text}"
    );
}
