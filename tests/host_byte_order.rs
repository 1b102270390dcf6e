// SPDX-License-Identifier: GPL-2.0-or-later
//! The s390x lane really runs big-endian: scripts/test-s390x sets
//! QVC_EXPECT_BIG_ENDIAN=1, so a lane that silently ran on the host's
//! byte order fails here.

#[test]
fn s390x_lane_runs_big_endian() {
    // Observed at run time, not taken from the build configuration.
    let big = u32::from_ne_bytes([0, 0, 0, 1]) == 1;
    assert_eq!(
        big,
        cfg!(target_endian = "big"),
        "the build and the machine disagree"
    );
    match std::env::var("QVC_EXPECT_BIG_ENDIAN").as_deref() {
        Ok("1") => assert!(big, "the s390x lane runs little-endian"),
        Ok("0") => assert!(!big, "expected a little-endian host"),
        _ => {}
    }
}
