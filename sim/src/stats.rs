// SPDX-License-Identifier: GPL-2.0-or-later
//! Counters of what userspace asked of the simulated kernel and what the
//! channel did, for test assertions and the launcher's exit report.

use std::collections::BTreeMap;
use std::fmt;

/// The kinds of operation userspace performs on the simulated kernel. The
/// same kinds name the operations in fault scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// `pwrite` to the I/O region (index 0).
    IoWrite,
    /// `pread` from the I/O region.
    IoRead,
    /// `pwrite` to the async command region.
    CmdWrite,
    /// `pread` from the async command region.
    CmdRead,
    /// `pread` from the SCHIB region.
    SchibRead,
    /// `pread` from the CRW region.
    CrwRead,
    /// `VFIO_DEVICE_GET_INFO`.
    GetDeviceInfo,
    /// `VFIO_DEVICE_GET_REGION_INFO`.
    GetRegionInfo,
    /// `VFIO_DEVICE_GET_IRQ_INFO`.
    GetIrqInfo,
    /// `VFIO_DEVICE_SET_IRQS`.
    SetIrqs,
    /// `VFIO_DEVICE_RESET`.
    Reset,
    /// `VFIO_IOMMU_MAP_DMA`.
    DmaMap,
    /// `VFIO_IOMMU_UNMAP_DMA`.
    DmaUnmap,
}

impl OpKind {
    /// Every kind, in report order.
    pub const ALL: [OpKind; 13] = [
        OpKind::IoWrite,
        OpKind::IoRead,
        OpKind::CmdWrite,
        OpKind::CmdRead,
        OpKind::SchibRead,
        OpKind::CrwRead,
        OpKind::GetDeviceInfo,
        OpKind::GetRegionInfo,
        OpKind::GetIrqInfo,
        OpKind::SetIrqs,
        OpKind::Reset,
        OpKind::DmaMap,
        OpKind::DmaUnmap,
    ];

    /// The name used in fault scripts and reports (`io-write`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::IoWrite => "io-write",
            OpKind::IoRead => "io-read",
            OpKind::CmdWrite => "cmd-write",
            OpKind::CmdRead => "cmd-read",
            OpKind::SchibRead => "schib-read",
            OpKind::CrwRead => "crw-read",
            OpKind::GetDeviceInfo => "device-info",
            OpKind::GetRegionInfo => "region-info",
            OpKind::GetIrqInfo => "irq-info",
            OpKind::SetIrqs => "set-irqs",
            OpKind::Reset => "reset",
            OpKind::DmaMap => "dma-map",
            OpKind::DmaUnmap => "dma-unmap",
        }
    }

    /// Parses a name as [`OpKind::name`] spells it; `get-device-info`,
    /// `get-region-info` and `get-irq-info` are accepted too.
    pub fn from_name(name: &str) -> Option<OpKind> {
        let name = name.strip_prefix("get-").unwrap_or(name);
        OpKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// How many operations of each kind userspace issued (failed ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
    pub io_write: u64,
    pub io_read: u64,
    pub cmd_write: u64,
    pub cmd_read: u64,
    pub schib_read: u64,
    pub crw_read: u64,
    pub get_device_info: u64,
    pub get_region_info: u64,
    pub get_irq_info: u64,
    pub set_irqs: u64,
    pub reset: u64,
    pub dma_map: u64,
    pub dma_unmap: u64,
}

impl OpCounts {
    /// The counter of `kind`.
    pub fn get(&self, kind: OpKind) -> u64 {
        match kind {
            OpKind::IoWrite => self.io_write,
            OpKind::IoRead => self.io_read,
            OpKind::CmdWrite => self.cmd_write,
            OpKind::CmdRead => self.cmd_read,
            OpKind::SchibRead => self.schib_read,
            OpKind::CrwRead => self.crw_read,
            OpKind::GetDeviceInfo => self.get_device_info,
            OpKind::GetRegionInfo => self.get_region_info,
            OpKind::GetIrqInfo => self.get_irq_info,
            OpKind::SetIrqs => self.set_irqs,
            OpKind::Reset => self.reset,
            OpKind::DmaMap => self.dma_map,
            OpKind::DmaUnmap => self.dma_unmap,
        }
    }

    pub(crate) fn bump(&mut self, kind: OpKind) -> u64 {
        let c = self.slot(kind);
        *c += 1;
        *c
    }

    fn slot(&mut self, kind: OpKind) -> &mut u64 {
        match kind {
            OpKind::IoWrite => &mut self.io_write,
            OpKind::IoRead => &mut self.io_read,
            OpKind::CmdWrite => &mut self.cmd_write,
            OpKind::CmdRead => &mut self.cmd_read,
            OpKind::SchibRead => &mut self.schib_read,
            OpKind::CrwRead => &mut self.crw_read,
            OpKind::GetDeviceInfo => &mut self.get_device_info,
            OpKind::GetRegionInfo => &mut self.get_region_info,
            OpKind::GetIrqInfo => &mut self.get_irq_info,
            OpKind::SetIrqs => &mut self.set_irqs,
            OpKind::Reset => &mut self.reset,
            OpKind::DmaMap => &mut self.dma_map,
            OpKind::DmaUnmap => &mut self.dma_unmap,
        }
    }
}

/// Eventfd signals the kernel sent, per IRQ index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqCounts {
    /// I/O eventfd signals (one per IRB delivered while an eventfd was set).
    pub io: u64,
    /// CRW eventfd signals.
    pub crw: u64,
    /// Request eventfd signals.
    pub req: u64,
}

/// A snapshot of the simulated kernel's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations by kind.
    pub ops: OpCounts,
    /// Failed operations by errno value (`EAGAIN` = 11, ...).
    pub errors: BTreeMap<i32, u64>,
    /// Eventfd signals.
    pub interrupts: IrqCounts,
    /// Every call on a device fd (reads, writes, ioctls).
    pub device_fd_syscalls: u64,
    /// Requests to remove the device (unbind) made to userspace: the first
    /// one and the kernel's repeats while the device stays open.
    pub removal_requests: u64,
    /// START SUBCHANNELs issued to the (simulated) hardware.
    pub ssch: u64,
    /// The same by the path each started on (the LPUM: index 0 is path 0,
    /// the subchannel's first CHPID), so a test can tell which path the
    /// host's I/O took before, during and after a path event.
    pub ssch_by_path: [u64; 8],
    /// HALT SUBCHANNELs issued.
    pub hsch: u64,
    /// CLEAR SUBCHANNELs issued.
    pub csch: u64,
    /// CCWs the channel executed, TICs included.
    pub ccws_executed: u64,
    /// Bytes the channel stored into guest memory (device reads).
    pub bytes_read: u64,
    /// Bytes the channel fetched from guest memory for the device (writes).
    pub bytes_written: u64,
}

impl Stats {
    pub(crate) fn error(&mut self, errno: nix::errno::Errno) {
        *self.errors.entry(errno as i32).or_insert(0) += 1;
    }

    /// Adds `other`'s counts to these: the totals of several devices.
    pub fn add(&mut self, other: &Stats) {
        for kind in OpKind::ALL {
            *self.ops.slot(kind) += other.ops.get(kind);
        }
        for (errno, n) in &other.errors {
            *self.errors.entry(*errno).or_insert(0) += n;
        }
        self.interrupts.io += other.interrupts.io;
        self.interrupts.crw += other.interrupts.crw;
        self.interrupts.req += other.interrupts.req;
        self.device_fd_syscalls += other.device_fd_syscalls;
        self.removal_requests += other.removal_requests;
        self.ssch += other.ssch;
        for (mine, theirs) in self.ssch_by_path.iter_mut().zip(other.ssch_by_path) {
            *mine += theirs;
        }
        self.hsch += other.hsch;
        self.csch += other.csch;
        self.ccws_executed += other.ccws_executed;
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
    }
}

/// The report of a host with several devices: each device's counters
/// under its name (`device 1 (0.0.0314)`), then their total. With one
/// device, that device's counters alone.
pub fn report(devices: &[(String, Stats)]) -> String {
    if let [(_, only)] = devices {
        return only.to_string();
    }
    let mut total = Stats::default();
    let mut out = String::new();
    for (name, stats) in devices {
        total.add(stats);
        let text = stats.to_string();
        let body = text.split_once('\n').map_or("", |(_, rest)| rest);
        out.push_str(&format!("vfio-ccw-sim statistics: {name}\n{body}\n"));
    }
    let text = total.to_string();
    let body = text.split_once('\n').map_or("", |(_, rest)| rest);
    out.push_str(&format!(
        "vfio-ccw-sim statistics: total of {} devices\n{body}",
        devices.len()
    ));
    out
}

/// The same counters as [`report`], as one JSON object for programs
/// (scripts/bench reads device-fd syscalls per I/O from it):
/// `{"devices": [{"name": ..., "stats": {...}}, ...], "total": {...}}`,
/// where each `stats` has every operation kind under `ops` (zeros
/// included, so a reader never meets a missing key), failed operations by
/// errno under `errors`, and the channel's counters. Hand-written: the
/// simulator takes no serialization dependency for one flat shape.
pub fn report_json(devices: &[(String, Stats)]) -> String {
    let mut total = Stats::default();
    let mut out = String::from("{\"devices\":[");
    for (i, (name, stats)) in devices.iter().enumerate() {
        total.add(stats);
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"name\":{},\"stats\":{}}}",
            json_string(name),
            stats.json()
        ));
    }
    out.push_str(&format!("],\"total\":{}}}", total.json()));
    out
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Stats {
    /// These counters as a JSON object (see [`report_json`]).
    pub fn json(&self) -> String {
        let ops: Vec<String> = OpKind::ALL
            .iter()
            .map(|k| format!("\"{}\":{}", k.name(), self.ops.get(*k)))
            .collect();
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(errno, n)| format!("\"{errno}\":{n}"))
            .collect();
        let by_path: Vec<String> = self.ssch_by_path.iter().map(u64::to_string).collect();
        format!(
            "{{\"ops\":{{{}}},\"errors\":{{{}}},\"interrupts\":{{\"io\":{},\"crw\":{},\"req\":{}}},\
             \"device_fd_syscalls\":{},\"removal_requests\":{},\"ssch\":{},\"ssch_by_path\":[{}],\
             \"hsch\":{},\"csch\":{},\"ccws_executed\":{},\"bytes_read\":{},\"bytes_written\":{}}}",
            ops.join(","),
            errors.join(","),
            self.interrupts.io,
            self.interrupts.crw,
            self.interrupts.req,
            self.device_fd_syscalls,
            self.removal_requests,
            self.ssch,
            by_path.join(","),
            self.hsch,
            self.csch,
            self.ccws_executed,
            self.bytes_read,
            self.bytes_written
        )
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "vfio-ccw-sim statistics")?;
        writeln!(f, "  operations:")?;
        for kind in OpKind::ALL {
            let n = self.ops.get(kind);
            if n != 0 {
                writeln!(f, "    {:<12} {n}", kind.name())?;
            }
        }
        writeln!(f, "  device fd syscalls: {}", self.device_fd_syscalls)?;
        if self.errors.is_empty() {
            writeln!(f, "  errors: none")?;
        } else {
            writeln!(f, "  errors:")?;
            for (errno, n) in &self.errors {
                let e = nix::errno::Errno::from_raw(*errno);
                writeln!(f, "    {e:?} ({errno}) {n}")?;
            }
        }
        writeln!(
            f,
            "  interrupts signalled: io {} crw {} req {}",
            self.interrupts.io, self.interrupts.crw, self.interrupts.req
        )?;
        writeln!(f, "  removal requests: {}", self.removal_requests)?;
        writeln!(
            f,
            "  channel: ssch {} hsch {} csch {}, {} CCWs executed",
            self.ssch, self.hsch, self.csch, self.ccws_executed
        )?;
        write!(f, "  ssch by path:")?;
        let mut any = false;
        for (path, n) in self
            .ssch_by_path
            .iter()
            .enumerate()
            .filter(|(_, &n)| n != 0)
        {
            write!(f, "{} {path}:{n}", if any { "," } else { "" })?;
            any = true;
        }
        writeln!(f, "{}", if any { "" } else { " none" })?;
        write!(
            f,
            "  data: {} bytes stored to guest memory, {} bytes fetched from it",
            self.bytes_read, self.bytes_written
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(ssch: u64, io_write: u64) -> Stats {
        let mut s = Stats {
            ssch,
            ..Stats::default()
        };
        for _ in 0..io_write {
            s.ops.bump(OpKind::IoWrite);
        }
        s.error(nix::errno::Errno::EBUSY);
        s
    }

    #[test]
    fn one_device_reports_as_it_always_has() {
        let one = device(3, 4);
        assert_eq!(report(&[("device 0".into(), one.clone())]), one.to_string());
    }

    #[test]
    fn several_devices_report_each_then_the_total() {
        let text = report(&[
            ("device 0 (0.0.0313)".into(), device(3, 4)),
            ("device 1 (0.0.0314)".into(), device(5, 6)),
        ]);
        let headers: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("vfio-ccw-sim statistics"))
            .collect();
        assert_eq!(
            headers,
            [
                "vfio-ccw-sim statistics: device 0 (0.0.0313)",
                "vfio-ccw-sim statistics: device 1 (0.0.0314)",
                "vfio-ccw-sim statistics: total of 2 devices",
            ]
        );
        let total = text.split("total of 2 devices").nth(1).unwrap();
        assert!(total.contains("io-write     10"), "{total}");
        assert!(total.contains("EBUSY (16) 2"), "{total}");
        assert!(total.contains("ssch 8 "), "{total}");
    }

    #[test]
    fn the_json_report_has_every_counter_of_one_device() {
        let mut one = device(3, 4);
        one.device_fd_syscalls = 9;
        one.interrupts.io = 3;
        assert_eq!(
            one.json(),
            "{\"ops\":{\"io-write\":4,\"io-read\":0,\"cmd-write\":0,\"cmd-read\":0,\
             \"schib-read\":0,\"crw-read\":0,\"device-info\":0,\"region-info\":0,\
             \"irq-info\":0,\"set-irqs\":0,\"reset\":0,\"dma-map\":0,\"dma-unmap\":0},\
             \"errors\":{\"16\":1},\"interrupts\":{\"io\":3,\"crw\":0,\"req\":0},\
             \"device_fd_syscalls\":9,\"removal_requests\":0,\"ssch\":3,\
             \"ssch_by_path\":[0,0,0,0,0,0,0,0],\"hsch\":0,\"csch\":0,\
             \"ccws_executed\":0,\"bytes_read\":0,\"bytes_written\":0}"
        );
    }

    #[test]
    fn the_json_report_lists_each_device_then_the_total() {
        let text = report_json(&[
            ("device 0 (0.0.0313)".into(), device(3, 4)),
            ("device \"1\"".into(), device(5, 6)),
        ]);
        assert!(
            text.starts_with("{\"devices\":[{\"name\":\"device 0 (0.0.0313)\",\"stats\":{"),
            "{text}"
        );
        assert!(
            text.contains("{\"name\":\"device \\\"1\\\"\",\"stats\":{"),
            "{text}"
        );
        let total = text.split("],\"total\":").nth(1).unwrap();
        assert!(total.starts_with("{\"ops\":{\"io-write\":10,"), "{total}");
        assert!(total.contains("\"errors\":{\"16\":2}"), "{total}");
        assert!(total.contains("\"ssch\":8,"), "{total}");
        assert!(total.ends_with("}}"), "{total}");
    }

    #[test]
    fn the_report_counts_start_subchannels_by_the_path_they_took() {
        let mut s = Stats::default();
        s.ssch_by_path[0] = 7;
        s.ssch_by_path[2] = 3;
        assert!(
            s.to_string().contains("\n  ssch by path: 0:7, 2:3\n"),
            "{s}"
        );
        assert!(Stats::default()
            .to_string()
            .contains("\n  ssch by path: none\n"));
    }

    #[test]
    fn the_total_adds_each_path_s_start_subchannels() {
        let mut a = Stats::default();
        a.ssch_by_path[1] = 2;
        let mut b = Stats::default();
        b.ssch_by_path[1] = 5;
        b.ssch_by_path[0] = 1;
        a.add(&b);
        assert_eq!(a.ssch_by_path[..2], [1, 7]);
    }
}
