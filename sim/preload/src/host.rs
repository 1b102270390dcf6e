// SPDX-License-Identifier: GPL-2.0-or-later
//! The simulated host of this process: its vfio-ccw devices, configured
//! once from the environment at the first open of a `/dev/vfio` node, and
//! the channel paths they share.
//!
//! `VFIO_CCW_SIM_DEVICES` says how many devices there are (default 1);
//! device `i` reads the per-device variables with `i` appended
//! (`VFIO_CCW_SIM_DASD1`), and device 0 also the plain names. What a
//! device's variables leave out comes from [`Description::at`] its position.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use vfio_ccw_sim::ccw_device::CcwDevice;
use vfio_ccw_sim::subchannel::{self, BusId, Description, Paths};
use vfio_ccw_sim::{Compat, FaultScript, Kernel, PathEvent, SimConfig};

/// One mediated device: its description and its driver model.
pub struct Device {
    pub description: Description,
    pub kernel: Arc<Kernel>,
}

pub struct Host {
    pub devices: Vec<Device>,
    /// False on a kernel without CONFIG_VFIO_GROUP: no container, no group
    /// nodes.
    pub groups: bool,
    /// Path events fault rules made, with the device they came from, not
    /// yet passed to the other devices.
    path_events: Mutex<VecDeque<(usize, PathEvent)>>,
    path_events_pending: AtomicBool,
}

impl Host {
    /// The device whose group node is `/dev/vfio/<name>`.
    pub fn by_group(&self, name: &str) -> Option<usize> {
        if !self.groups {
            return None;
        }
        let number: u32 = name.parse().ok()?;
        // "07" is not group 7's node.
        if number.to_string() != name {
            return None;
        }
        self.devices
            .iter()
            .position(|d| d.description.group == Some(number))
    }

    /// The device whose cdev is `/dev/vfio/devices/<name>`.
    pub fn by_cdev(&self, name: &str) -> Option<usize> {
        self.devices
            .iter()
            .position(|d| d.description.cdev_name() == name)
    }

    /// Device `device`'s driver model.
    pub fn kernel(&self, device: usize) -> &Arc<Kernel> {
        &self.devices[device].kernel
    }

    /// A path event of the host: every subchannel on the CHPID sees it.
    pub fn path_event(&self, event: PathEvent) {
        for device in &self.devices {
            apply(&device.kernel, event);
        }
    }

    /// Every device's counters, named by position, subchannel, device
    /// number and CHPIDs (path 0 first).
    pub fn named_stats(&self) -> Vec<(String, vfio_ccw_sim::Stats)> {
        self.devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = format!(
                    "device {i} (subchannel {}, device {}, CHPIDs {})",
                    d.description.schid,
                    d.description.devno,
                    d.description.paths.format()
                );
                (name, d.kernel.stats())
            })
            .collect()
    }

    /// The counters as the report prints them: each device's, then their
    /// total.
    pub fn report(&self) -> String {
        vfio_ccw_sim::stats::report(&self.named_stats())
    }

    /// Passes the path events fault rules made to every other device: a
    /// path is the host's, so each subchannel on it sees it go (a CRW
    /// each) or come back. Runs after each call into a kernel, with no
    /// kernel lock held.
    pub fn deliver_path_events(&self) {
        if !self.path_events_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        loop {
            let next = lock(&self.path_events).pop_front();
            let Some((origin, event)) = next else { return };
            for (i, device) in self.devices.iter().enumerate() {
                if i == origin {
                    continue;
                }
                apply(&device.kernel, event);
            }
        }
    }
}

/// `event` on one subchannel (nothing if it has no path on the CHPID).
fn apply(k: &Kernel, event: PathEvent) {
    match event {
        PathEvent::Offline(chpid) => k.chp_offline(chpid),
        PathEvent::Online(chpid) => k.chp_online(chpid),
        PathEvent::VaryOff(chpid) => k.vary_off(chpid),
        PathEvent::VaryOn(chpid) => k.vary_on(chpid),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The host, or why there is none (said once on stderr).
pub fn host() -> Option<&'static Host> {
    static HOST: OnceLock<Option<Host>> = OnceLock::new();
    static CONNECTED: std::sync::Once = std::sync::Once::new();
    let host = HOST.get_or_init(|| match configure() {
        Ok(host) => {
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(report_stats) };
            Some(host)
        }
        Err(e) => {
            eprintln!("vfio-ccw-sim: {e}; /dev/vfio nodes are not available");
            None
        }
    });
    let host = host.as_ref()?;
    CONNECTED.call_once(|| {
        connect_paths(host);
        if let Some(path) = env("VFIO_CCW_SIM_CONTROL") {
            crate::control::start(host, path);
        }
    });
    Some(host)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Device `i`'s variable `name` (`VFIO_CCW_SIM_DASD1`), for device 0 also
/// the plain name; returns the name it was found under and its value.
fn device_env(name: &str, i: usize) -> Option<(String, String)> {
    let indexed = format!("{name}{i}");
    if let Some(v) = env(&indexed) {
        return Some((indexed, v));
    }
    (i == 0).then(|| env(name).map(|v| (name.to_owned(), v)))?
}

fn configure() -> Result<Host, String> {
    let count = match env("VFIO_CCW_SIM_DEVICES") {
        None => 1,
        Some(text) => match text.parse::<usize>() {
            Ok(n @ 1..=subchannel::MAX_DEVICES) => n,
            _ => {
                return Err(format!(
                    "VFIO_CCW_SIM_DEVICES={text}: expected 1 to {}",
                    subchannel::MAX_DEVICES
                ))
            }
        },
    };
    let compat = match env("VFIO_CCW_SIM_COMPAT").as_deref() {
        None | Some("architecture") => Compat::Architecture,
        Some("qemu-c") => Compat::QemuC,
        Some(other) => {
            return Err(format!(
                "VFIO_CCW_SIM_COMPAT={other}: expected qemu-c or architecture"
            ))
        }
    };
    let latency = match env("VFIO_CCW_SIM_LATENCY") {
        None => vfio_ccw_sim::Latency::default(),
        Some(text) => {
            vfio_ccw_sim::Latency::parse(&text).map_err(|e| format!("VFIO_CCW_SIM_LATENCY: {e}"))?
        }
    };
    let seed: u64 = match env("VFIO_CCW_SIM_SEED") {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| format!("VFIO_CCW_SIM_SEED={text}: expected a number"))?,
    };
    let groups = env("VFIO_CCW_SIM_GROUP").as_deref() != Some("none");
    let mut descriptions = Vec::with_capacity(count);
    let mut faults = Vec::with_capacity(count);
    for i in 0..count {
        let (d, f) = describe(i, groups).map_err(|e| format!("device {i}: {e}"))?;
        descriptions.push(d);
        faults.push(f);
    }
    subchannel::check_distinct(&descriptions)?;
    let mut devices = Vec::with_capacity(count);
    for (i, (description, faults)) in descriptions.into_iter().zip(faults).enumerate() {
        let config = SimConfig {
            subchannel: description.clone(),
            compat,
            faults,
            latency,
            // Each device its own sequence of random service times, all
            // replayed by the one seed.
            seed: seed.wrapping_add(i as u64),
            ..SimConfig::default()
        };
        let kernel = Kernel::new(config, ccw_device(i)?);
        devices.push(Device {
            description,
            kernel,
        });
    }
    let host = Host {
        devices,
        groups,
        path_events: Mutex::new(VecDeque::new()),
        path_events_pending: AtomicBool::new(false),
    };
    Ok(host)
}

/// Device `i`'s description and fault script from its variables.
fn describe(i: usize, groups: bool) -> Result<(Description, FaultScript), String> {
    let mut d = Description::at(i);
    let bus_id = |name: &str| -> Result<Option<BusId>, String> {
        device_env(name, i)
            .map(|(var, text)| {
                BusId::parse(&text).map_err(|_| {
                    format!("{var}={text}: expected a bus id like 0.0.0313 (hex; subchannel set 0 to 3)")
                })
            })
            .transpose()
    };
    if let Some(schid) = bus_id("VFIO_CCW_SIM_SCHID")? {
        d.schid = schid;
    }
    if let Some(devno) = bus_id("VFIO_CCW_SIM_DEVNO")? {
        d.devno = devno;
    }
    if let Some((var, text)) = device_env("VFIO_CCW_SIM_CHPIDS", i) {
        d.paths = Paths::parse(&text).map_err(|e| format!("{var}={text}: {e}"))?;
    }
    if let Some((_, uuid)) = device_env("VFIO_CCW_SIM_UUID", i) {
        d.uuid = uuid;
    }
    d.group = if groups {
        match device_env("VFIO_CCW_SIM_GROUP", i) {
            // The others follow the first device's group, as in the launcher.
            None => match env("VFIO_CCW_SIM_GROUP").and_then(|g| g.parse::<u32>().ok()) {
                Some(first) => Some(first.saturating_add(i as u32)),
                None => d.group,
            },
            Some((var, text)) => Some(
                text.parse()
                    .map_err(|_| format!("{var}={text}: expected a group number or none"))?,
            ),
        }
    } else {
        None
    };
    let faults = match device_env("VFIO_CCW_SIM_FAULTS", i) {
        None => FaultScript::empty(),
        Some((_, path)) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("fault script {path}: {e}"))?;
            FaultScript::parse(&text).map_err(|e| format!("fault script {path}: {e}"))?
        }
    };
    Ok((d, faults))
}

/// The device behind subchannel `i`.
fn ccw_device(i: usize) -> Result<Box<dyn CcwDevice>, String> {
    let Some((var, path)) = device_env("VFIO_CCW_SIM_DASD", i) else {
        let var = if i == 0 {
            "VFIO_CCW_SIM_DASD".to_owned()
        } else {
            format!("VFIO_CCW_SIM_DASD{i}")
        };
        return Err(format!(
            "device {i}: {var} is not set: the simulated subchannel needs a 3390 volume"
        ));
    };
    vfio_ccw_sim::dasd::open_device(std::path::Path::new(&path))
        .map_err(|e| format!("device {i}: {var}={path}: {e}"))
}

/// Installs each kernel's path hook: a fault rule's path event is queued
/// for the other devices (see [`Host::deliver_path_events`]).
fn connect_paths(host: &'static Host) {
    for (i, device) in host.devices.iter().enumerate() {
        device.kernel.on_path_event(Box::new(move |event| {
            lock(&host.path_events).push_back((i, event));
            host.path_events_pending.store(true, Ordering::Release);
        }));
    }
}

extern "C" fn report_stats() {
    let text = env("VFIO_CCW_SIM_STATS");
    let json = env("VFIO_CCW_SIM_STATS_JSON");
    if text.is_none() && json.is_none() {
        return;
    }
    let Some(host) = host() else {
        return;
    };
    let devices = host.named_stats();
    if let Some(target) = text {
        let report = vfio_ccw_sim::stats::report(&devices);
        if target == "-" {
            eprintln!("{report}");
        } else if let Err(e) = std::fs::write(&target, report) {
            eprintln!("vfio-ccw-sim: cannot write the statistics to {target}: {e}");
        }
    }
    if let Some(target) = json {
        let report = vfio_ccw_sim::stats::report_json(&devices);
        if let Err(e) = std::fs::write(&target, report + "\n") {
            eprintln!("vfio-ccw-sim: cannot write the JSON statistics to {target}: {e}");
        }
    }
}
