// SPDX-License-Identifier: GPL-2.0-or-later
//! The SCHIB and CRW regions and channel-path events (kernel-contract.md
//! 4.3, 4.4, 7) and SSCH condition code 3.

mod common;
use common::*;
use nix::errno::Errno;
use nix::sys::eventfd::EventFd;
use vfio_ccw_sim::subchannel::{Description, Paths};
use vfio_ccw_sim::SimConfig;
use vfio_ccw_uapi::device_fd::DeviceFd;

fn schib(fd: &dyn DeviceFd) -> [u8; 52] {
    let mut b = [0u8; 52];
    fd.read_at(&mut b, 0x800).unwrap();
    b
}

fn crw(fd: &dyn DeviceFd) -> [u8; 8] {
    let mut b = [0u8; 8];
    fd.read_at(&mut b, 0xc00).unwrap();
    b
}

fn two_paths() -> SimConfig {
    SimConfig {
        subchannel: Description {
            paths: Paths::installed(&[0x40, 0x41]),
            ..Description::default()
        },
        ..SimConfig::default()
    }
}

#[test]
fn the_schib_describes_the_enabled_subchannel_big_endian() {
    let r = rig();
    let s = schib(&r.fd);
    assert_eq!(s[4], 3 << 3, "ISC 3");
    assert_eq!(s[5], 0x81, "enabled, device number valid");
    assert_eq!(&s[6..8], &[0x01, 0x90]);
    assert_eq!((s[8], s[11], s[14], s[15]), (0x80, 0x80, 0xff, 0x80));
    assert_eq!(&s[16..24], &[0x40, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(s[27] & 0x01, 0x01, "concurrent sense");
}

#[test]
fn lpum_names_the_path_the_last_start_used() {
    let r = rig_with(two_paths());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    ssch(&r.fd, orb(0, F | P, 0x40, 0x1000)).unwrap();
    assert_eq!(schib(&r.fd)[10], 0x40);
}

#[test]
fn chp_offline_queues_an_erc_6_crw_and_signals_it() {
    let r = rig();
    let efd = new_eventfd();
    set_eventfd(&r.fd, 1, efd.as_fd_raw()).unwrap();
    r.kernel.chp_offline(0x40);
    assert_eq!(take(&efd), 1);
    assert_eq!(crw(&r.fd), [0x04, 0x06, 0x00, 0x40, 0, 0, 0, 0]);
    assert_eq!(crw(&r.fd), [0; 8], "empty queue reads zero");
    assert_eq!(schib(&r.fd)[15], 0x00, "PAM");
    r.kernel.chp_online(0x40);
    assert_eq!(crw(&r.fd), [0x04, 0x02, 0x00, 0x40, 0, 0, 0, 0]);
}

#[test]
fn a_crw_read_leaving_more_queued_signals_again() {
    let r = rig();
    let efd = new_eventfd();
    r.kernel.chp_offline(0x40);
    r.kernel.chp_online(0x40);
    set_eventfd(&r.fd, 1, efd.as_fd_raw()).unwrap();
    let mut pad = [0u8; 4];
    r.fd.read_at(&mut pad, 0xc04).unwrap();
    assert_eq!(pad, [0; 4]);
    assert_eq!(take(&efd), 1, "one CRW left after reading only the pad");
    assert_eq!(crw(&r.fd)[1], 0x02);
    assert_eq!(take(&efd), 0);
    assert_eq!(r.kernel.pending_crws(), 0);
}

#[test]
fn events_for_a_chpid_the_subchannel_does_not_use_do_nothing() {
    let r = rig();
    r.kernel.chp_offline(0x99);
    assert_eq!(r.kernel.pending_crws(), 0);
}

#[test]
fn vary_off_changes_the_path_mask_without_a_crw() {
    let r = rig_with(two_paths());
    r.kernel.vary_off(0x41);
    assert_eq!(schib(&r.fd)[8], 0x80);
    assert_eq!(r.kernel.pending_crws(), 0);
    r.kernel.vary_on(0x41);
    assert_eq!(schib(&r.fd)[8], 0xc0);
}

#[test]
fn ssch_on_an_offline_last_path_is_enodev() {
    let r = rig();
    r.kernel.chp_offline(0x40);
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::ENODEV));
    let s = schib(&r.fd);
    assert_eq!(s[9], 0x80, "PNOM");
    assert_eq!(s[29] & 0x01, 0x01, "SCSW N");
}

#[test]
fn ssch_on_an_offline_path_with_another_left_is_eacces() {
    let r = rig_with(two_paths());
    r.kernel.chp_offline(0x40);
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0x80, 0x1000)), Err(Errno::EACCES));
    assert_eq!(
        schib(&r.fd)[8],
        0x40,
        "the failed path left the usable mask"
    );
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
}

#[test]
fn a_path_coming_back_online_is_usable_again_with_orb_lpm_0() {
    let r = rig();
    r.kernel.chp_offline(0x40);
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::ENODEV));
    assert_eq!(schib(&r.fd)[8], 0x00, "the cc 3 emptied the usable mask");
    r.kernel.chp_online(0x40);
    assert_eq!(schib(&r.fd)[8], 0x80, "CHP_ONLINE: lpm |= mask & opm");
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
}

/// A NOP on the first path, then the I/O eventfd: the subchannel is idle
/// with the PMCW's LPUM on path 0 (CHPID 40).
fn idle_after_a_start_on_path_0() -> (Rig, EventFd) {
    let r = rig_with(two_paths());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    let efd = new_eventfd();
    set_eventfd(&r.fd, 0, efd.as_fd_raw()).unwrap();
    (r, efd)
}

#[test]
fn the_last_used_path_going_offline_halts_an_idle_subchannel() {
    let (r, efd) = idle_after_a_start_on_path_0();
    r.kernel.chp_offline(0x40);
    assert_eq!(take(&efd), 1, "the halt's interrupt");
    let (fctl, stctl, ..) = scsw(&irb(&r.fd));
    assert_eq!((fctl, stctl), (0x20, 0x01), "halt function, status pending");
    assert_eq!(r.kernel.stats().hsch, 1);
}

#[test]
fn another_path_going_offline_leaves_an_idle_subchannel_alone() {
    let (r, efd) = idle_after_a_start_on_path_0();
    r.kernel.chp_offline(0x41);
    assert_eq!(take(&efd), 0);
    assert_eq!(r.kernel.stats().hsch, 0);
}

#[test]
fn the_last_used_path_varied_off_halts_an_idle_subchannel() {
    let (r, efd) = idle_after_a_start_on_path_0();
    r.kernel.vary_off(0x40);
    assert_eq!(take(&efd), 1);
    assert_eq!(scsw(&irb(&r.fd)).0, 0x20);
}

#[test]
fn start_subchannels_are_counted_by_the_path_they_took() {
    let r = rig_with(two_paths());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    r.kernel.chp_offline(0x40);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    r.kernel.chp_online(0x40);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    let s = r.kernel.stats();
    assert_eq!(
        s.ssch_by_path[..2],
        [2, 2],
        "first path, then the second, then the first"
    );
    assert_eq!(s.ssch, 4);
}

#[test]
fn a_path_varied_offline_stays_unusable_when_it_comes_back_online() {
    let r = rig_with(two_paths());
    r.kernel.vary_off(0x41);
    r.kernel.chp_offline(0x41);
    r.kernel.chp_online(0x41);
    assert_eq!(schib(&r.fd)[8], 0x80, "not in the operational mask");
    r.kernel.vary_on(0x41);
    assert_eq!(schib(&r.fd)[8], 0xc0);
}

#[test]
fn the_schib_reports_the_host_intparm_not_the_guests() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    ssch(&r.fd, orb(0xcafe_f00d, F | P, 0, 0x1000)).unwrap();
    let s = schib(&r.fd);
    assert_ne!(&s[0..4], &0xcafe_f00du32.to_be_bytes());
    assert!(!irb(&r.fd)
        .windows(4)
        .any(|w| w == 0xcafe_f00du32.to_be_bytes()));
}
