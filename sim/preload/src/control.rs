// SPDX-License-Identifier: GPL-2.0-or-later
//! Host events on request: `VFIO_CCW_SIM_CONTROL` names a file (the
//! launcher's `--control FIFO`) from which a thread of the interposer
//! reads one command a line while the program runs:
//!
//! | line | what the host does |
//! |---|---|
//! | `chp-offline XX` | channel path XX goes away: every subchannel on it loses it from its PAM and gets a CRW (ERC 6) |
//! | `chp-online XX` | it comes back (ERC 2) |
//! | `vary-off XX`, `vary-on XX` | it is varied off or on (no CRW) |
//! | `mdev-remove I` | device I's mdev is being removed: its request IRQ fires (and repeats) until the device fd closes, then the mdev is gone |
//! | `mdev-create I` | device I's removed mdev is created again (same UUID), so a program may open it anew |
//! | `sch-gone I` | device I's subchannel goes not operational (STSCH cc 3): as `vfio_ccw_sch_event` does, the FSM gets NOT_OPER, a running program is dropped without an interrupt, and the subchannel's unregistration removes the mdev (request IRQ) |
//! | `stats LABEL` | the counters as they are now, every device's, on stderr, each line prefixed `vfio-ccw-sim stats LABEL: ` |
//!
//! A path is the host's, so each event reaches every subchannel using the
//! CHPID, as a machine check does on Linux. I is a device's position (0
//! for the first `--dasd`). A test or script can so time a host event to
//! what the guest is doing. Lines it cannot read are named on stderr and
//! skipped, as are removals and creations the device is not ready for.

use std::io::{BufRead, BufReader, Read};

use vfio_ccw_sim::PathEvent;

use crate::host::Host;

/// Longest line read at once: a longer one comes in pieces, each refused.
const MAX_LINE: u64 = 256;

/// What one line asks of the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A channel path event, for every subchannel on the CHPID.
    Path(PathEvent),
    /// Remove the mdev of the device at this position.
    MdevRemove(usize),
    /// Create the removed mdev of the device at this position again.
    MdevCreate(usize),
    /// The subchannel of the device at this position goes not operational.
    SchGone(usize),
    /// Print the counters now, under this label: a script that sends it
    /// with a path event can tell which path the I/O took on either side.
    Stats(String),
}

/// Parses one command line.
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let (Some(command), Some(arg), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "'{line}': expected chp-offline, chp-online, vary-off or vary-on and a CHPID, \
             mdev-remove, mdev-create or sch-gone and a device position, or stats and a label"
        ));
    };
    if command == "stats" {
        return Ok(Command::Stats(arg.to_string()));
    }
    if let Some(make) = match command {
        "mdev-remove" => Some(Command::MdevRemove as fn(usize) -> Command),
        "mdev-create" => Some(Command::MdevCreate as fn(usize) -> Command),
        "sch-gone" => Some(Command::SchGone as fn(usize) -> Command),
        _ => None,
    } {
        return arg
            .parse::<usize>()
            .map(make)
            .map_err(|_| format!("'{line}': '{arg}' is not a device position (0, 1, ...)"));
    }
    let chpid = arg;
    let chpid = chpid.strip_prefix("0x").unwrap_or(chpid);
    let chpid = u8::from_str_radix(chpid, 16)
        .map_err(|_| format!("'{line}': '{chpid}' is not a hex CHPID (00 to ff)"))?;
    let event = match command {
        "chp-offline" => PathEvent::Offline(chpid),
        "chp-online" => PathEvent::Online(chpid),
        "vary-off" => PathEvent::VaryOff(chpid),
        "vary-on" => PathEvent::VaryOn(chpid),
        other => {
            return Err(format!(
                "'{line}': unknown command '{other}' (chp-offline, chp-online, vary-off, \
                 vary-on, mdev-remove, mdev-create, sch-gone, stats)"
            ))
        }
    };
    Ok(Command::Path(event))
}

/// Carries out `command` on `host`; an error says why it could not.
fn apply(host: &Host, command: Command) -> Result<(), String> {
    let device = |i: usize| {
        host.devices
            .get(i)
            .ok_or_else(|| format!("there is no device {i} ({} device(s))", host.devices.len()))
    };
    match command {
        Command::Path(event) => host.path_event(event),
        Command::MdevRemove(i) => device(i)?.kernel.unbind(),
        Command::MdevCreate(i) => {
            if !device(i)?.kernel.recreate() {
                return Err(format!(
                    "mdev-create {i}: device {i}'s mdev was not removed (or waits for its last close)"
                ));
            }
        }
        Command::SchGone(i) => device(i)?.kernel.set_not_operational(),
        Command::Stats(label) => eprintln!("{}", labelled(&host.report(), &label)),
    }
    Ok(())
}

/// `report` with each line prefixed `vfio-ccw-sim stats LABEL: `, which no
/// line of the report at exit starts with.
fn labelled(report: &str, label: &str) -> String {
    let prefix = format!("vfio-ccw-sim stats {label}: ");
    report
        .lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts the thread that reads `path` (reopened at each end of file, as
/// a FIFO's writers come and go) and applies its commands to `host`.
pub fn start(host: &'static Host, path: String) {
    let spawned = std::thread::Builder::new()
        .name("vfio-ccw-sim-control".into())
        .spawn(move || {
            // This thread's own file calls are not the program's.
            crate::inside_forever();
            loop {
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) => {
                        eprintln!("vfio-ccw-sim: control file {path}: {e}; no more host events");
                        return;
                    }
                };
                let mut reader = BufReader::new(file);
                let mut line = String::new();
                loop {
                    line.clear();
                    match (&mut reader).take(MAX_LINE).read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("vfio-ccw-sim: control file {path}: {e}");
                            break;
                        }
                    }
                    let text = line.trim();
                    if text.is_empty() {
                        continue;
                    }
                    if let Err(e) = parse(text).and_then(|c| apply(host, c)) {
                        eprintln!("vfio-ccw-sim: control file {path}: {e}");
                    }
                }
            }
        });
    if let Err(e) = spawned {
        eprintln!("vfio-ccw-sim: cannot start the control thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_commands_name_the_event_and_a_hex_chpid() {
        let path = |e| Ok(Command::Path(e));
        assert_eq!(parse("chp-offline 42"), path(PathEvent::Offline(0x42)));
        assert_eq!(parse("chp-online 0x4a"), path(PathEvent::Online(0x4a)));
        assert_eq!(parse("vary-off ff"), path(PathEvent::VaryOff(0xff)));
        assert_eq!(parse(" vary-on  40 "), path(PathEvent::VaryOn(0x40)));
    }

    #[test]
    fn mdev_commands_name_a_decimal_device_position() {
        assert_eq!(parse("mdev-remove 0"), Ok(Command::MdevRemove(0)));
        assert_eq!(parse("mdev-create 12"), Ok(Command::MdevCreate(12)));
        assert_eq!(parse("sch-gone 3"), Ok(Command::SchGone(3)));
        assert!(parse("mdev-remove x").unwrap_err().contains("'x'"));
        assert!(parse("mdev-create").unwrap_err().contains("expected"));
    }

    #[test]
    fn stats_takes_a_label() {
        assert_eq!(
            parse("stats before-offline"),
            Ok(Command::Stats("before-offline".into()))
        );
        assert!(parse("stats").unwrap_err().contains("expected"));
        assert!(parse("stats a b").unwrap_err().contains("expected"));
    }

    #[test]
    fn a_labelled_report_prefixes_every_line_with_its_label() {
        assert_eq!(
            labelled("vfio-ccw-sim statistics\n  channel: ssch 1", "x"),
            "vfio-ccw-sim stats x: vfio-ccw-sim statistics\nvfio-ccw-sim stats x:   channel: ssch 1"
        );
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(parse("chp-offline").unwrap_err().contains("expected"));
        assert!(parse("chp-offline 4z").unwrap_err().contains("'4z'"));
        assert!(parse("chp-gone 40").unwrap_err().contains("'chp-gone'"));
        assert!(parse("chp-offline 40 41").unwrap_err().contains("expected"));
    }
}
