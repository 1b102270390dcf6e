// SPDX-License-Identifier: GPL-2.0-or-later
//! Fault scripts: the text format, the builder, and what each action does.

mod common;
use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::{CapsCorruption, FaultAction, FaultScript, FsmState, OpKind, SimConfig, Stats};
use vfio_ccw_uapi::device_fd::DeviceFd;

fn with(script: &str) -> Rig {
    rig_with(SimConfig {
        faults: FaultScript::parse(script).unwrap(),
        ..SimConfig::default()
    })
}

fn nop_program(r: &Rig) {
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
}

#[test]
fn the_text_format_parses_every_action() {
    let s = FaultScript::parse(
        "# a comment\n\
         io-write #3 fail EAGAIN times 5\n\
         schib-read #1 fail ENODEV   # trailing comment\n\
         io-read #2 short 100\n\
         io-write #4 notoper\n\
         io-write #2 chp-offline 0x40\n\
         io-write #5 unbind\n\
         io-write #1 stall\n\
         region-info corrupt-caps\n\
         region-info #2 corrupt-caps wrong-id always\n\
         cmd-write #1 fail EBUSY\n\
         crw-read unsolicited 0x80\n\
         \n",
    )
    .unwrap();
    let r = s.rules();
    assert_eq!(r.len(), 11);
    assert_eq!(
        (r[0].kind, r[0].first, r[0].times),
        (OpKind::IoWrite, 3, Some(5))
    );
    assert_eq!(r[0].action, FaultAction::Fail(Errno::EAGAIN));
    assert_eq!(r[2].action, FaultAction::Short(100));
    assert_eq!(r[4].action, FaultAction::ChpOffline(0x40));
    assert_eq!(r[7].action, FaultAction::CorruptCaps(CapsCorruption::Loop));
    assert_eq!(r[8].times, None);
}

#[test]
fn parse_errors_name_the_line_and_the_problem() {
    let e = FaultScript::parse("io-write fail EAGAIN\nio-wrote fail EIO").unwrap_err();
    assert!(e.contains("line 2") && e.contains("io-wrote"), "{e}");
    let e = FaultScript::parse("io-read stall").unwrap_err();
    assert!(e.contains("line 1") && e.contains("io-write only"), "{e}");
    let e = FaultScript::parse("io-write fail EWHAT").unwrap_err();
    assert!(e.contains("EWHAT"), "{e}");
    let e = FaultScript::parse("io-write #0 stall").unwrap_err();
    assert!(e.contains("#1"), "{e}");
    let e = FaultScript::parse("io-write stall times").unwrap_err();
    assert!(e.contains("count"), "{e}");
}

#[test]
fn fail_times_fails_that_many_consecutive_operations() {
    let r = with("io-write #2 fail EAGAIN times 2");
    nop_program(&r);
    let o = orb(0, F | P, 0, 0x1000);
    assert_eq!(ssch(&r.fd, o), Ok(124));
    assert_eq!(ssch(&r.fd, o), Err(Errno::EAGAIN));
    assert_eq!(ssch(&r.fd, o), Err(Errno::EAGAIN));
    assert_eq!(ssch(&r.fd, o), Ok(124));
    assert_eq!(r.kernel.stats().ssch, 2, "failed writes have no effect");
}

#[test]
fn short_read_returns_fewer_bytes() {
    let r = with("io-read #1 short 100");
    let mut b = [0u8; 124];
    assert_eq!(r.fd.read_at(&mut b, 0), Ok(100));
    assert_eq!(r.fd.read_at(&mut b, 0), Ok(124));
}

#[test]
fn notoper_on_io_write_accepts_the_start_then_loses_the_subchannel() {
    let r = with("io-write notoper");
    let req = new_eventfd();
    set_eventfd(&r.fd, 2, req.as_fd_raw()).unwrap();
    nop_program(&r);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(take(&r.io_efd), 0, "the I/O never ends");
    assert_eq!(r.kernel.fsm_state(), FsmState::NotOper);
    assert_eq!(take(&req), 1);
}

#[test]
fn chp_offline_before_the_write_makes_the_start_cc3() {
    let r = with("io-write chp-offline 0x40");
    nop_program(&r);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::ENODEV));
    assert_eq!(r.kernel.pending_crws(), 1);
}

#[test]
fn unbind_after_a_write_fires_the_request_irq() {
    let r = with("io-write #2 unbind");
    let req = new_eventfd();
    set_eventfd(&r.fd, 2, req.as_fd_raw()).unwrap();
    nop_program(&r);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    assert_eq!(take(&req), 0);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    assert_eq!(take(&req), 1);
}

#[test]
fn cmd_write_fail_ebusy() {
    let r = with("cmd-write #1 fail EBUSY");
    assert_eq!(cmd_write(&r.fd, 1), Err(Errno::EBUSY));
    assert_eq!(cmd_write(&r.fd, 1), Ok(8));
}

fn caps(r: &Rig) -> Vec<u8> {
    let mut b = vec![0u8; 48];
    b[0..4].copy_from_slice(&48u32.to_ne_bytes());
    b[8..12].copy_from_slice(&1u32.to_ne_bytes());
    r.fd.get_region_info(&mut b).unwrap();
    b
}

#[test]
fn corrupt_caps_variants_break_the_chain_as_named() {
    let r = with(
        "region-info #1 corrupt-caps loop\n\
         region-info #2 corrupt-caps outside\n\
         region-info #3 corrupt-caps wrong-id\n\
         region-info #4 corrupt-caps bad-offset",
    );
    let next = |b: &[u8]| u32::from_ne_bytes([b[36], b[37], b[38], b[39]]);
    assert_eq!(next(&caps(&r)), 32);
    assert!(next(&caps(&r)) >= 48);
    let c = caps(&r);
    assert_eq!(u16::from_ne_bytes([c[32], c[33]]), 1);
    let b = caps(&r);
    assert!(u32::from_ne_bytes([b[12], b[13], b[14], b[15]]) >= 48);
    let b = caps(&r);
    assert_eq!(
        (next(&b), u16::from_ne_bytes([b[32], b[33]])),
        (0, 2),
        "healthy again"
    );
}

#[test]
fn the_builder_matches_the_text_form() {
    let built = FaultScript::empty()
        .on(OpKind::IoWrite, 3, FaultAction::Fail(Errno::EAGAIN))
        .times(5)
        .on(
            OpKind::GetRegionInfo,
            1,
            FaultAction::CorruptCaps(CapsCorruption::Loop),
        )
        .always();
    let parsed =
        FaultScript::parse("io-write #3 fail EAGAIN times 5\nregion-info corrupt-caps always")
            .unwrap();
    assert_eq!(built, parsed);
}

#[test]
fn stats_count_operations_errors_and_interrupts_and_print_them() {
    let r = with("io-write #2 fail EBUSY");
    nop_program(&r);
    let o = orb(0, F | P, 0, 0x1000);
    ssch(&r.fd, o).unwrap();
    let _ = ssch(&r.fd, o);
    let s: Stats = r.kernel.stats();
    assert_eq!((s.ops.io_write, s.ssch, s.interrupts.io), (2, 1, 1));
    assert_eq!(s.errors.get(&(Errno::EBUSY as i32)), Some(&1));
    assert_eq!(s.ops.dma_map, 1);
    assert_eq!(s.ops.set_irqs, 1);
    let text = s.to_string();
    assert!(
        text.contains("io-write") && text.contains("EBUSY"),
        "{text}"
    );
}
