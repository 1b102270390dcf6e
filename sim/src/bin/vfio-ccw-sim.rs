// SPDX-License-Identifier: GPL-2.0-or-later
//! `vfio-ccw-sim run [OPTIONS] -- COMMAND...`: runs COMMAND (QEMU, a test)
//! against the simulated vfio-ccw host kernel.
//!
//! In a private mount namespace (nothing outside changes, nothing to clean
//! up) it puts tmpfs over `/sys/devices` and `/sys/bus` with the real
//! `system` and `virtual` trees bound back, builds the subchannel and mdev
//! there, preloads the interposer that answers `/dev/vfio`, and hands
//! COMMAND the `sysfsdev=` path (`@SYSFSDEV@` in its arguments, and
//! `VFIO_CCW_SIM_SYSFSDEV`). At exit it prints what the kernel saw.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use std::sync::atomic::{AtomicI32, Ordering};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use vfio_ccw_sim::sysfs::{self, Layout};

const USAGE: &str = "\
usage: vfio-ccw-sim run [OPTIONS] -- COMMAND [ARG...]

Runs COMMAND against a simulated vfio-ccw host kernel: a 3390 DASD behind a
subchannel, exposed as a mediated device. '@SYSFSDEV@' in COMMAND's arguments
becomes the mdev's sysfs path (also in $VFIO_CCW_SIM_SYSFSDEV).

options:
  --dasd IMAGE        the 3390 volume (a Hercules CKD image; see vfio-ccw-mkvol)
  --schid C.S.XXXX    host subchannel id (default 0.0.0313)
  --devno C.S.XXXX    device number (default 0.0.0190)
  --chpids XX[,XX...] the CHPIDs of paths 0, 1, ... (hex, up to 8; default 40);
                      --chpid is the same
  --faults FILE       fault script (docs/simulator.md)
  --compat qemu-c     byte order of the stock upstream C device on this host
  --stats FILE        also write the kernel's counters to FILE
  --latency US        each channel program (and halt, clear) takes US
                      microseconds on the subchannel's own thread; the
                      interrupt arrives after the write that started it
                      returned. 0 (the default) completes it inside the
                      write; 3390: the rotational delay and data rate of a
                      3390 (docs/simulator.md)
  --seed N            where random timing (--latency 3390) starts; the run
                      prints the one it used, and the same N replays it
  --group N           IOMMU group number (default 7)
  --no-group          a kernel without CONFIG_VFIO_GROUP: no iommu_group link,
                      no /dev/vfio/vfio or group node; only iommufd and the
                      device cdev reach the device
  --cdev-fd N         COMMAND starts with the device cdev open as fd N (3 to
                      1023), as a management tool passes it to QEMU's
                      -device vfio-ccw,fd=N,iommufd=...

Needs root: it unshares the mount namespace.";

const UUID: &str = "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313";

struct Options {
    dasd: Option<PathBuf>,
    schid: String,
    devno: String,
    chpids: Vec<u8>,
    faults: Option<PathBuf>,
    compat: Option<String>,
    stats: Option<PathBuf>,
    latency: vfio_ccw_sim::Latency,
    seed: Option<u64>,
    group: Option<u32>,
    cdev_fd: Option<i32>,
    command: Vec<OsString>,
}

/// What the command line asks for.
enum Request {
    Run(Box<Options>),
    Help,
}

fn parse(mut args: impl Iterator<Item = OsString>) -> Result<Request, String> {
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("run") => {}
        Some("-h" | "--help" | "help") => return Ok(Request::Help),
        None => return Err(USAGE.into()),
        Some(other) => return Err(format!("unknown command '{other}'\n\n{USAGE}")),
    }
    let mut o = Options {
        dasd: None,
        schid: "0.0.0313".into(),
        devno: "0.0.0190".into(),
        chpids: vec![0x40],
        faults: None,
        compat: None,
        stats: None,
        latency: vfio_ccw_sim::Latency::Immediate,
        seed: None,
        group: Some(7),
        cdev_fd: None,
        command: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let arg = arg
            .to_str()
            .ok_or("arguments before -- must be text")?
            .to_owned();
        if arg == "--" {
            o.command = args.collect();
            break;
        }
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dasd" => o.dasd = Some(value()?.into()),
            "--schid" => o.schid = value()?.to_string_lossy().into_owned(),
            "--devno" => o.devno = value()?.to_string_lossy().into_owned(),
            "--chpid" | "--chpids" => {
                let v = value()?.to_string_lossy().into_owned();
                o.chpids =
                    vfio_ccw_sim::sysfs::parse_chpids(&v).map_err(|e| format!("{arg} {v}: {e}"))?;
            }
            "--faults" => o.faults = Some(value()?.into()),
            "--compat" => {
                let v = value()?.to_string_lossy().into_owned();
                if v != "qemu-c" {
                    return Err(format!(
                        "--compat {v}: the only compatibility mode is qemu-c"
                    ));
                }
                o.compat = Some(v);
            }
            "--stats" => o.stats = Some(value()?.into()),
            "--latency" => {
                let v = value()?.to_string_lossy().into_owned();
                o.latency = vfio_ccw_sim::Latency::parse(&v).map_err(|e| format!("--{e}"))?;
            }
            "--seed" => {
                let v = value()?.to_string_lossy().into_owned();
                o.seed = Some(
                    v.parse()
                        .map_err(|_| format!("--seed {v}: expected a number (0 to 2^64-1)"))?,
                );
            }
            "--group" => {
                let v = value()?.to_string_lossy().into_owned();
                o.group = Some(
                    v.parse()
                        .map_err(|_| format!("--group {v}: expected a number"))?,
                );
            }
            "--no-group" => o.group = None,
            "--cdev-fd" => {
                let v = value()?.to_string_lossy().into_owned();
                // Not 0 to 2 (the standard streams), and below the default
                // RLIMIT_NOFILE.
                o.cdev_fd = match v.parse() {
                    Ok(fd @ 3..=1023) => Some(fd),
                    _ => return Err(format!("--cdev-fd {v}: expected a number from 3 to 1023")),
                };
            }
            "-h" | "--help" => return Ok(Request::Help),
            other => return Err(format!("unknown option '{other}'\n\n{USAGE}")),
        }
    }
    if o.command.is_empty() {
        return Err(format!("no command given after --\n\n{USAGE}"));
    }
    let Some(dasd) = &o.dasd else {
        return Err("--dasd IMAGE is required: the subchannel needs a volume".into());
    };
    if !dasd.is_file() {
        return Err(format!("--dasd {}: no such file", dasd.display()));
    }
    // Checked here so that a typo fails before anything is mounted.
    bus_id("--schid", &o.schid)?;
    bus_id("--devno", &o.devno)?;
    Ok(Request::Run(Box::new(o)))
}

/// `C.S.XXXX` in hex: channel subsystem, subchannel set (0-3), number.
fn bus_id(name: &str, text: &str) -> Result<(u8, u8, u16), String> {
    let bad =
        || format!("{name} {text}: expected a bus id like 0.0.0313 (hex; subchannel set 0 to 3)");
    let parts: Vec<&str> = text.split('.').collect();
    let [c, s, x] = parts.as_slice() else {
        return Err(bad());
    };
    let (c, s, x) = (
        u8::from_str_radix(c, 16).map_err(|_| bad())?,
        u8::from_str_radix(s, 16).map_err(|_| bad())?,
        u16::from_str_radix(x, 16).map_err(|_| bad())?,
    );
    if s > 3 {
        return Err(bad());
    }
    Ok((c, s, x))
}

/// The interposer: $VFIO_CCW_SIM_PRELOAD, or next to this binary.
fn preload() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("VFIO_CCW_SIM_PRELOAD") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let path = exe.with_file_name("libvfio_ccw_sim_preload.so");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the interposer {} is missing: build it with `cargo build -p vfio-ccw-sim-preload` \
             (same profile) or set VFIO_CCW_SIM_PRELOAD",
            path.display()
        ))
    }
}

/// Private mounts with tmpfs over /sys/devices and /sys/bus, the real
/// `system` and `virtual` trees kept (QEMU reads CPU and memory details).
fn private_sysfs() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| {
        format!("cannot create a private mount namespace ({e}): vfio-ccw-sim run needs root")
    })?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| format!("cannot make the mounts private: {e}"))?;
    let keep = std::env::temp_dir().join(format!("vfio-ccw-sim-{}", std::process::id()));
    let mut kept = Vec::new();
    for tree in ["system", "virtual"] {
        let real = Path::new("/sys/devices").join(tree);
        if !real.is_dir() {
            continue;
        }
        let hold = keep.join(tree);
        std::fs::create_dir_all(&hold).map_err(|e| format!("{}: {e}", hold.display()))?;
        mount(
            Some(&real),
            &hold,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )
        .map_err(|e| format!("cannot keep {}: {e}", real.display()))?;
        kept.push((hold, real));
    }
    for dir in ["/sys/devices", "/sys/bus"] {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=0755"),
        )
        .map_err(|e| format!("cannot mount tmpfs on {dir}: {e}"))?;
    }
    for (hold, real) in kept {
        std::fs::create_dir_all(&real).map_err(|e| format!("{}: {e}", real.display()))?;
        mount(Some(&hold), &real, none, MsFlags::MS_MOVE, none)
            .map_err(|e| format!("cannot put back {}: {e}", real.display()))?;
    }
    let _ = std::fs::remove_dir_all(&keep);
    Ok(())
}

/// The interposer first, then whatever the caller preloads already (its
/// `open` and friends then see the calls the interposer passes on).
fn ld_preload(ours: &Path) -> OsString {
    let mut value = ours.as_os_str().to_owned();
    if let Some(theirs) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        value.push(":");
        value.push(theirs);
    }
    value
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(signal: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, signal) };
    }
}

const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set
}

/// Holds the forwarded signals back until the command exists, so that a
/// signal arriving while it starts is not lost (or fatal to the launcher).
/// The command must not inherit the mask: it is cleared between fork and
/// exec.
fn hold_signals() {
    if let Err(e) = forwarded_set().thread_block() {
        eprintln!("vfio-ccw-sim: cannot hold signals back while starting the command: {e}");
    }
}

/// Passes termination signals on to the command, so that `timeout` or a
/// Ctrl-C ends QEMU too, and the report still comes; then lets the held
/// ones through.
fn forward_signals(pid: u32) {
    CHILD.store(pid as i32, Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in FORWARDED {
        // SAFETY: `forward` only reads an atomic and calls kill.
        if let Err(e) = unsafe { sigaction(signal, &action) } {
            eprintln!("vfio-ccw-sim: cannot forward {signal}: {e}");
        }
    }
    if let Err(e) = forwarded_set().thread_unblock() {
        eprintln!("vfio-ccw-sim: cannot let signals through: {e}");
    }
}

fn run(o: Options) -> Result<ExitCode, String> {
    let (cssid, ssid, schno) = bus_id("--schid", &o.schid)?;
    let (_, _, devno) = bus_id("--devno", &o.devno)?;
    let preload = preload()?;
    let (chpids, pim) = vfio_ccw_sim::sysfs::installed_paths(&o.chpids);
    let dasd = std::fs::canonicalize(o.dasd.as_ref().expect("checked in parse"))
        .map_err(|e| format!("--dasd: {e}"))?;
    let layout = Layout {
        cssid,
        ssid,
        schno,
        devno,
        chpids,
        pim,
        pam: pim,
        pom: 0xff,
        chp_type: 0x1b,
        uuid: UUID.into(),
        group: o.group,
    };
    private_sysfs()?;
    sysfs::build(Path::new("/sys"), &layout)
        .map_err(|e| format!("building the simulated sysfs: {e}"))?;
    let sysfsdev = Path::new("/sys").join(layout.sysfsdev());
    eprintln!("vfio-ccw-sim: sysfsdev={}", sysfsdev.display());
    // A seed the user did not give comes from the clock; printed, it
    // replays the run.
    let seed = o.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    match o.latency {
        vfio_ccw_sim::Latency::Immediate => {}
        l if l.is_random() => eprintln!("vfio-ccw-sim: latency={l} seed={seed}"),
        l => eprintln!("vfio-ccw-sim: latency={l} us"),
    }

    let stats = std::env::temp_dir().join(format!("vfio-ccw-sim-stats-{}", std::process::id()));
    let args = o.command[1..].iter().map(|a| {
        let text = a.to_string_lossy();
        if text.contains("@SYSFSDEV@") {
            OsString::from(text.replace("@SYSFSDEV@", &sysfsdev.to_string_lossy()))
        } else {
            a.clone()
        }
    });
    let mut command = Command::new(&o.command[0]);
    command
        .args(args)
        .env("LD_PRELOAD", ld_preload(&preload))
        .env("VFIO_CCW_SIM_SYSFSDEV", &sysfsdev)
        .env("VFIO_CCW_SIM_DASD", &dasd)
        .env("VFIO_CCW_SIM_SCHID", &o.schid)
        .env("VFIO_CCW_SIM_DEVNO", &o.devno)
        .env(
            "VFIO_CCW_SIM_CHPIDS",
            vfio_ccw_sim::sysfs::format_chpids(&o.chpids),
        )
        .env("VFIO_CCW_SIM_UUID", UUID)
        .env(
            "VFIO_CCW_SIM_GROUP",
            o.group.map_or_else(|| "none".into(), |g| g.to_string()),
        )
        .env("VFIO_CCW_SIM_STATS", &stats)
        .env("VFIO_CCW_SIM_LATENCY", o.latency.to_string())
        .env("VFIO_CCW_SIM_SEED", seed.to_string());
    if let Some(faults) = &o.faults {
        command.env("VFIO_CCW_SIM_FAULTS", faults);
    }
    if let Some(compat) = &o.compat {
        command.env("VFIO_CCW_SIM_COMPAT", compat);
    }
    // The cdev fd stands on a descriptor of /dev/null, as every fd of the
    // interposer does; the interposer adopts it at load.
    let backing = match o.cdev_fd {
        Some(fd) => {
            command.env("VFIO_CCW_SIM_CDEV_FD", fd.to_string());
            let null = std::fs::File::open("/dev/null")
                .map_err(|e| format!("opening /dev/null for --cdev-fd: {e}"))?;
            Some((null, fd))
        }
        None => None,
    };
    let dup = backing
        .as_ref()
        .map(|(null, fd)| (std::os::fd::AsRawFd::as_raw_fd(null), *fd));
    let held = forwarded_set();
    // SAFETY: the closure runs between fork and exec and only calls
    // pthread_sigmask and dup2, which are async-signal-safe and allocate
    // nothing.
    unsafe {
        command.pre_exec(move || {
            if let Some((null, fd)) = dup {
                // dup2 clears close-on-exec on the copy, so COMMAND has it.
                if libc::dup2(null, fd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            held.thread_unblock().map_err(std::io::Error::from)
        });
    }
    hold_signals();
    let spawned = command.spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = forwarded_set().thread_unblock();
            return Err(format!(
                "cannot run {}: {e}",
                o.command[0].to_string_lossy()
            ));
        }
    };
    drop(backing);
    forward_signals(child.id());
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the command: {e}"))?;

    match std::fs::read_to_string(&stats) {
        Ok(report) => {
            eprintln!("{report}");
            if let Some(path) = &o.stats {
                std::fs::write(path, &report)
                    .map_err(|e| format!("--stats {}: {e}", path.display()))?;
            }
            let _ = std::fs::remove_file(&stats);
        }
        Err(_) => eprintln!("vfio-ccw-sim: the command never opened the simulated device"),
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => {
            eprintln!("vfio-ccw-sim: the command was killed by signal {signal}");
            ExitCode::from((128 + signal).clamp(0, 255) as u8)
        }
        _ => ExitCode::FAILURE,
    })
}

fn main() -> ExitCode {
    let options = match parse(std::env::args_os().skip(1)) {
        Ok(Request::Run(o)) => o,
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(*options) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("vfio-ccw-sim: {message}");
            ExitCode::FAILURE
        }
    }
}
