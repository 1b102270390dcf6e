// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390 under the s390-ccw firmware's exact programs, including its
//! IPL2 splitting (dasd-ipl.c run_dynamic_ccw_program), over a payload
//! that spans several tracks; multitrack reads; Read Count orientation;
//! and Hercules' own tools reading a volume we made.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::dasd::*;
use vfio_ccw_sim::ipl::{make_ipl_volume, Payload, PROGRAM_RECORD};
use vfio_ccw_sim::{Kernel, SimConfig, SimDeviceFd, DMA_READ, DMA_WRITE};

const FMT0_CC: u8 = 0x40;
const LOAD: u32 = 0x20000;

/// A scratch file, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        Scratch(
            std::env::temp_dir().join(format!("vfio-ccw-dasd-fw-{}-{name}", std::process::id())),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn payload_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn volume(name: &str, payload: &[u8]) -> Scratch {
    let s = Scratch::new(name);
    let p = Payload {
        bytes: payload,
        load_address: LOAD,
        entry: LOAD,
    };
    make_ipl_volume(&s.0, 3, "FW0001", &p).expect("make the IPL volume");
    s
}

struct Rig {
    kernel: std::sync::Arc<Kernel>,
    fd: SimDeviceFd,
    mem: GuestMem,
}

fn rig(image: &Scratch) -> Rig {
    let kernel = Kernel::new(
        SimConfig::default(),
        Box::new(Dasd3390::open(&image.0).unwrap()),
    );
    let mem = GuestMem::new(GUEST_SIZE);
    kernel
        .dma_map(0, mem.addr(), GUEST_SIZE as u64, DMA_READ | DMA_WRITE)
        .unwrap();
    let fd = kernel.open_device().unwrap();
    Rig { kernel, fd, mem }
}

/// Starts a format-0 program the firmware's way and returns (dstat, cstat).
fn run(r: &Rig, cpa: u32) -> (u8, u8) {
    ssch(&r.fd, orb(0, P, 0xff, cpa)).expect("start");
    let (_, _, _, ds, cs, _) = scsw(&irb(&r.fd));
    (ds, cs)
}

fn cda(c: &[u8]) -> u32 {
    u32::from_be_bytes([0, c[1], c[2], c[3]])
}

/// dasd-ipl.c run_dynamic_ccw_program: cut the program after each chained
/// Read followed by a TIC and continue at the TIC's address; a TIC that
/// points at the CCW before it is stepped over. Returns how many programs
/// ran.
fn run_ipl2(r: &Rig, mut cpa: u32) -> usize {
    let mut programs = 0;
    loop {
        let mut next = None;
        let mut at = cpa;
        loop {
            let c = r.mem.read(u64::from(at), 8);
            if c[0] == 0x08 && cda(&c) == at - 8 {
                at += 8;
                continue;
            }
            if c[4] & FMT0_CC == 0 {
                break;
            }
            let following = r.mem.read(u64::from(at) + 8, 8);
            if matches!(c[0], 0x06 | 0x86) && following[0] == 0x08 {
                next = Some(cda(&following));
                let mut cut = c.clone();
                cut[4] &= !FMT0_CC;
                r.mem.write(u64::from(at), &cut);
                break;
            }
            at += 8;
        }
        assert_eq!(run(r, cpa), (CE_DE, 0), "IPL2 piece at {cpa:#x}");
        programs += 1;
        match next {
            Some(n) => cpa = n,
            None => return programs,
        }
    }
}

#[test]
fn the_firmwares_whole_ipl_loads_a_payload_spanning_several_tracks() {
    // 30 records: more than track 0 and track 1 hold.
    let program = payload_bytes(30 * PROGRAM_RECORD - 123);
    let vol = volume("multitrack.3390", &program);
    let r = rig(&vol);

    // cio.c cu_type: format-1 Sense ID, 256 bytes with SLI.
    put_ccws(&r.mem, 0x800, &[ccw1(CMD_SENSE_ID, 0x20, 256, 0x900)]);
    ssch(&r.fd, orb(0, F | P, 0xff, 0x800)).unwrap();
    let (_, _, _, ds, cs, residual) = scsw(&irb(&r.fd));
    assert_eq!(
        (ds, cs, residual),
        (CE_DE, 0, 256 - 12),
        "identification and the RCD CIW"
    );
    assert_eq!(r.mem.read(0x901, 2), [0x39, 0x90], "control unit 3990");

    // make_readipl + run_readipl.
    put_ccws(&r.mem, 0, &[ccw0(CMD_READ_IPL, 0, 0x18, 0)]);
    assert_eq!(run(&r, 0), (CE_DE, 0));
    let ipl1 = r.mem.read(0, 24);
    let ipl2_address = cda(&ipl1[16..24]);

    // ipl1_fixup + run_ipl1.
    let moved = r.mem.read(0x08, 16);
    r.mem.write(0x20, &moved);
    let mut read = r.mem.read(0x20, 8);
    read[4] &= !FMT0_CC;
    r.mem.write(0x20, &read);
    put_ccws(
        &r.mem,
        0x08,
        &[
            ccw0(CMD_SEEK, FMT0_CC, 6, 0x30),
            ccw0(CMD_SEARCH_ID_EQUAL, FMT0_CC, 5, 0x38),
            ccw0(0x08, 0, 0, 0x10),
        ],
    );
    r.mem.write(0x30, &[0; 6]);
    r.mem.write(0x38, &[0, 0, 0, 0, 2]);
    assert_eq!(run(&r, 0x08), (CE_DE, 0));

    run_ipl2(&r, ipl2_address);
    assert_eq!(r.mem.read(u64::from(LOAD), program.len()), program);
    assert_eq!(
        r.mem.read(u64::from(LOAD) + program.len() as u64, 64),
        [0u8; 64],
        "nothing written past the payload"
    );
}

#[test]
fn a_search_loop_for_a_missing_record_runs_two_revolutions_then_unit_checks() {
    let vol = volume("nrf.3390", &payload_bytes(100));
    let r = rig(&vol);
    r.mem.write(0x30, &[0; 6]);
    r.mem.write(0x38, &[0, 0, 0, 0, 99]);
    put_ccws(
        &r.mem,
        0x100,
        &[
            ccw0(CMD_SEEK, FMT0_CC, 6, 0x30),
            ccw0(CMD_SEARCH_ID_EQUAL, FMT0_CC, 5, 0x38),
            ccw0(0x08, 0, 0, 0x108),
            ccw0(CMD_READ_DATA, 0, 100, 0x4000),
        ],
    );
    assert_eq!(run(&r, 0x100).0, CE_DE | dstat::UNIT_CHECK);
    // Track 0 holds R0..R4: the seek, ten unequal searches each followed
    // by the TIC back, and the search that meets the index a second time.
    assert_eq!(r.kernel.stats().ccws_executed, 1 + 10 * 2 + 1);
    put_ccws(&r.mem, 0x200, &[ccw0(CMD_SENSE, 0, 32, 0x5000)]);
    assert_eq!(run(&r, 0x200), (CE_DE, 0));
    assert_eq!(r.mem.read(0x5000, 2), [0x00, SENSE1_NO_RECORD_FOUND]);
}

fn seek(d: &mut Dasd3390, cyl: u16, head: u16) {
    let mut a = [0u8; 6];
    a[2..4].copy_from_slice(&cyl.to_be_bytes());
    a[4..6].copy_from_slice(&head.to_be_bytes());
    assert_eq!(d.command(CMD_SEEK, Transfer::Write(&a)).dstat, CE_DE);
}

fn find(d: &mut Dasd3390, cyl: u16, head: u16, rec: u8) {
    let mut a = [0u8; 5];
    a[0..2].copy_from_slice(&cyl.to_be_bytes());
    a[2..4].copy_from_slice(&head.to_be_bytes());
    a[4] = rec;
    for _ in 0..32 {
        let r = d.command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&a));
        if r.dstat == CE_DE | dstat::STATUS_MODIFIER {
            return;
        }
        assert_eq!(r.dstat, CE_DE, "search for R{rec}");
    }
    panic!("R{rec} not found");
}

#[test]
fn multitrack_read_data_continues_on_the_next_head() {
    // Track 0 holds R4..R15 (payload records 0-11); head 1 starts with 12.
    let program = payload_bytes(14 * PROGRAM_RECORD);
    let vol = volume("mt.3390", &program);
    let mut d = Dasd3390::open(&vol.0).unwrap();
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 15);
    let mut a = vec![0u8; PROGRAM_RECORD];
    let mut b = vec![0u8; PROGRAM_RECORD];
    assert_eq!(
        d.command(CMD_READ_DATA_MT, Transfer::Read(&mut a)).dstat,
        CE_DE
    );
    let r = d.command(CMD_READ_DATA_MT, Transfer::Read(&mut b));
    assert_eq!((r.dstat, r.len), (CE_DE, PROGRAM_RECORD));
    assert_eq!(a, &program[11 * PROGRAM_RECORD..12 * PROGRAM_RECORD]);
    assert_eq!(b, &program[12 * PROGRAM_RECORD..13 * PROGRAM_RECORD]);
}

#[test]
fn multitrack_read_data_past_the_last_head_is_end_of_cylinder() {
    let vol = volume("eoc.3390", &payload_bytes(100));
    let mut d = Dasd3390::open(&vol.0).unwrap();
    seek(&mut d, 0, 14);
    let mut b = [0u8; 8];
    let r = d.command(CMD_READ_DATA_MT, Transfer::Read(&mut b));
    assert_eq!(r.dstat, CE_DE | dstat::UNIT_CHECK);
    assert_eq!(d.sense()[1], SENSE1_END_OF_CYLINDER);
}

#[test]
fn read_data_after_read_count_reads_that_records_data() {
    let vol = volume("count.3390", &payload_bytes(100));
    let mut d = Dasd3390::open(&vol.0).unwrap();
    seek(&mut d, 0, 0);
    let mut count = [0u8; 8];
    d.command(CMD_READ_COUNT, Transfer::Read(&mut count));
    assert_eq!(count, [0, 0, 0, 0, 0, 0, 0, 8], "R0's count");
    d.command(CMD_READ_COUNT, Transfer::Read(&mut count));
    assert_eq!(&count[4..8], &[1, 4, 0, 24], "R1: IPL1");
    let mut data = [0u8; 64];
    let r = d.command(CMD_READ_DATA, Transfer::Read(&mut data));
    assert_eq!(r.len, 24, "R1's data, not R2's");
}

#[test]
fn hercules_dasdls_reads_a_made_volume_as_far_as_a_dasdinit_one() {
    // dasdls opens the image, reads VOL1 on track 0 and follows its VTOC
    // pointer; neither dasdinit nor we write a VTOC, so both stop there.
    if Command::new("dasdls").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dasdls (Debian package hercules) is missing and CI=true"
        );
        eprintln!("skipped: dasdls (Debian package hercules) is not installed");
        return;
    }
    let vol = volume("dasdls.3390", &payload_bytes(5000));
    let out = Command::new("dasdls").arg(&vol.0).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("F4DSCB record not found"), "{text}");
}
