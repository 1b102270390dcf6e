// SPDX-License-Identifier: GPL-2.0-or-later
//! The committed C header is what cbindgen generates from the sources.

use std::process::Command;

#[test]
fn committed_header_matches_a_fresh_generation() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/qemu_vfio_ccw.h"));
    let root = env!("CARGO_MANIFEST_DIR");
    // The index, not the work tree: build.rs rewrites the work tree copy.
    let committed = Command::new("git")
        .args(["-C", root, "show", ":include/qemu_vfio_ccw.h"])
        .output()
        .expect("git runs");
    assert!(
        committed.status.success(),
        "include/qemu_vfio_ccw.h is not committed: {}",
        String::from_utf8_lossy(&committed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&committed.stdout) == fresh,
        "include/qemu_vfio_ccw.h differs from the generated header: commit the regenerated file"
    );
}
