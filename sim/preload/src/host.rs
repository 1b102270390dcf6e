// SPDX-License-Identifier: GPL-2.0-or-later
//! The simulated host of this process: configured once from the
//! environment, at the first open of a `/dev/vfio` node.

use std::sync::{Arc, OnceLock};

use vfio_ccw_sim::ccw_device::CcwDevice;
use vfio_ccw_sim::{Compat, FaultScript, Kernel, SimConfig};

/// The mediated device's UUID when none is configured.
pub const DEFAULT_UUID: &str = "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313";

pub struct Host {
    pub kernel: Arc<Kernel>,
    /// The group node's name, or None for a kernel without groups.
    pub group: Option<String>,
    pub uuid: String,
}

/// The host, or why there is none (said once on stderr).
pub fn host() -> Option<&'static Host> {
    static HOST: OnceLock<Option<Host>> = OnceLock::new();
    HOST.get_or_init(|| match configure() {
        Ok(host) => {
            // SAFETY: registers a plain extern "C" function.
            unsafe { libc::atexit(report_stats) };
            Some(host)
        }
        Err(e) => {
            eprintln!("vfio-ccw-sim: {e}; /dev/vfio nodes are not available");
            None
        }
    })
    .as_ref()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Parses `C.S.XXXX` (hex), as the kernel names subchannels and devices.
fn bus_id(name: &str, text: &str) -> Result<(u8, u8, u16), String> {
    let bad = || format!("{name}={text}: expected a bus id like 0.0.0313");
    let mut parts = text.split('.');
    let (Some(c), Some(s), Some(x), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let c = u8::from_str_radix(c, 16).map_err(|_| bad())?;
    let s = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    let x = u16::from_str_radix(x, 16).map_err(|_| bad())?;
    if s > 3 {
        return Err(bad());
    }
    Ok((c, s, x))
}

fn configure() -> Result<Host, String> {
    let mut config = SimConfig::default();
    if let Some(schid) = env("VFIO_CCW_SIM_SCHID") {
        (config.cssid, config.ssid, config.schno) = bus_id("VFIO_CCW_SIM_SCHID", &schid)?;
    }
    if let Some(devno) = env("VFIO_CCW_SIM_DEVNO") {
        config.devno = bus_id("VFIO_CCW_SIM_DEVNO", &devno)?.2;
    }
    if let Some(chpids) = env("VFIO_CCW_SIM_CHPIDS") {
        let list = vfio_ccw_sim::sysfs::parse_chpids(&chpids)
            .map_err(|e| format!("VFIO_CCW_SIM_CHPIDS={chpids}: {e}"))?;
        (config.chpids, config.pim) = vfio_ccw_sim::sysfs::installed_paths(&list);
        config.pam = config.pim;
    }
    config.compat = match env("VFIO_CCW_SIM_COMPAT").as_deref() {
        None | Some("architecture") => Compat::Architecture,
        Some("qemu-c") => Compat::QemuC,
        Some(other) => {
            return Err(format!(
                "VFIO_CCW_SIM_COMPAT={other}: expected qemu-c or architecture"
            ))
        }
    };
    if let Some(latency) = env("VFIO_CCW_SIM_LATENCY") {
        config.latency = vfio_ccw_sim::Latency::parse(&latency)
            .map_err(|e| format!("VFIO_CCW_SIM_LATENCY: {e}"))?;
    }
    if let Some(seed) = env("VFIO_CCW_SIM_SEED") {
        config.seed = seed
            .parse()
            .map_err(|_| format!("VFIO_CCW_SIM_SEED={seed}: expected a number"))?;
    }
    if let Some(path) = env("VFIO_CCW_SIM_FAULTS") {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("fault script {path}: {e}"))?;
        config.faults =
            FaultScript::parse(&text).map_err(|e| format!("fault script {path}: {e}"))?;
    }
    let group = match env("VFIO_CCW_SIM_GROUP") {
        None => Some("0".to_owned()),
        Some(none) if none == "none" => None,
        Some(group) if group.parse::<u32>().is_ok() => Some(group),
        Some(other) => {
            return Err(format!(
                "VFIO_CCW_SIM_GROUP={other}: expected a group number or none"
            ))
        }
    };
    let uuid = env("VFIO_CCW_SIM_UUID").unwrap_or_else(|| DEFAULT_UUID.into());
    Ok(Host {
        kernel: Kernel::new(config, device()?),
        group,
        uuid,
    })
}

/// The device behind the subchannel.
fn device() -> Result<Box<dyn CcwDevice>, String> {
    let Some(path) = env("VFIO_CCW_SIM_DASD") else {
        return Err(
            "VFIO_CCW_SIM_DASD is not set: the simulated subchannel needs a 3390 volume".into(),
        );
    };
    vfio_ccw_sim::dasd::open_device(std::path::Path::new(&path)).map_err(|e| e.to_string())
}

extern "C" fn report_stats() {
    let Some(target) = env("VFIO_CCW_SIM_STATS") else {
        return;
    };
    let Some(host) = host() else {
        return;
    };
    let report = host.kernel.stats().to_string();
    if target == "-" {
        eprintln!("{report}");
    } else if let Err(e) = std::fs::write(&target, report) {
        eprintln!("vfio-ccw-sim: cannot write the statistics to {target}: {e}");
    }
}
