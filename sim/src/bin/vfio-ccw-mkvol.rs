// SPDX-License-Identifier: GPL-2.0-or-later
//! `vfio-ccw-mkvol`: makes 3390 volumes (Hercules CKD images) for the
//! simulated kernel: empty, IPLable, or formatted for Linux.

use std::path::PathBuf;
use std::process::ExitCode;

use vfio_ccw_sim::cdl::make_cdl_volume;
use vfio_ccw_sim::ckd::CkdImage;
use vfio_ccw_sim::ipl::{make_ipl_volume, Payload};

const USAGE: &str = "\
usage: vfio-ccw-mkvol create [--cylinders N] IMAGE
       vfio-ccw-mkvol ipl [--cylinders N] [--volser SERIAL] --payload FILE
                          --load-address ADDR [--entry ADDR] IMAGE
       vfio-ccw-mkvol cdl [--cylinders N] [--volser SERIAL] IMAGE

create: a formatted 3390 (every track holds R0), as Hercules' dasdinit makes.
ipl:    a 3390 that QEMU's s390-ccw firmware IPLs: IPL1, IPL2 and the
        payload's records, loaded at ADDR and entered at --entry (default:
        the load address). Addresses are hex (0x...) or decimal.
cdl:    a 3390 as `dasdfmt -b 4096 -d cdl` leaves it, for Linux's DASD
        driver: 4096-byte blocks, IPL records and the label on track 0,
        a blank VTOC track.
Cylinders default to 10.";

fn number(option: &str, text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{option} {text}: expected a number"))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut args = args.into_iter();
    let verb = args.next().ok_or(USAGE)?;
    let (mut cylinders, mut volser, mut payload, mut load, mut entry, mut image) =
        (10, "VFIOCC".to_string(), None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cylinders" => cylinders = number("--cylinders", &value()?)?,
            "--volser" => volser = value()?,
            "--payload" => payload = Some(PathBuf::from(value()?)),
            "--load-address" => load = Some(number("--load-address", &value()?)?),
            "--entry" => entry = Some(number("--entry", &value()?)?),
            "-h" | "--help" => return Err(USAGE.into()),
            path if !path.starts_with('-') && image.is_none() => image = Some(PathBuf::from(path)),
            other => return Err(format!("unexpected argument '{other}'\n\n{USAGE}")),
        }
    }
    let image = image.ok_or(format!("no IMAGE given\n\n{USAGE}"))?;
    match verb.as_str() {
        "create" => {
            CkdImage::create(&image, cylinders).map_err(|e| e.to_string())?;
        }
        "ipl" => {
            let path = payload.ok_or("ipl needs --payload FILE")?;
            let load_address = load.ok_or("ipl needs --load-address ADDR")?;
            let bytes =
                std::fs::read(&path).map_err(|e| format!("--payload {}: {e}", path.display()))?;
            if bytes.is_empty() {
                return Err(format!("--payload {}: the file is empty", path.display()));
            }
            let payload = Payload {
                bytes: &bytes,
                load_address,
                entry: entry.unwrap_or(load_address),
            };
            make_ipl_volume(&image, cylinders, &volser, &payload).map_err(|e| e.to_string())?;
        }
        "cdl" => {
            make_cdl_volume(&image, cylinders, &volser).map_err(|e| e.to_string())?;
        }
        "-h" | "--help" => return Err(USAGE.into()),
        other => return Err(format!("unknown command '{other}'\n\n{USAGE}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vfio-ccw-mkvol: {message}");
            ExitCode::FAILURE
        }
    }
}
