// SPDX-License-Identifier: GPL-2.0-or-later
//! An IPL from the simulated 3390 the way QEMU's s390-ccw firmware does it
//! (pc-bios/s390-ccw/cio.c cu_type, dasd-ipl.c): every channel program
//! goes through the kernel's translation and the channel.

mod common;
mod dasd_common;

use common::*;
use dasd_common::*;
use vfio_ccw_sim::ipl::{ipl1, ipl2, IPL2_ADDR};

const SLI: u8 = 0x20;
const FMT0_CC: u8 = 0x40;

/// Runs one program the firmware's way (prefetch, all paths) and returns
/// the IRB.
fn run(r: &DasdRig, fmt1: bool, cpa: u32) -> [u8; 96] {
    let byte5 = if fmt1 { F | P } else { P };
    assert_eq!(ssch(&r.fd, orb(0, byte5, 0xff, cpa)), Ok(124));
    irb(&r.fd)
}

fn ok(irb: &[u8; 96]) {
    let (_, sc, _, ds, cs, _) = scsw(irb);
    assert_eq!(
        (sc, ds, cs),
        (SC_FINAL, CE_DE, 0),
        "IRB {:02x?}",
        &irb[..12]
    );
}

/// The firmware's Read IPL: a format-0 CCW at 0 reading 24 bytes to 0.
fn read_ipl(r: &DasdRig) -> [u8; 96] {
    r.mem.write(0, &ccw0(0x02, 0, 0x18, 0));
    run(r, false, 0)
}

/// dasd-ipl.c ipl1_fixup: IPL1's Read and TIC move to 0x20, the Read
/// loses its chaining, and Seek 0/0 + Search ID 0/0/2 + TIC lead to it.
fn ipl1_fixup(r: &DasdRig) {
    let moved = r.mem.read(0x08, 16);
    r.mem.write(0x20, &moved);
    let mut read = r.mem.read(0x20, 8);
    read[4] &= !FMT0_CC;
    r.mem.write(0x20, &read);
    r.mem.write(0x08, &ccw0(0x07, FMT0_CC, 6, 0x30));
    r.mem.write(0x10, &ccw0(0x31, FMT0_CC, 5, 0x38));
    r.mem.write(0x18, &ccw0(0x08, 0, 0, 0x10));
    r.mem.write(0x30, &[0, 0, 0, 0, 0, 0]);
    r.mem.write(0x38, &[0, 0, 0, 0, 2]);
}

fn fmt0_cmd(c: &[u8]) -> u8 {
    c[0]
}
fn fmt0_cc(c: &[u8]) -> bool {
    c[4] & FMT0_CC != 0
}
fn fmt0_cda(c: &[u8]) -> u32 {
    u32::from_be_bytes([0, c[1], c[2], c[3]])
}

/// dasd-ipl.c run_dynamic_ccw_program: split the program after each
/// chained Read followed by a TIC, and run the pieces one by one.
fn run_ipl2(r: &DasdRig, mut cpa: u32) {
    loop {
        let mut next = None;
        let mut at = cpa;
        loop {
            let c = r.mem.read(u64::from(at), 8);
            if fmt0_cmd(&c) == 0x08 && fmt0_cda(&c) == at - 8 {
                at += 8;
                continue;
            }
            if !fmt0_cc(&c) {
                break;
            }
            let following = r.mem.read(u64::from(at) + 8, 8);
            if matches!(fmt0_cmd(&c), 0x06 | 0x86) && fmt0_cmd(&following) == 0x08 {
                next = Some(fmt0_cda(&following));
                let mut cut = c.clone();
                cut[4] &= !FMT0_CC;
                r.mem.write(u64::from(at), &cut);
                break;
            }
            at += 8;
        }
        ok(&run(r, false, cpa));
        match next {
            Some(n) => cpa = n,
            None => return,
        }
    }
}

#[test]
fn sense_id_answers_control_unit_3990_and_device_3390() {
    let vol = volume("senseid", 1, &payload(100));
    let r = dasd_rig(vol.path(), true);
    r.mem.write(0x800, &ccw1(0xe4, SLI, 256, 0x900));
    let irb = run(&r, true, 0x800);
    let (_, sc, _, ds, cs, residual) = scsw(&irb);
    assert_eq!((sc, ds, cs, residual), (SC_FINAL, CE_DE, 0, 256 - 7));
    assert_eq!(
        r.mem.read(0x900, 8),
        [0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c, 0x00]
    );
}

#[test]
fn read_ipl_reads_ipl1_from_record_1_into_location_0() {
    let p = payload(10000);
    let vol = volume("readipl", 1, &p);
    let r = dasd_rig(vol.path(), true);
    ok(&read_ipl(&r));
    let ipl2_len = ipl2(p.len(), LOAD).len() as u16;
    assert_eq!(r.mem.read(0, 24), ipl1(ENTRY, ipl2_len));
}

#[test]
fn ipl1_passes_the_firmwares_check_and_points_at_ipl2() {
    let vol = volume("ipl1check", 1, &payload(10000));
    let r = dasd_rig(vol.path(), true);
    ok(&read_ipl(&r));
    let low = r.mem.read(0, 24);
    assert_eq!(&low[0..4], &[0x00, 0x08, 0x00, 0x00], "short-format PSW");
    assert_eq!(
        u32::from_be_bytes([low[4], low[5], low[6], low[7]]),
        0x8000_0000 | ENTRY
    );
    assert_eq!((low[8], low[16]), (0x06, 0x08), "Read then TIC");
    assert_eq!(fmt0_cda(&low[16..24]), IPL2_ADDR);
}

#[test]
fn the_fixed_up_ipl1_program_reads_ipl2_at_its_address() {
    let p = payload(10000);
    let vol = volume("ipl1run", 1, &p);
    let r = dasd_rig(vol.path(), true);
    ok(&read_ipl(&r));
    ipl1_fixup(&r);
    ok(&run(&r, false, 0x08));
    let prog = ipl2(p.len(), LOAD);
    assert_eq!(r.mem.read(u64::from(IPL2_ADDR), prog.len()), prog);
}

#[test]
fn the_whole_firmware_sequence_loads_a_multi_track_payload_at_the_load_address() {
    // 9 records on track 0, 12 on each further track: 30 records end on
    // cylinder 0 head 2.
    let p = payload(30 * 4096 - 100);
    let vol = volume("fullipl", 2, &p);
    let r = dasd_rig(vol.path(), true);

    r.mem.write(0x800, &ccw1(0xe4, SLI, 256, 0x900));
    ok(&run(&r, true, 0x800));
    assert_eq!(r.mem.read(0x901, 2), [0x39, 0x90]);

    ok(&read_ipl(&r));
    ipl1_fixup(&r);
    ok(&run(&r, false, 0x08));
    run_ipl2(&r, IPL2_ADDR);

    assert_eq!(r.mem.read(u64::from(LOAD), p.len()), p);
    assert_eq!(
        r.mem.read(u64::from(LOAD) + p.len() as u64, 16),
        [0u8; 16],
        "nothing beyond the payload"
    );
}

#[test]
fn a_search_for_a_missing_record_ends_in_no_record_found_after_a_revolution() {
    let vol = volume("nrf", 1, &payload(100));
    let r = dasd_rig(vol.path(), true);
    r.mem.write(0x30, &[0, 0, 0, 0, 0, 0]);
    r.mem.write(0x38, &[0, 0, 0, 0, 99]);
    put_ccws(
        &r.mem,
        0x100,
        &[
            ccw0(0x07, FMT0_CC, 6, 0x30),
            ccw0(0x31, FMT0_CC, 5, 0x38),
            ccw0(0x08, 0, 0, 0x108),
            ccw0(0x06, 0, 100, 0x4000),
        ],
    );
    let irb = run(&r, false, 0x100);
    let (_, _, _, ds, _, _) = scsw(&irb);
    assert_eq!(ds, CE_DE | 0x02, "unit check");
    // Track 0 holds R0..R4: the seek, ten unequal searches each followed
    // by the TIC back, and the search that passes the index a second time.
    assert_eq!(r.kernel.stats().ccws_executed, 1 + 10 * 2 + 1);
    r.mem.write(0x200, &ccw0(0x04, 0, 32, 0x5000));
    ok(&run(&r, false, 0x200));
    assert_eq!(r.mem.read(0x5000, 2), [0x00, 0x08], "no record found");
}
