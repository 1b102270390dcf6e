// SPDX-License-Identifier: GPL-2.0-or-later
//! The channel: chaining, TICs, IDAWs, residual counts and the checks the
//! kernel's translation makes at SSCH.

mod common;
use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::{FsmState, DMA_READ};

const CD: u8 = 0x80;
const CC: u8 = 0x40;
const SLI: u8 = 0x20;
const SKIP: u8 = 0x10;
const IDA: u8 = 0x04;
const H: u8 = 0x02;
const T: u8 = 0x01;

fn start(r: &Rig, byte5: u8, ccws: &[[u8; 8]]) -> [u8; 96] {
    put_ccws(&r.mem, 0x1000, ccws);
    assert_eq!(ssch(&r.fd, orb(0, byte5, 0, 0x1000)), Ok(124));
    irb(&r.fd)
}

#[test]
fn format0_ccws_are_converted_and_report_format1_in_the_scsw() {
    let r = rig();
    let irb = start(&r, P, &[ccw0(0x02, 0, 80, 0x3000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1008, CE_DE, 0, 0));
    assert_eq!(irb[1] & 0x80, 0x80);
    assert_eq!(r.mem.read(0x3000, 80), record());
}

#[test]
fn command_chaining_runs_each_ccw_and_ends_after_the_last() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[
            ccw1(0x03, CC, 0, 0),
            ccw1(0xe4, CC | SLI, 7, 0x3000),
            ccw1(0x02, 0, 80, 0x4000),
        ],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1018, CE_DE, 0, 0));
    assert_eq!(r.log.lock().unwrap().commands, vec![0x03, 0xe4, 0x02]);
    assert_eq!(r.kernel.stats().ccws_executed, 3);
}

#[test]
fn data_chaining_scatters_one_read_over_several_areas() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[
            ccw1(0x02, CD, 30, 0x3000),
            ccw1(0x00, CD, 20, 0x5000),
            ccw1(0x00, 0, 30, 0x7000),
        ],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1018, CE_DE, 0, 0));
    let rec = record();
    assert_eq!(r.mem.read(0x3000, 30), &rec[..30]);
    assert_eq!(r.mem.read(0x5000, 20), &rec[30..50]);
    assert_eq!(r.mem.read(0x7000, 30), &rec[50..]);
    assert_eq!(r.kernel.stats().bytes_read, 80);
}

#[test]
fn data_chaining_gathers_one_write_from_several_areas() {
    let r = rig();
    r.mem.write(0x3000, b"abc");
    r.mem.write(0x5000, b"defg");
    start(
        &r,
        F | P,
        &[ccw1(0x01, CD, 3, 0x3000), ccw1(0x01, 0, 4, 0x5000)],
    );
    assert_eq!(r.log.lock().unwrap().written, vec![b"abcdefg".to_vec()]);
}

#[test]
fn a_short_record_gives_incorrect_length_and_the_residual_count() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[ccw1(0x02, CC, 100, 0x3000), ccw1(0x03, 0, 0, 0)],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL_ALERT, 0x1008, CE_DE, 0x40, 20));
    assert_eq!(r.log.lock().unwrap().commands, vec![0x02], "chaining stops");
}

#[test]
fn sli_suppresses_incorrect_length_and_chaining_goes_on() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[ccw1(0x02, CC | SLI, 100, 0x3000), ccw1(0x03, 0, 0, 0)],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1010, CE_DE, 0, 0));
}

#[test]
fn a_longer_record_than_the_count_is_truncated_with_incorrect_length() {
    let r = rig();
    let irb = start(&r, F | P, &[ccw1(0x02, 0, 10, 0x3000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL_ALERT, 0x1008, CE_DE, 0x40, 0));
    assert_eq!(r.mem.read(0x3000, 11), [&record()[..10], &[0]].concat());
}

#[test]
fn the_residual_of_a_data_chain_is_that_of_the_ccw_where_data_ended() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[ccw1(0x02, CD, 50, 0x3000), ccw1(0x02, SLI, 50, 0x5000)],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1010, CE_DE, 0, 20));
}

#[test]
fn skip_counts_data_without_storing_it() {
    let r = rig();
    r.mem.write(0x3000, &[0xaa; 80]);
    let irb = start(&r, F | P, &[ccw1(0x02, SKIP, 80, 0x3000)]);
    assert_eq!(scsw(&irb).4, 0);
    assert_eq!(r.mem.read(0x3000, 80), vec![0xaa; 80]);
    assert_eq!(r.kernel.stats().bytes_read, 0);
}

#[test]
fn status_modifier_skips_the_next_ccw() {
    let r = rig();
    let irb = start(
        &r,
        F | P,
        &[
            ccw1(0x31, CC, 4, 0x3000),
            ccw1(0x08, 0, 0, 0x1000),
            ccw1(0x02, 0, 80, 0x4000),
        ],
    );
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1018, CE_DE, 0, 0));
    assert_eq!(r.log.lock().unwrap().commands, vec![0x31, 0x02]);
}

#[test]
fn tic_continues_at_its_target_in_a_new_segment() {
    let r = rig();
    put_ccws(&r.mem, 0x8000, &[ccw1(0x02, 0, 80, 0x4000)]);
    let irb = start(&r, F | P, &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x8000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x8008, CE_DE, 0, 0));
    assert_eq!(r.mem.read(0x4000, 80), record());
}

#[test]
fn tic_to_tic_is_a_program_check() {
    let r = rig();
    put_ccws(&r.mem, 0x8000, &[ccw1(0x08, 0, 0, 0x9000)]);
    put_ccws(&r.mem, 0x9000, &[ccw1(0x03, 0, 0, 0)]);
    let irb = start(&r, F | P, &[ccw1(0x08, 0, 0, 0x8000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL_ALERT, 0x8008, 0, 0x20, 0));
}

#[test]
fn an_endless_tic_loop_ends_in_a_program_check() {
    let r = rig();
    let irb = start(&r, F | P, &[ccw1(0x03, CC, 0, 0), ccw1(0x08, 0, 0, 0x1000)]);
    let (fc, sc, _, _, cs, _) = scsw(&irb);
    assert_eq!((fc, sc, cs), (0x40, SC_FINAL_ALERT, 0x20));
    assert_eq!(r.kernel.stats().ccws_executed, 65536);
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn command_code_zero_is_a_program_check() {
    let r = rig();
    let irb = start(&r, F | P, &[ccw1(0x00, 0, 8, 0x3000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL_ALERT, 0x1008, 0, 0x20, 0));
}

#[test]
fn a_zero_count_read_without_sli_is_a_program_check() {
    let r = rig();
    let irb = start(&r, F | P, &[ccw1(0x02, 0, 0, 0x3000)]);
    assert_eq!(scsw(&irb).4, 0x20);
    assert!(r.log.lock().unwrap().commands.is_empty());
}

#[test]
fn unit_check_stores_concurrent_sense_in_the_ecw() {
    let r = rig();
    let irb = start(&r, F | P, &[ccw1(0x77, CC, 0, 0), ccw1(0x03, 0, 0, 0)]);
    assert_eq!(
        scsw(&irb),
        (0x40, SC_FINAL_ALERT, 0x1008, CE_DE | 0x02, 0, 0)
    );
    assert_eq!(irb[16] & 0x01, 0x01, "ERW concurrent sense");
    // Linux's cio copies the ECW only with E (ccw_device_accumulate_irb).
    assert_eq!(irb[1] & 0x02, 0x02, "SCSW E: the ECW is valid");
    assert_eq!(irb[32], 0x80, "command reject");
}

#[test]
fn format1_idaws_address_2k_blocks() {
    let r = rig();
    // 100 bytes starting 40 bytes before a 2K boundary: two IDAWs.
    r.mem.write(0x6000, &0x37d8u32.to_be_bytes());
    r.mem.write(0x6004, &0x5000u32.to_be_bytes());
    let irb = start(&r, F | P, &[ccw1(0x02, IDA | SLI, 100, 0x6000)]);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1008, CE_DE, 0, 20));
    let rec = record();
    assert_eq!(r.mem.read(0x37d8, 40), &rec[..40]);
    assert_eq!(r.mem.read(0x5000, 40), &rec[40..]);
}

#[test]
fn format2_idaws_address_4k_blocks_and_2k_with_t() {
    let r = rig();
    r.mem.write(0x6000, &0x3fd8u64.to_be_bytes());
    r.mem.write(0x6008, &0x9000u64.to_be_bytes());
    start(&r, F | P | H, &[ccw1(0x02, IDA, 80, 0x6000)]);
    let rec = record();
    assert_eq!(r.mem.read(0x3fd8, 40), &rec[..40]);
    assert_eq!(r.mem.read(0x9000, 40), &rec[40..]);

    let r = rig();
    r.mem.write(0x6000, &0x37d8u64.to_be_bytes());
    r.mem.write(0x6008, &0xa800u64.to_be_bytes());
    start(&r, F | P | H | T, &[ccw1(0x02, IDA, 80, 0x6000)]);
    assert_eq!(r.mem.read(0x37d8, 40), &rec[..40]);
    assert_eq!(r.mem.read(0xa800, 40), &rec[40..]);
}

#[test]
fn a_misaligned_second_idaw_is_a_program_check() {
    let r = rig();
    r.mem.write(0x6000, &0x37d8u32.to_be_bytes());
    r.mem.write(0x6004, &0x5010u32.to_be_bytes());
    let irb = start(&r, F | P, &[ccw1(0x02, IDA, 80, 0x6000)]);
    assert_eq!(scsw(&irb).4, 0x20);
}

#[test]
fn an_unmapped_channel_program_address_is_einval() {
    let r = rig();
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x20_0000)), Err(Errno::EINVAL));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn the_2k_ccw_fetch_must_fit_in_the_mappings_even_for_one_ccw() {
    let r = rig();
    let cpa = GUEST_SIZE as u32 - 8;
    r.mem.write(u64::from(cpa), &ccw1(0x03, 0, 0, 0));
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, cpa)), Err(Errno::EINVAL));
}

#[test]
fn data_in_memory_mapped_read_only_is_eperm() {
    let r = rig();
    let ro = GuestMem::new(4096);
    r.kernel
        .dma_map(0x10_0000, ro.addr(), 4096, DMA_READ)
        .unwrap();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x10_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EPERM));
}

#[test]
fn data_in_unmapped_memory_is_einval() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x30_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
}

#[test]
fn a_segment_of_256_chained_ccws_is_accepted_and_257_are_einval() {
    let r = rig();
    let mut ccws = vec![ccw1(0x03, CC, 0, 0); 255];
    ccws.push(ccw1(0x03, 0, 0, 0));
    put_ccws(&r.mem, 0x1000, &ccws);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(r.kernel.stats().ccws_executed, 256);

    let ccws = vec![ccw1(0x03, CC, 0, 0); 256];
    put_ccws(&r.mem, 0x1000, &ccws);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
}

#[test]
fn the_transport_mode_bit_is_eopnotsupp() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(
        ssch(&r.fd, orb(0, F | P | 0x04, 0, 0x1000)),
        Err(Errno::EOPNOTSUPP)
    );
}

#[test]
fn unmapping_pinned_pages_of_a_stalled_program_resets_the_device() {
    let r = rig();
    r.kernel
        .set_faults(vfio_ccw_sim::FaultScript::parse("io-write stall").unwrap());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x3000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(r.kernel.fsm_state(), FsmState::CpPending);
    assert_eq!(
        r.kernel.dma_unmap(0, GUEST_SIZE as u64),
        Ok(GUEST_SIZE as u64)
    );
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    let (fc, ..) = scsw(&irb(&r.fd));
    assert_eq!(fc & 0x20, 0x20, "the quiesce halt's IRB");
}

#[test]
fn an_ida_ccw_that_moves_no_data_still_needs_its_idal_mapped() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, IDA, 0, 0x30_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, IDA | SKIP, 80, 0x30_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn a_format0_tic_loses_its_flags_so_its_chaining_flag_ends_the_segment() {
    let r = rig();
    // The CCW after the TIC is never fetched by cp.c: its unmapped data
    // must not fail the start.
    put_ccws(
        &r.mem,
        0x1000,
        &[ccw0(0x18, CC, 0, 0x2000), ccw0(0x02, 0, 80, 0x30_0000)],
    );
    put_ccws(&r.mem, 0x2000, &[ccw0(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, P, 0, 0x1000)), Ok(124));
    assert_eq!(scsw(&irb(&r.fd)).3, CE_DE);
}

#[test]
fn segments_are_translated_depth_first_in_tic_order_so_the_first_tics_error_wins() {
    let r = rig();
    let ro = GuestMem::new(4096);
    r.kernel
        .dma_map(0x10_0000, ro.addr(), 4096, DMA_READ)
        .unwrap();
    // Two TICs in the first segment: the first leads to data in unmapped
    // memory (EINVAL), the second to data mapped read-only (EPERM).
    put_ccws(
        &r.mem,
        0x1000,
        &[ccw1(0x08, CC, 0, 0x2000), ccw1(0x08, 0, 0, 0x3000)],
    );
    put_ccws(&r.mem, 0x2000, &[ccw1(0x02, 0, 80, 0x30_0000)]);
    put_ccws(&r.mem, 0x3000, &[ccw1(0x02, 0, 80, 0x10_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
}
