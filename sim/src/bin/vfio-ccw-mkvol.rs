// SPDX-License-Identifier: GPL-2.0-or-later
//! vfio-ccw-mkvol: writes a formatted 3390 IPL volume (a Hercules CKD
//! image) that IPLs a payload: see `vfio_ccw_sim::ipl`.

use std::path::PathBuf;
use std::process::ExitCode;

use vfio_ccw_sim::ipl::{make_volume, IplSpec};

const USAGE: &str = "usage: vfio-ccw-mkvol [--cylinders N] [--volser SERIAL] \
[--load ADDR] [--entry ADDR] PAYLOAD IMAGE
  Creates IMAGE, a 3390 of N cylinders (default 10), whose IPL reads the
  PAYLOAD file into storage at ADDR (default 0x10000) and starts it at the
  entry point (default: the load address). Numbers may be 0x-prefixed hex.";

fn number(opt: &str, v: Option<String>) -> Result<u32, String> {
    let v = v.ok_or_else(|| format!("{opt} needs a value"))?;
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => v.parse(),
    };
    parsed.map_err(|e| format!("{opt} {v:?}: {e}"))
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut cylinders = 10;
    let mut volser = "IPLVOL".to_string();
    let mut load = 0x10000;
    let mut entry = None;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cylinders" => cylinders = number(&a, args.next())?,
            "--volser" => volser = args.next().ok_or("--volser needs a value")?,
            "--load" => load = number(&a, args.next())?,
            "--entry" => entry = Some(number(&a, args.next())?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            _ => files.push(PathBuf::from(a)),
        }
    }
    let [payload, image] = <[PathBuf; 2]>::try_from(files)
        .map_err(|_| format!("need a payload file and an image file\n{USAGE}"))?;
    let bytes =
        std::fs::read(&payload).map_err(|e| format!("payload {}: {e}", payload.display()))?;
    let spec = IplSpec {
        cylinders,
        volser: &volser,
        payload: &bytes,
        load_addr: load,
        entry: entry.unwrap_or(load),
    };
    make_volume(&image, &spec).map_err(|e| e.to_string())?;
    println!(
        "{}: 3390, {cylinders} cylinders, volser {volser}, {} payload bytes at 0x{load:x}, entry 0x{:x}",
        image.display(),
        bytes.len(),
        spec.entry
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vfio-ccw-mkvol: {e}");
            ExitCode::FAILURE
        }
    }
}
