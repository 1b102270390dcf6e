// SPDX-License-Identifier: GPL-2.0-or-later
//! The s390x lane really runs big-endian: scripts/test-s390x sets
//! QVC_EXPECT_BIG_ENDIAN=1 (and the native run 0), so a lane that silently
//! ran on the host's byte order fails here.

#[test]
fn s390x_lane_runs_big_endian() {
    match std::env::var("QVC_EXPECT_BIG_ENDIAN").as_deref() {
        Ok("1") => assert!(
            cfg!(target_endian = "big"),
            "the s390x lane runs little-endian"
        ),
        Ok("0") => assert!(cfg!(target_endian = "little")),
        _ => {}
    }
    assert_eq!(
        0x0102_0304u32.to_ne_bytes()[0] == 1,
        cfg!(target_endian = "big")
    );
}
