// SPDX-License-Identifier: GPL-2.0-or-later
//! What the interposer and launcher tests share: the artifacts under test
//! (the preload library and the launcher, built by a nested cargo because
//! cargo does not build a cdylib for integration tests), the C probe, and
//! scratch volumes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const UUID: &str = "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313";
pub const GROUP: &str = "7";

/// Why these tests cannot run here, if they cannot: a test binary built
/// for another architecture and run under user-mode emulation (the s390x
/// lane) cannot preload a host library into a host program, nor create
/// mount namespaces for a system emulator.
pub fn cannot_run_here() -> Option<String> {
    let out = Command::new("uname").arg("-m").output().ok()?;
    let host = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let ours = std::env::consts::ARCH;
    (!host.is_empty() && host != ours)
        .then(|| format!("this test binary is {ours}, run under user-mode emulation on {host}"))
}

/// Runs the rest of a test only where it can run; says why not otherwise.
#[macro_export]
macro_rules! native_only {
    () => {
        if let Some(why) = common::cannot_run_here() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch directory of this test binary's own.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("preload-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

pub struct Artifacts {
    pub preload: PathBuf,
    pub launcher: PathBuf,
    /// The probe as a plain build calls libc: `open`, `pread`, ...
    pub probe: PathBuf,
    /// The probe built as QEMU is (64-bit offsets, fortified): `open64`,
    /// `__open64_2`, `__pread64_chk`, ...
    pub fortified_probe: PathBuf,
    /// Fortified with 32-bit offsets: `__open_2`, `__pread_chk`, ...
    pub fortified32_probe: PathBuf,
}

fn compile_probe(out: &Path, flags: &[&str]) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vfio-probe.c");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let result = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {}: {e} (the C probe needs a C compiler)",
                cc.to_string_lossy()
            )
        });
    assert!(
        result.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The profile directory this test binary was built into (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps")
        .to_owned()
}

/// Builds the interposer and the launcher in this test's profile, and the
/// C probe; once per test binary.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        let dir = profile_dir();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => panic!("no profile directory above {}", dir.display()),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .env("CARGO_TARGET_DIR", dir.parent().expect("target directory"))
            .args(["build", "--quiet", "--profile", &profile])
            .args([
                "-p",
                "vfio-ccw-sim-preload",
                "-p",
                "vfio-ccw-sim",
                "--lib",
                "--bins",
            ])
            .status()
            .expect("running cargo build for the interposer and the launcher");
        assert!(
            status.success(),
            "cargo build of the interposer and launcher failed"
        );

        let probe = dir.join("vfio-probe");
        compile_probe(&probe, &["-O1"]);
        let fortified_probe = dir.join("vfio-probe-fortified");
        compile_probe(
            &fortified_probe,
            &["-O2", "-D_FORTIFY_SOURCE=2", "-D_FILE_OFFSET_BITS=64"],
        );
        let fortified32_probe = dir.join("vfio-probe-fortified32");
        compile_probe(&fortified32_probe, &["-O2", "-D_FORTIFY_SOURCE=2"]);
        Artifacts {
            preload: dir.join("libvfio_ccw_sim_preload.so"),
            launcher: dir.join("vfio-ccw-sim"),
            probe,
            fortified_probe,
            fortified32_probe,
        }
    })
}

/// A blank 3-cylinder 3390 in `dir`.
pub fn blank_volume(dir: &Path) -> PathBuf {
    let path = dir.join("blank.3390");
    vfio_ccw_sim::ckd::CkdImage::create(&path, 3).expect("creating a blank 3390");
    path
}

/// The probe's environment without anything inherited from the caller's
/// own simulator settings.
pub fn probe_command(dir: &Path) -> Command {
    probe_command_for(&artifacts().probe, dir)
}

/// As [`probe_command`], for either build of the probe.
pub fn probe_command_for(probe: &Path, dir: &Path) -> Command {
    let a = artifacts();
    let mut cmd = Command::new(probe);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VFIO_CCW_SIM_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LD_PRELOAD", &a.preload)
        .env("VFIO_CCW_SIM_DASD", blank_volume(dir))
        .env("VFIO_CCW_SIM_GROUP", GROUP)
        .env("VFIO_CCW_SIM_UUID", UUID);
    cmd
}

/// The probe's report, one line per step, and its stderr.
pub struct Report {
    pub lines: Vec<String>,
    pub stderr: String,
}

impl Report {
    pub fn from_output(steps: &[&str], out: Output) -> Report {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "the probe failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
        // One line per step, in order: nothing else may reach stdout.
        assert_eq!(
            lines.len(),
            steps.len(),
            "stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for (line, step) in lines.iter().zip(steps) {
            assert!(
                line.starts_with(&format!("{step}: ")),
                "line {line:?} for step {step}"
            );
        }
        Report { lines, stderr }
    }

    /// What step `i` printed after its name.
    pub fn result(&self, i: usize) -> &str {
        let line = &self.lines[i];
        &line[line.find(": ").expect("step: result") + 2..]
    }

    pub fn errno(&self, i: usize) -> Option<i32> {
        self.result(i)
            .strip_prefix("errno ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|n| n.parse().expect("errno number"))
    }
}

/// Runs the probe with `steps` under the interposer.
pub fn probe(dir: &Path, steps: &[&str]) -> Report {
    probe_with(probe_command(dir), steps)
}

pub fn probe_with(mut cmd: Command, steps: &[&str]) -> Report {
    let out = cmd.args(steps).output().expect("running the probe");
    Report::from_output(steps, out)
}
