// SPDX-License-Identifier: GPL-2.0-or-later
//! Generates the C header with cbindgen: into OUT_DIR, and into
//! include/qemu_vfio_ccw.h where it is committed. A test compares the
//! committed header with this generation.

use std::path::PathBuf;

fn main() {
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // With a SONAME, QEMU records "libqemu_vfio_ccw.so.<major>" as its
    // dependency instead of the path it was linked against, so the library
    // can be installed or moved and found through the runtime search path,
    // and a library whose ABI broke (a new major version) is never taken
    // for the one QEMU was built against.
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,-soname,libqemu_vfio_ccw.so.{}",
        std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR")
    );

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    let bindings = match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(bindings) => bindings,
        Err(e) => panic!("cbindgen cannot generate the header: {e}"),
    };
    bindings.write_to_file(out_dir.join("qemu_vfio_ccw.h"));
    // Only rewrite the committed copy when it changed, so that a build
    // never dirties an unchanged tree.
    bindings.write_to_file(crate_dir.join("include").join("qemu_vfio_ccw.h"));
}
