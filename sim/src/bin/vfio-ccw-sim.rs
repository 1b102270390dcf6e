// SPDX-License-Identifier: GPL-2.0-or-later
//! `vfio-ccw-sim run [OPTIONS] -- COMMAND...`: runs COMMAND (QEMU, a test)
//! against the simulated vfio-ccw host kernel.
//!
//! In a private mount namespace (nothing outside changes, nothing to clean
//! up) it puts tmpfs over `/sys/devices` and `/sys/bus` with the real
//! `system` and `virtual` trees bound back, builds each device's
//! subchannel and mdev there, preloads the interposer that answers
//! `/dev/vfio`, and hands COMMAND the `sysfsdev=` paths (`@SYSFSDEV@` and
//! `@SYSFSDEV<i>@` in its arguments, `VFIO_CCW_SIM_SYSFSDEV` and
//! `VFIO_CCW_SIM_SYSFSDEV<i>`). At exit it prints what the kernel saw.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use std::sync::atomic::{AtomicI32, Ordering};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use vfio_ccw_sim::subchannel::{self, BusId, Description, Paths};
use vfio_ccw_sim::sysfs;

const USAGE: &str = "\
usage: vfio-ccw-sim run [OPTIONS] -- COMMAND [ARG...]

Runs COMMAND against a simulated vfio-ccw host kernel: 3390 DASDs, each
behind its own subchannel and exposed as a mediated device. '@SYSFSDEV@' in
COMMAND's arguments becomes the first mdev's sysfs path, '@SYSFSDEV0@',
'@SYSFSDEV1@', ... each device's (also in $VFIO_CCW_SIM_SYSFSDEV and
$VFIO_CCW_SIM_SYSFSDEV0, ...).

options:
  --dasd IMAGE        a 3390 volume (a Hercules CKD image; see vfio-ccw-mkvol);
                      once per device. The device at position i (from 0) has
                      subchannel 0.0.0313+i, device number 0.0.0190+i, CHPID
                      40+i, group 7+i, cdev vfio<i>
  --device dasd=IMAGE[,schid=C.S.XXXX][,devno=C.S.XXXX][,chpids=XX.XX...]
           [,uuid=UUID][,group=N][,faults=FILE]
                      a device with its own settings; --dasd and --device
                      devices take positions in the order given
  --schid C.S.XXXX    the first device's host subchannel id (default 0.0.0313)
  --devno C.S.XXXX    the first device's device number (default 0.0.0190)
  --chpids XX[,XX...] the first device's CHPIDs of paths 0, 1, ... (hex, up to
                      8; default 40); --chpid is the same
  --faults FILE       the first device's fault script (docs/simulator.md);
                      a channel-path event it makes reaches every device
                      on that CHPID
  --compat qemu-c     byte order of the stock upstream C device on this host
  --stats FILE        also write the kernel's counters to FILE
  --stats-json FILE   write the kernel's counters to FILE as JSON (each
                      device's, then their total; docs/launcher.md)
  --latency US        each channel program (and halt, clear) takes US
                      microseconds on the subchannel's own thread; the
                      interrupt arrives after the write that started it
                      returned. 0 (the default) completes it inside the
                      write; 3390: the rotational delay and data rate of a
                      3390 (docs/simulator.md)
  --seed N            where random timing (--latency 3390) starts; the run
                      prints the one it used, and the same N replays it
  --control FIFO      host events while COMMAND runs: each line written to
                      FIFO (made if absent), 'chp-offline XX',
                      'chp-online XX', 'vary-off XX' or 'vary-on XX', reaches
                      every subchannel on CHPID XX; 'mdev-remove I' removes
                      device I's mdev (request IRQ), 'mdev-create I' makes
                      it again, 'sch-gone I' makes its subchannel not
                      operational; 'stats LABEL' prints the counters then
  --group N           the first device's IOMMU group number (default 7); the
                      others' follow it
  --no-group          a kernel without CONFIG_VFIO_GROUP: no iommu_group link,
                      no /dev/vfio/vfio or group node; only iommufd and the
                      device cdev reach the device
  --cdev-fd N         COMMAND starts with the first device's cdev open as fd N
                      (3 to 1023), as a management tool passes it to QEMU's
                      -device vfio-ccw,fd=N,iommufd=...

Needs root: it unshares the mount namespace.";

/// One device as the command line gives it: its volume, what it sets
/// itself, and how it was given (for messages).
#[derive(Default)]
struct DeviceOptions {
    given_as: String,
    dasd: PathBuf,
    schid: Option<BusId>,
    devno: Option<BusId>,
    paths: Option<Paths>,
    uuid: Option<String>,
    group: Option<u32>,
    faults: Option<PathBuf>,
}

struct Options {
    devices: Vec<DeviceOptions>,
    /// The first device's settings from the single-device options.
    schid: Option<BusId>,
    devno: Option<BusId>,
    paths: Option<Paths>,
    faults: Option<PathBuf>,
    compat: Option<String>,
    stats: Option<PathBuf>,
    stats_json: Option<PathBuf>,
    latency: vfio_ccw_sim::Latency,
    seed: Option<u64>,
    control: Option<PathBuf>,
    /// The first device's group (the others' follow), None: no groups.
    group: Option<u32>,
    cdev_fd: Option<i32>,
    command: Vec<OsString>,
}

/// Parses `--device`'s value: `dasd=IMAGE` and the settings after it.
fn parse_device(text: &str) -> Result<DeviceOptions, String> {
    let mut d = DeviceOptions {
        given_as: format!("--device {text}"),
        ..DeviceOptions::default()
    };
    let mut dasd = None;
    for part in text.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("'{part}' is not KEY=VALUE"));
        };
        match key {
            "dasd" => dasd = Some(PathBuf::from(value)),
            "schid" => d.schid = Some(BusId::parse(value)?),
            "devno" => d.devno = Some(BusId::parse(value)?),
            "chpids" => d.paths = Some(Paths::parse(value)?),
            "uuid" => d.uuid = Some(value.to_owned()),
            "group" => {
                d.group = Some(
                    value
                        .parse()
                        .map_err(|_| format!("group={value}: expected a number"))?,
                )
            }
            "faults" => d.faults = Some(value.into()),
            other => {
                return Err(format!(
                    "unknown setting '{other}' (dasd, schid, devno, chpids, uuid, group, faults)"
                ))
            }
        }
    }
    d.dasd = dasd.ok_or("dasd=IMAGE is required")?;
    Ok(d)
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
        devices: Vec::new(),
        schid: None,
        devno: None,
        paths: None,
        faults: None,
        compat: None,
        stats: None,
        stats_json: None,
        latency: vfio_ccw_sim::Latency::Immediate,
        seed: None,
        control: None,
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
            "--dasd" => {
                let dasd = PathBuf::from(value()?);
                o.devices.push(DeviceOptions {
                    given_as: format!("--dasd {}", dasd.display()),
                    dasd,
                    ..DeviceOptions::default()
                });
            }
            "--device" => {
                let v = value()?.to_string_lossy().into_owned();
                let device = parse_device(&v)
                    .map_err(|e| format!("--device {v} (device {}): {e}", o.devices.len()))?;
                o.devices.push(device);
            }
            "--schid" | "--devno" => {
                let v = value()?.to_string_lossy().into_owned();
                let id = BusId::parse(&v).map_err(|_| {
                    format!(
                        "{arg} {v}: expected a bus id like 0.0.0313 (hex; subchannel set 0 to 3)"
                    )
                })?;
                if arg == "--schid" {
                    o.schid = Some(id);
                } else {
                    o.devno = Some(id);
                }
            }
            "--chpid" | "--chpids" => {
                let v = value()?.to_string_lossy().into_owned();
                o.paths = Some(Paths::parse(&v).map_err(|e| format!("{arg} {v}: {e}"))?);
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
            "--stats-json" => o.stats_json = Some(value()?.into()),
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
            "--control" => o.control = Some(value()?.into()),
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
    if o.devices.is_empty() {
        return Err("--dasd IMAGE is required: the subchannel needs a volume".into());
    }
    if o.devices.len() > subchannel::MAX_DEVICES {
        return Err(format!(
            "{} devices: at most {} are simulated",
            o.devices.len(),
            subchannel::MAX_DEVICES
        ));
    }
    // Checked here so that a typo fails before anything is mounted.
    let mut volumes: Vec<PathBuf> = Vec::new();
    for (i, d) in o.devices.iter().enumerate() {
        let name = if o.devices.len() == 1 {
            d.given_as.clone()
        } else {
            format!("device {i} ({})", d.given_as)
        };
        let Ok(volume) = std::fs::canonicalize(&d.dasd)
            .map_err(|_| ())
            .and_then(|p| if p.is_file() { Ok(p) } else { Err(()) })
        else {
            return Err(format!("{name}: no such file"));
        };
        // Two models writing one image would corrupt it.
        if let Some(j) = volumes.iter().position(|v| *v == volume) {
            return Err(format!(
                "{name}: {} is device {j}'s volume too",
                d.dasd.display()
            ));
        }
        volumes.push(volume);
    }
    subchannel::check_distinct(&describe(&o))?;
    if let Some(path) = &o.control {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::metadata(path).is_ok_and(|m| !m.file_type().is_fifo()) {
            return Err(format!(
                "--control {}: exists and is not a FIFO",
                path.display()
            ));
        }
    }
    Ok(Request::Run(Box::new(o)))
}

/// Each device's description: its position's defaults, the single-device
/// options for the first, then what it sets itself.
fn describe(o: &Options) -> Vec<Description> {
    let mut all = Vec::with_capacity(o.devices.len());
    for (i, d) in o.devices.iter().enumerate() {
        let mut desc = Description::at(i);
        if i == 0 {
            desc.schid = o.schid.unwrap_or(desc.schid);
            desc.devno = o.devno.unwrap_or(desc.devno);
            desc.paths = o.paths.unwrap_or(desc.paths);
        }
        desc.schid = d.schid.unwrap_or(desc.schid);
        desc.devno = d.devno.unwrap_or(desc.devno);
        desc.paths = d.paths.unwrap_or(desc.paths);
        if let Some(uuid) = &d.uuid {
            desc.uuid.clone_from(uuid);
        }
        // --no-group: none at all; otherwise each its own, following the
        // first's.
        desc.group = o
            .group
            .map(|first| d.group.unwrap_or(first.saturating_add(i as u32)));
        all.push(desc);
    }
    all
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

/// The variables device `i` is configured by: the plain names for the
/// first (`VFIO_CCW_SIM_DASD`), the index appended for the others.
fn device_var(name: &str, i: usize) -> String {
    if i == 0 {
        name.to_owned()
    } else {
        format!("{name}{i}")
    }
}

/// `@SYSFSDEV@` (the first device's) and `@SYSFSDEV<i>@` in `text`
/// replaced by the mdev paths.
fn substitute(text: &str, sysfsdevs: &[PathBuf]) -> String {
    let mut out = text.replace("@SYSFSDEV@", &sysfsdevs[0].to_string_lossy());
    for (i, path) in sysfsdevs.iter().enumerate() {
        out = out.replace(&format!("@SYSFSDEV{i}@"), &path.to_string_lossy());
    }
    out
}

/// The control FIFO at `path`: an existing one is used, none is made (and
/// then true: the launcher removes it at the end); anything else there is
/// refused.
fn control_fifo(path: &Path) -> Result<bool, String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => Ok(false),
        Ok(_) => Err(format!(
            "--control {}: exists and is not a FIFO",
            path.display()
        )),
        Err(_) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| format!("--control {}: cannot make a FIFO: {e}", path.display()))?;
            Ok(true)
        }
    }
}

fn run(o: Options) -> Result<ExitCode, String> {
    let preload = preload()?;
    let devices = describe(&o);
    private_sysfs()?;
    sysfs::build_all(Path::new("/sys"), &devices)
        .map_err(|e| format!("building the simulated sysfs: {e}"))?;
    let sysfsdevs: Vec<PathBuf> = devices
        .iter()
        .map(|d| Path::new("/sys").join(d.sysfsdev()))
        .collect();
    announce(&devices, &sysfsdevs);
    let seed = seed(&o);
    let stats = std::env::temp_dir().join(format!("vfio-ccw-sim-stats-{}", std::process::id()));
    let mut command = command(&o, &devices, &sysfsdevs, &preload, &stats, seed)?;
    let made_fifo = match &o.control {
        Some(path) => {
            let made = control_fifo(path)?;
            command.env("VFIO_CCW_SIM_CONTROL", path);
            made
        }
        None => false,
    };
    let status = spawn_and_wait(&o, &mut command);
    if made_fifo {
        if let Some(path) = &o.control {
            let _ = std::fs::remove_file(path);
        }
    }
    let status = status?;
    report(&o, &stats)?;
    Ok(exit_code(status))
}

/// Says on stderr where the simulated sysfs put each device.
fn announce(devices: &[Description], sysfsdevs: &[PathBuf]) {
    eprintln!("vfio-ccw-sim: sysfsdev={}", sysfsdevs[0].display());
    if devices.len() > 1 {
        for (i, (d, path)) in devices.iter().zip(sysfsdevs).enumerate() {
            eprintln!(
                "vfio-ccw-sim: device {i}: sysfsdev{i}={} subchannel {} device {} CHPIDs {}",
                path.display(),
                d.schid,
                d.devno,
                d.paths.format()
            );
        }
    }
}

/// The seed of the random latencies: the user's, or one from the clock,
/// printed so that it replays the run.
fn seed(o: &Options) -> u64 {
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

    seed
}

/// COMMAND with its `@SYSFSDEV@` arguments substituted and the
/// interposer's environment: the preload, every device's description,
/// where the counters go.
fn command(
    o: &Options,
    devices: &[Description],
    sysfsdevs: &[PathBuf],
    preload: &Path,
    stats: &Path,
    seed: u64,
) -> Result<Command, String> {
    let args = o.command[1..].iter().map(|a| {
        let text = a.to_string_lossy();
        if text.contains("@SYSFSDEV") {
            OsString::from(substitute(&text, sysfsdevs))
        } else {
            a.clone()
        }
    });
    let mut command = Command::new(&o.command[0]);
    command
        .args(args)
        .env("LD_PRELOAD", ld_preload(preload))
        .env("VFIO_CCW_SIM_SYSFSDEV", &sysfsdevs[0])
        .env("VFIO_CCW_SIM_DEVICES", devices.len().to_string())
        .env("VFIO_CCW_SIM_STATS", stats)
        .env("VFIO_CCW_SIM_LATENCY", o.latency.to_string())
        .env("VFIO_CCW_SIM_SEED", seed.to_string());
    if o.group.is_none() {
        command.env("VFIO_CCW_SIM_GROUP", "none");
    }
    for (i, (d, given)) in devices.iter().zip(&o.devices).enumerate() {
        let dasd = std::fs::canonicalize(&given.dasd)
            .map_err(|e| format!("device {i} ({}): {e}", given.given_as))?;
        let var = |name| device_var(name, i);
        command
            .env(format!("VFIO_CCW_SIM_SYSFSDEV{i}"), &sysfsdevs[i])
            .env(var("VFIO_CCW_SIM_DASD"), &dasd)
            .env(var("VFIO_CCW_SIM_SCHID"), d.schid.to_string())
            .env(var("VFIO_CCW_SIM_DEVNO"), d.devno.to_string())
            .env(var("VFIO_CCW_SIM_CHPIDS"), d.paths.format())
            .env(var("VFIO_CCW_SIM_UUID"), &d.uuid);
        if let Some(group) = d.group {
            command.env(var("VFIO_CCW_SIM_GROUP"), group.to_string());
        }
        let faults = if i == 0 {
            given.faults.as_ref().or(o.faults.as_ref())
        } else {
            given.faults.as_ref()
        };
        if let Some(faults) = faults {
            command.env(var("VFIO_CCW_SIM_FAULTS"), faults);
        }
    }
    if let Some(compat) = &o.compat {
        command.env("VFIO_CCW_SIM_COMPAT", compat);
    }
    if let Some(path) = &o.stats_json {
        // The interposer writes it from COMMAND's exit, whose working
        // directory may differ from ours.
        let path = std::path::absolute(path)
            .map_err(|e| format!("--stats-json {}: {e}", path.display()))?;
        let _ = std::fs::remove_file(&path);
        command.env("VFIO_CCW_SIM_STATS_JSON", path);
    }
    Ok(command)
}

/// Starts COMMAND with the forwarded signals held until it runs (and the
/// `--cdev-fd` descriptor in place), forwards them, and waits for it.
fn spawn_and_wait(o: &Options, command: &mut Command) -> Result<std::process::ExitStatus, String> {
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
    child
        .wait()
        .map_err(|e| format!("waiting for the command: {e}"))
}

/// Prints the kernel's counters the interposer left, and copies them to
/// `--stats`.
fn report(o: &Options, stats: &Path) -> Result<(), String> {
    match std::fs::read_to_string(stats) {
        Ok(report) => {
            eprintln!("{report}");
            if let Some(path) = &o.stats {
                std::fs::write(path, &report)
                    .map_err(|e| format!("--stats {}: {e}", path.display()))?;
            }
            let _ = std::fs::remove_file(stats);
        }
        Err(_) => eprintln!("vfio-ccw-sim: the command never opened the simulated device"),
    }
    Ok(())
}

/// The launcher's exit status: COMMAND's, or 128 + the signal that
/// killed it.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => {
            eprintln!("vfio-ccw-sim: the command was killed by signal {signal}");
            ExitCode::from((128 + signal).clamp(0, 255) as u8)
        }
        _ => ExitCode::FAILURE,
    }
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
