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
//!
//! A path is the host's, so each event reaches every subchannel using the
//! CHPID, as a machine check does on Linux. A test or script can so time a
//! path event to what the guest is doing. Lines it cannot read are named
//! on stderr and skipped.

use std::io::{BufRead, BufReader, Read};

use vfio_ccw_sim::PathEvent;

use crate::host::Host;

/// Longest line read at once: a longer one comes in pieces, each refused.
const MAX_LINE: u64 = 256;

/// Parses one command line.
pub fn parse(line: &str) -> Result<PathEvent, String> {
    let mut words = line.split_whitespace();
    let (Some(command), Some(chpid), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "'{line}': expected chp-offline, chp-online, vary-off or vary-on and a CHPID"
        ));
    };
    let chpid = chpid.strip_prefix("0x").unwrap_or(chpid);
    let chpid = u8::from_str_radix(chpid, 16)
        .map_err(|_| format!("'{line}': '{chpid}' is not a hex CHPID (00 to ff)"))?;
    match command {
        "chp-offline" => Ok(PathEvent::Offline(chpid)),
        "chp-online" => Ok(PathEvent::Online(chpid)),
        "vary-off" => Ok(PathEvent::VaryOff(chpid)),
        "vary-on" => Ok(PathEvent::VaryOn(chpid)),
        other => Err(format!(
            "'{line}': unknown command '{other}' (chp-offline, chp-online, vary-off, vary-on)"
        )),
    }
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
                    match parse(text) {
                        Ok(event) => host.path_event(event),
                        Err(e) => eprintln!("vfio-ccw-sim: control file {path}: {e}"),
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
    fn commands_name_the_event_and_a_hex_chpid() {
        assert_eq!(parse("chp-offline 42"), Ok(PathEvent::Offline(0x42)));
        assert_eq!(parse("chp-online 0x4a"), Ok(PathEvent::Online(0x4a)));
        assert_eq!(parse("vary-off ff"), Ok(PathEvent::VaryOff(0xff)));
        assert_eq!(parse(" vary-on  40 "), Ok(PathEvent::VaryOn(0x40)));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        assert!(parse("chp-offline").unwrap_err().contains("expected"));
        assert!(parse("chp-offline 4z").unwrap_err().contains("'4z'"));
        assert!(parse("chp-gone 40").unwrap_err().contains("'chp-gone'"));
        assert!(parse("chp-offline 40 41").unwrap_err().contains("expected"));
    }
}
