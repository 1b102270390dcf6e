// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390 as Linux's DASD driver uses it (drivers/s390/block/dasd_eckd.c,
//! dasd_alias.c, and cio's device_id.c and device_pgid.c): identification,
//! path groups, subsystem data, Define Extent and Locate Record, one
//! behaviour per test; then the channel programs Linux runs to set a
//! volume in the compatible disk layout online and read its blocks,
//! replayed through the simulated kernel.

mod common;

use std::path::PathBuf;

use common::*;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice};
use vfio_ccw_sim::cdl::make_cdl_volume;
use vfio_ccw_sim::ckd::{records, CkdImage};
use vfio_ccw_sim::dasd::*;
use vfio_ccw_sim::eckd::UNIT_ADDRESS;
use vfio_ccw_sim::{Kernel, SimConfig, DMA_READ, DMA_WRITE};

const UC: u8 = CE_DE | dstat::UNIT_CHECK;

/// EBCDIC of "IPL1", "VOL1" and of the digits.
const IPL1: [u8; 4] = [0xc9, 0xd7, 0xd3, 0xf1];
const VOL1: [u8; 4] = [0xe5, 0xd6, 0xd3, 0xf1];

impl Volume {
    /// A 3-cylinder CDL volume. The data of record R of track T (cylinder 0
    /// head T, T >= 2) is filled with T * 16 + R, so every block read names
    /// where it came from.
    fn cdl(name: &str) -> Volume {
        let path = Volume::path(name);
        make_cdl_volume(&path, 3, "LNX001").expect("make the CDL volume");
        let mut image = CkdImage::open(&path).unwrap();
        for head in 2..4u16 {
            let mut track = image.read_track(0, head).unwrap();
            for r in records(&track).unwrap().iter().skip(1) {
                track[r.data_range()].fill(mark(head, r.count.record));
            }
            image.write_track(0, head, &track).unwrap();
        }
        Volume(path)
    }

    /// A volume of empty tracks, as `vfio-ccw-mkvol create` makes it.
    fn unformatted(name: &str) -> Volume {
        let path = Volume::path(name);
        CkdImage::create(&path, 3).expect("create");
        Volume(path)
    }

    fn path(name: &str) -> PathBuf {
        Volume::scratch_path(&format!("eckd-{name}"))
    }
}

fn mark(head: u16, record: u8) -> u8 {
    head as u8 * 16 + record
}

/// Define Extent mask write control: 01 inhibits all writes, 10 permits
/// update writes (what dasd_eckd.c's define_extent sets for reads and for
/// writes).
const READS_ONLY: u8 = 0x1;
const UPDATES: u8 = 0x2;

/// Define Extent parameters: mask, ECKD mode, tracks `first` to `last`
/// as (cylinder, head).
fn de(write_control: u8, first: (u16, u16), last: (u16, u16)) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = write_control << 6;
    p[1] = 0xc0;
    p[8..10].copy_from_slice(&first.0.to_be_bytes());
    p[10..12].copy_from_slice(&first.1.to_be_bytes());
    p[12..14].copy_from_slice(&last.0.to_be_bytes());
    p[14..16].copy_from_slice(&last.1.to_be_bytes());
    p
}

/// Locate Record operations.
const LR_READ_DATA: u8 = 0x06;
const LR_WRITE_DATA: u8 = 0x01;

/// Locate Record parameters, oriented to the count of record `record` of
/// track (`cyl`, `head`), with a domain of `count` records.
fn lr(operation: u8, count: u8, cyl: u16, head: u16, record: u8) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = operation;
    p[3] = count;
    p[4..6].copy_from_slice(&cyl.to_be_bytes());
    p[6..8].copy_from_slice(&head.to_be_bytes());
    p.copy_within(4..8, 8);
    p[12] = record;
    p
}

fn locate(d: &mut Dasd3390, ext: [u8; 16], loc: [u8; 16]) {
    d.begin_program();
    assert_eq!(write(d, CMD_DEFINE_EXTENT, &ext), (CE_DE, 16));
    assert_eq!(write(d, CMD_LOCATE_RECORD, &loc), (CE_DE, 16));
}

// The compatible disk layout, as `vfio-ccw-mkvol cdl` makes it.

fn counts(image: &mut CkdImage, head: u16) -> Vec<(u8, u8, u16)> {
    let track = image.read_track(0, head).unwrap();
    records(&track)
        .unwrap()
        .iter()
        .map(|r| (r.count.record, r.count.key_len, r.count.data_len))
        .collect()
}

#[test]
fn a_cdl_volume_has_the_ipl_records_the_label_and_nine_blocks_on_track_0() {
    let vol = Volume::cdl("layout-0");
    let mut image = CkdImage::open(&vol.0).unwrap();
    let mut want = vec![(0, 0, 8), (1, 4, 24), (2, 4, 144), (3, 4, 80)];
    want.extend((4..=12).map(|r| (r, 0, 4096)));
    assert_eq!(counts(&mut image, 0), want);
}

#[test]
fn a_cdl_volume_has_twelve_dscb_records_on_track_1() {
    let vol = Volume::cdl("layout-1");
    let mut image = CkdImage::open(&vol.0).unwrap();
    let mut want = vec![(0, 0, 8)];
    want.extend((1..=12).map(|r| (r, 44, 96)));
    assert_eq!(counts(&mut image, 1), want);
}

#[test]
fn a_cdl_volume_has_twelve_blocks_on_every_other_track() {
    let vol = Volume::cdl("layout-n");
    let mut image = CkdImage::open(&vol.0).unwrap();
    let mut want = vec![(0, 0, 8)];
    want.extend((1..=12).map(|r| (r, 0, 4096)));
    let track = image.read_track(2, 14).unwrap();
    let last: Vec<_> = records(&track)
        .unwrap()
        .iter()
        .map(|r| (r.count.record, r.count.key_len, r.count.data_len))
        .collect();
    assert_eq!(last, want);
}

#[test]
fn mkvol_cdl_labels_the_volume_with_its_serial() {
    let path = Volume::path("mkvol-cdl");
    let vol = Volume(path.clone());
    let out = common::bin_command(env!("CARGO_BIN_EXE_vfio-ccw-mkvol"))
        .args(["cdl", "--cylinders", "2", "--volser", "LNX002"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 0), (0, 0)),
        lr(LR_READ_DATA, 1, 0, 0, 3),
    );
    let label = read(&mut d, CMD_READ_KEY_DATA_MT, 84).2;
    assert_eq!(
        &label[8..14],
        &[0xd3, 0xd5, 0xe7, 0xf0, 0xf0, 0xf2],
        "LNX002 in EBCDIC"
    );
    assert_eq!(CkdImage::open(&path).unwrap().cylinders, 2);
}

// Identification.

#[test]
fn sense_id_names_read_configuration_data_in_a_ciw() {
    let vol = Volume::cdl("ciw");
    let (dstat, len, id) = read(&mut vol.open(), CMD_SENSE_ID, 256);
    assert_eq!((dstat, len), (CE_DE, 12));
    assert_eq!(&id[..7], &[0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c]);
    assert_eq!(
        &id[8..12],
        &[0x40, CMD_RCD, 0x01, 0x00],
        "a CIW (0b01) of type 0 (RCD): command 0xFA, 256 bytes"
    );
}

#[test]
fn configuration_data_has_the_device_ned_linux_identifies() {
    let vol = Volume::cdl("rcd-ned");
    let (dstat, len, rcd) = read(&mut vol.open(), CMD_RCD, 256);
    assert_eq!((dstat, len), (CE_DE, 256));
    let devices: Vec<&[u8]> = rcd
        .chunks(32)
        .filter(|e| e[0] >> 6 == 3 && e[1] == 1)
        .collect();
    assert_eq!(devices.len(), 1, "exactly one NED with descriptor 1");
    let ned = devices[0];
    assert_eq!(&ned[4..10], &[0xf0, 0xf0, 0xf3, 0xf3, 0xf9, 0xf0], "003390");
    assert_eq!(&ned[13..16], &[0xc9, 0xc2, 0xd4], "IBM");
    assert!(ned[16..30].iter().all(|b| (0xf0..=0xf9).contains(b)));
    assert_eq!(ned[31], UNIT_ADDRESS);
}

#[test]
fn configuration_data_has_a_general_neq_with_the_subsystem_id() {
    let vol = Volume::cdl("rcd-gneq");
    let (_, _, rcd) = read(&mut vol.open(), CMD_RCD, 256);
    let gneqs: Vec<&[u8]> = rcd.chunks(32).filter(|e| e[0] >> 6 == 2).collect();
    assert_eq!(gneqs.len(), 1);
    assert_eq!(&gneqs[0][8..10], &[0x00, 0x01]);
    assert!(
        !rcd.chunks(32).any(|e| e[0] >> 6 == 1),
        "no SNEQ: Linux takes the unit for a base device"
    );
}

#[test]
fn two_volumes_have_different_serial_numbers() {
    let (a, b) = (Volume::cdl("serial-a"), Volume::cdl("serial-b"));
    let (_, _, rcd_a) = read(&mut a.open(), CMD_RCD, 256);
    let (_, _, rcd_b) = read(&mut b.open(), CMD_RCD, 256);
    assert_ne!(rcd_a[16..30], rcd_b[16..30]);
}

#[test]
fn device_characteristics_describe_a_3390_of_the_images_cylinders() {
    let vol = Volume::cdl("rdc");
    let (dstat, len, rdc) = read(&mut vol.open(), CMD_RDC, 64);
    assert_eq!((dstat, len), (CE_DE, 64));
    assert_eq!(&rdc[0..2], &[0x39, 0x90], "control unit");
    assert_eq!(&rdc[3..5], &[0x33, 0x90], "device type");
    assert_eq!(&rdc[12..14], &[0, 3], "cylinders");
    assert_eq!(&rdc[14..16], &[0, 15], "tracks per cylinder");
    assert_eq!(rdc[6] & 0x40, 0, "no raw-track access in Locate Record");
    assert_eq!(&rdc[60..64], &[0, 0, 0, 3], "long cylinder count");
}

// Path groups (cio's path verification).

const PGID: [u8; 11] = [
    0x80, 0x00, 0x12, 0x34, 0x56, 0x29, 0x64, 0xde, 0xad, 0xbe, 0xef,
];

fn spid(function: u8) -> [u8; 12] {
    let mut arg = [0u8; 12];
    arg[0] = function;
    arg[1..].copy_from_slice(&PGID);
    arg
}

#[test]
fn a_fresh_device_reports_a_reset_path_group() {
    let vol = Volume::cdl("snid-reset");
    let (dstat, len, pgid) = read(&mut vol.open(), CMD_SENSE_PGID, 12);
    assert_eq!((dstat, len), (CE_DE, 12));
    assert_eq!(pgid, [0; 12]);
}

#[test]
fn set_path_group_id_establishes_a_multipath_group() {
    let vol = Volume::cdl("spid-establish");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_SET_PGID, &spid(0x80)), (CE_DE, 12));
    let (_, _, pgid) = read(&mut d, CMD_SENSE_PGID, 12);
    assert_eq!(pgid[0], 0xc8, "grouped, multipath");
    assert_eq!(&pgid[1..], &PGID);
}

#[test]
fn resign_leaves_the_path_ungrouped() {
    let vol = Volume::cdl("spid-resign");
    let mut d = vol.open();
    write(&mut d, CMD_SET_PGID, &spid(0x00));
    write(&mut d, CMD_SET_PGID, &spid(0x40));
    assert_eq!(read(&mut d, CMD_SENSE_PGID, 12).2[0], 0x80);
}

#[test]
fn disband_resets_the_path_group() {
    let vol = Volume::cdl("spid-disband");
    let mut d = vol.open();
    write(&mut d, CMD_SET_PGID, &spid(0x80));
    write(&mut d, CMD_SET_PGID, &spid(0xa0));
    assert_eq!(read(&mut d, CMD_SENSE_PGID, 12).2, [0; 12]);
}

#[test]
fn a_short_set_path_group_id_is_rejected() {
    let vol = Volume::cdl("spid-short");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_SET_PGID, &spid(0x80)[..11]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_COUNT_TOO_SHORT)
    );
}

// Perform Subsystem Function and Read Subsystem Data.

fn prssd(suborder: u8) -> [u8; 12] {
    let mut arg = [0u8; 12];
    arg[0] = 0x18;
    arg[6] = suborder;
    arg
}

#[test]
fn feature_codes_read_as_256_bytes_without_features() {
    let vol = Volume::cdl("features");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_PSF, &prssd(0x41)), (CE_DE, 12));
    let (dstat, len, features) = read(&mut d, CMD_RSSD, 256);
    assert_eq!((dstat, len), (CE_DE, 256));
    assert_eq!(features[8] & 0x01, 0, "no Prefix command");
    assert!(features.iter().all(|&b| b == 0));
}

#[test]
fn the_unit_address_configuration_shows_this_unit_as_a_base_device() {
    let vol = Volume::cdl("uac");
    let mut d = vol.open();
    write(&mut d, CMD_PSF, &prssd(0x0e));
    let (dstat, len, uac) = read(&mut d, CMD_RSSD, 512);
    assert_eq!((dstat, len), (CE_DE, 512));
    let at = 2 * usize::from(UNIT_ADDRESS);
    assert_eq!(&uac[at..at + 2], &[0x01, UNIT_ADDRESS]);
    let configured = uac.chunks(2).filter(|u| u[0] != 0).count();
    assert_eq!(configured, 1, "no aliases");
}

#[test]
fn an_unknown_suborder_is_rejected_as_an_invalid_parameter() {
    let vol = Volume::cdl("vsq");
    let mut d = vol.open();
    // Volume Storage Query, which dasd_alias.c and dasd_eckd.c take as
    // "not supported" from command reject format 0 message 4.
    assert_eq!(write(&mut d, CMD_PSF, &prssd(0x52)).0, UC);
    assert_eq!(sense_0_1_7(&d), (SENSE0_COMMAND_REJECT, 0, 0x04));
}

#[test]
fn a_rejected_volume_storage_query_senses_in_the_24_byte_format() {
    let vol = Volume::cdl("vsq-24");
    let mut d = vol.open();
    // dasd_eckd.c's Volume Storage Query at set-online: 24-byte sense
    // makes dasd_3990_erp.c fail the command reject at once, where
    // 32-byte sense without a program action code had it retried 256
    // times.
    let mut arg = prssd(0x52);
    arg[5] = 0x90;
    assert_eq!(write(&mut d, CMD_PSF, &arg).0, UC);
    assert_eq!(d.sense()[27] & SENSE27_24_BYTE, SENSE27_24_BYTE);
}

#[test]
fn read_subsystem_data_without_a_prepare_is_an_invalid_sequence() {
    let vol = Volume::cdl("rssd-alone");
    let mut d = vol.open();
    assert_eq!(read(&mut d, CMD_RSSD, 256).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn prepared_subsystem_data_is_read_once() {
    let vol = Volume::cdl("rssd-once");
    let mut d = vol.open();
    write(&mut d, CMD_PSF, &prssd(0x41));
    assert_eq!(read(&mut d, CMD_RSSD, 256).0, CE_DE);
    assert_eq!(read(&mut d, CMD_RSSD, 256).0, UC);
}

#[test]
fn set_subsystem_characteristics_is_accepted() {
    let vol = Volume::cdl("ssc");
    let mut d = vol.open();
    let mut ssc = [0u8; 66];
    ssc[0] = 0x1d;
    ssc[6] = 0xc8;
    assert_eq!(write(&mut d, CMD_PSF, &ssc), (CE_DE, 66));
}

// Define Extent.

#[test]
fn define_extent_with_a_time_stamp_takes_32_bytes() {
    let vol = Volume::cdl("de-32");
    let mut d = vol.open();
    let mut ext = [0u8; 32];
    ext[..16].copy_from_slice(&de(UPDATES, (0, 2), (0, 2)));
    ext[7] = 0x0a;
    assert_eq!(write(&mut d, CMD_DEFINE_EXTENT, &ext), (CE_DE, 32));
}

#[test]
fn a_second_define_extent_in_one_program_is_an_invalid_sequence() {
    let vol = Volume::cdl("de-twice");
    let mut d = vol.open();
    let ext = de(READS_ONLY, (0, 0), (0, 1));
    assert_eq!(write(&mut d, CMD_DEFINE_EXTENT, &ext).0, CE_DE);
    assert_eq!(write(&mut d, CMD_DEFINE_EXTENT, &ext).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn the_next_program_defines_its_own_extent() {
    let vol = Volume::cdl("de-next");
    let mut d = vol.open();
    let ext = de(READS_ONLY, (0, 0), (0, 1));
    write(&mut d, CMD_DEFINE_EXTENT, &ext);
    d.begin_program();
    assert_eq!(write(&mut d, CMD_DEFINE_EXTENT, &ext).0, CE_DE);
}

#[test]
fn an_extent_past_the_last_cylinder_is_an_invalid_parameter() {
    let vol = Volume::cdl("de-past");
    let mut d = vol.open();
    assert_eq!(
        write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (0, 0), (3, 0))).0,
        UC
    );
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_ARGUMENT)
    );
}

#[test]
fn an_extent_ending_before_it_begins_is_an_invalid_parameter() {
    let vol = Volume::cdl("de-reversed");
    let mut d = vol.open();
    assert_eq!(
        write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (1, 0), (0, 14))).0,
        UC
    );
    assert_eq!(sense_0_1_7(&d).2, SENSE7_INVALID_ARGUMENT);
}

#[test]
fn a_seek_outside_the_extent_is_file_protected() {
    let vol = Volume::cdl("de-seek");
    let mut d = vol.open();
    write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (0, 0), (0, 1)));
    assert_eq!(write(&mut d, CMD_SEEK, &[0, 0, 0, 0, 0, 2]).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_FILE_PROTECTED, 0));
}

// Locate Record.

#[test]
fn locate_record_without_define_extent_is_an_invalid_sequence() {
    let vol = Volume::cdl("lr-alone");
    let mut d = vol.open();
    assert_eq!(
        write(&mut d, CMD_LOCATE_RECORD, &lr(LR_READ_DATA, 1, 0, 2, 1)).0,
        UC
    );
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn locate_record_outside_the_extent_is_file_protected() {
    let vol = Volume::cdl("lr-outside");
    let mut d = vol.open();
    write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (0, 2), (0, 2)));
    assert_eq!(
        write(&mut d, CMD_LOCATE_RECORD, &lr(LR_READ_DATA, 1, 0, 3, 1)).0,
        UC
    );
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_FILE_PROTECTED, 0));
}

#[test]
fn locating_a_record_the_track_lacks_is_no_record_found() {
    let vol = Volume::cdl("lr-missing");
    let mut d = vol.open();
    write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (0, 2), (0, 2)));
    assert_eq!(
        write(&mut d, CMD_LOCATE_RECORD, &lr(LR_READ_DATA, 1, 0, 2, 13)).0,
        UC
    );
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_NO_RECORD_FOUND, 0));
}

#[test]
fn an_orientation_other_than_count_is_an_invalid_parameter() {
    let vol = Volume::cdl("lr-orientation");
    let mut d = vol.open();
    write(&mut d, CMD_DEFINE_EXTENT, &de(READS_ONLY, (0, 2), (0, 2)));
    let mut loc = lr(LR_READ_DATA, 1, 0, 2, 1);
    loc[0] |= 0xc0;
    assert_eq!(write(&mut d, CMD_LOCATE_RECORD, &loc).0, UC);
    assert_eq!(sense_0_1_7(&d).2, SENSE7_INVALID_ARGUMENT);
}

#[test]
fn read_count_after_locating_r0_reads_the_counts_of_r1_to_r4() {
    let vol = Volume::cdl("lr-counts");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 0), (0, 1)),
        lr(LR_READ_DATA, 4, 0, 0, 0),
    );
    let counts: Vec<Vec<u8>> = (0..4)
        .map(|_| {
            let (dstat, len, count) = read(&mut d, CMD_READ_COUNT, 8);
            assert_eq!((dstat, len), (CE_DE, 8));
            count
        })
        .collect();
    assert_eq!(
        counts,
        [
            [0, 0, 0, 0, 1, 4, 0, 24],
            [0, 0, 0, 0, 2, 4, 0, 144],
            [0, 0, 0, 0, 3, 4, 0, 80],
            [0, 0, 0, 0, 4, 0, 0x10, 0],
        ],
        "the compatible disk layout's IPL1, IPL2, VOL1 and first block"
    );
}

#[test]
fn read_data_after_locate_record_reads_the_located_record() {
    let vol = Volume::cdl("lr-read");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 2)),
        lr(LR_READ_DATA, 1, 0, 2, 5),
    );
    let (dstat, len, data) = read(&mut d, CMD_READ_DATA_MT, 4096);
    assert_eq!((dstat, len), (CE_DE, 4096));
    assert!(data.iter().all(|&b| b == mark(2, 5)));
}

#[test]
fn read_key_and_data_reads_a_keyed_record() {
    let vol = Volume::cdl("lr-read-kd");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 0), (0, 0)),
        lr(LR_READ_DATA, 1, 0, 0, 3),
    );
    let (dstat, len, record) = read(&mut d, CMD_READ_KEY_DATA_MT, 84);
    assert_eq!((dstat, len), (CE_DE, 84));
    assert_eq!(&record[..4], &VOL1, "key");
    assert_eq!(&record[4..8], &VOL1, "the label");
}

#[test]
fn a_read_domain_goes_on_at_the_next_track() {
    let vol = Volume::cdl("lr-next-track");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 3)),
        lr(LR_READ_DATA, 3, 0, 2, 11),
    );
    let firsts: Vec<u8> = (0..3)
        .map(|_| read(&mut d, CMD_READ_DATA_MT, 4096).2[0])
        .collect();
    assert_eq!(firsts, [mark(2, 11), mark(2, 12), mark(3, 1)]);
}

#[test]
fn a_domain_running_past_the_extent_is_file_protected() {
    let vol = Volume::cdl("lr-past-extent");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 2)),
        lr(LR_READ_DATA, 2, 0, 2, 12),
    );
    assert_eq!(read(&mut d, CMD_READ_DATA_MT, 4096).0, CE_DE);
    assert_eq!(read(&mut d, CMD_READ_DATA_MT, 4096).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_FILE_PROTECTED, 0));
}

#[test]
fn a_read_past_the_end_of_the_domain_is_an_invalid_sequence() {
    let vol = Volume::cdl("lr-past-domain");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 2)),
        lr(LR_READ_DATA, 1, 0, 2, 1),
    );
    assert_eq!(read(&mut d, CMD_READ_DATA_MT, 4096).0, CE_DE);
    assert_eq!(read(&mut d, CMD_READ_DATA_MT, 4096).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn an_unformatted_volume_ends_format_detection_in_no_record_found() {
    let vol = Volume::unformatted("lr-unformatted");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 0), (0, 1)),
        lr(LR_READ_DATA, 4, 0, 0, 0),
    );
    assert_eq!(read(&mut d, CMD_READ_COUNT, 8).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_NO_RECORD_FOUND, 0));
}

#[test]
fn a_write_in_a_read_domain_is_an_invalid_sequence() {
    let vol = Volume::cdl("lr-write-in-read");
    let mut d = vol.open();
    locate(
        &mut d,
        de(UPDATES, (0, 2), (0, 2)),
        lr(LR_READ_DATA, 1, 0, 2, 1),
    );
    assert_eq!(write(&mut d, CMD_WRITE_DATA_MT, &[0; 4096]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn a_write_the_extent_inhibits_is_file_protected() {
    let vol = Volume::cdl("lr-write-inhibited");
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 2)),
        lr(LR_WRITE_DATA, 1, 0, 2, 1),
    );
    assert_eq!(write(&mut d, CMD_WRITE_DATA_MT, &[0; 4096]).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_FILE_PROTECTED, 0));
}

#[test]
fn write_data_in_a_write_domain_updates_the_blocks() {
    let vol = Volume::cdl("lr-write");
    {
        let mut d = vol.open();
        locate(
            &mut d,
            de(UPDATES, (0, 2), (0, 3)),
            lr(LR_WRITE_DATA, 2, 0, 2, 12),
        );
        assert_eq!(
            write(&mut d, CMD_WRITE_DATA_MT, &[0xaa; 4096]),
            (CE_DE, 4096)
        );
        assert_eq!(
            write(&mut d, CMD_WRITE_DATA_MT, &[0xbb; 4096]),
            (CE_DE, 4096)
        );
    }
    let mut d = vol.open();
    locate(
        &mut d,
        de(READS_ONLY, (0, 2), (0, 3)),
        lr(LR_READ_DATA, 3, 0, 2, 12),
    );
    let firsts: Vec<u8> = (0..3)
        .map(|_| read(&mut d, CMD_READ_DATA_MT, 4096).2[4095])
        .collect();
    assert_eq!(firsts, [0xaa, 0xbb, mark(3, 2)]);
}

#[test]
fn write_key_and_data_rewrites_the_key_too() {
    let vol = Volume::cdl("lr-write-kd");
    let mut d = vol.open();
    locate(
        &mut d,
        de(UPDATES, (0, 1), (0, 1)),
        lr(LR_WRITE_DATA, 1, 0, 1, 1),
    );
    let dscb = [0x04u8; 140];
    assert_eq!(write(&mut d, CMD_WRITE_KEY_DATA_MT, &dscb), (CE_DE, 140));
    locate(
        &mut d,
        de(READS_ONLY, (0, 1), (0, 1)),
        lr(LR_READ_DATA, 1, 0, 1, 1),
    );
    assert_eq!(read(&mut d, CMD_READ_KEY_DATA_MT, 140).2, dscb);
}

// Linux's channel programs, through the simulated kernel.

const CC: u8 = 0x40;
const SLI: u8 = 0x20;

struct Guest {
    fd: vfio_ccw_sim::SimDeviceFd,
    mem: GuestMem,
    _kernel: std::sync::Arc<Kernel>,
}

impl Guest {
    fn new(vol: &Volume) -> Guest {
        let kernel = Kernel::new(SimConfig::default(), Box::new(vol.open()));
        let mem = GuestMem::new(GUEST_SIZE);
        kernel
            .dma_map(0, mem.addr(), GUEST_SIZE as u64, DMA_READ | DMA_WRITE)
            .unwrap();
        let fd = kernel.open_device().unwrap();
        Guest {
            fd,
            mem,
            _kernel: kernel,
        }
    }

    /// Runs format-1 `ccws` at 0x1000 and returns the IRB.
    fn run(&self, ccws: &[[u8; 8]]) -> [u8; 96] {
        put_ccws(&self.mem, 0x1000, ccws);
        ssch(&self.fd, orb(0, F | P, 0x80, 0x1000)).expect("start");
        irb(&self.fd)
    }

    /// Runs `ccws` and expects them to end normally.
    fn run_ok(&self, ccws: &[[u8; 8]], what: &str) {
        let irb = self.run(ccws);
        let (_, _, _, dev, chan, _) = scsw(&irb);
        assert_eq!(
            (dev, chan),
            (CE_DE, 0),
            "{what}: sense {:02x?}",
            &irb[32..40]
        );
    }
}

/// dasd_eckd_build_cp_cmd_single for one block of a CDL volume: Define
/// Extent, Locate Record, then Read Key and Data for the special records
/// of tracks 0 and 1 or Read Data for the others, at `at`.
fn read_block(g: &Guest, block: u32, at: u32) -> Vec<u8> {
    let (track, record) = ((block / 12) as u16, (block % 12) as u8 + 1);
    let (cmd, len) = match block {
        0 => (CMD_READ_KEY_DATA_MT, 28),
        1 => (CMD_READ_KEY_DATA_MT, 148),
        2 => (CMD_READ_KEY_DATA_MT, 84),
        12..=23 => (CMD_READ_KEY_DATA_MT, 140),
        _ => (CMD_READ_DATA_MT, 4096),
    };
    g.mem.write(0x2000, &de(READS_ONLY, (0, track), (0, track)));
    let mut loc = lr(LR_READ_DATA, 1, 0, track, record);
    loc[1] = 0x80;
    loc[14..16].copy_from_slice(&(len as u16).to_be_bytes());
    g.mem.write(0x2010, &loc);
    g.run_ok(
        &[
            ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x2000),
            ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2010),
            ccw1(cmd, 0, len as u16, at),
        ],
        &format!("block {block}"),
    );
    g.mem.read(u64::from(at), len)
}

#[test]
fn linux_sets_a_cdl_volume_online_and_reads_blocks_0_and_24() {
    let vol = Volume::cdl("linux");
    let g = Guest::new(&vol);

    // device_id.c: Sense ID, 256 bytes with SLI; more than seven bytes
    // back means extended identification, with the RCD CIW.
    let irb = g.run(&[ccw1(CMD_SENSE_ID, SLI, 256, 0x3000)]);
    assert_eq!(scsw(&irb).5, 256 - 12);
    assert_eq!(g.mem.read(0x3008, 2), [0x40, CMD_RCD]);

    // device_pgid.c: Sense PGID finds the path reset, Set PGID
    // establishes the group in multipath mode, a second Sense PGID finds
    // it done.
    g.run_ok(&[ccw1(CMD_SENSE_PGID, SLI, 12, 0x3100)], "SNID");
    assert_eq!(g.mem.read(0x3100, 12), [0; 12]);
    g.mem.write(0x3100, &spid(0x80));
    g.run_ok(&[ccw1(CMD_SET_PGID, SLI, 12, 0x3100)], "SPID");
    g.run_ok(&[ccw1(CMD_SENSE_PGID, SLI, 12, 0x3200)], "SNID");
    assert_eq!(g.mem.read(0x3200, 1), [0xc8]);

    // dasd_eckd_read_conf, dasd_generic_read_dev_chars: no SLI, so the
    // lengths must be exact.
    g.run_ok(&[ccw1(CMD_RCD, 0, 256, 0x4000)], "RCD");
    assert_eq!(g.mem.read(0x4000, 2), [0xd0, 0x01], "the device NED");
    g.run_ok(&[ccw1(CMD_RDC, 0, 64, 0x4100)], "RDC");
    assert_eq!(g.mem.read(0x410c, 4), [0, 3, 0, 15]);

    // dasd_eckd_validate_server: Set Subsystem Characteristics.
    let mut ssc = [0u8; 66];
    ssc[0] = 0x1d;
    ssc[6] = 0xc8;
    g.mem.write(0x4200, &ssc);
    g.run_ok(&[ccw1(CMD_PSF, 0, 66, 0x4200)], "PSF SSC");

    // dasd_eckd_read_features, then dasd_alias.c's unit address
    // configuration: Perform Subsystem Function chained to Read
    // Subsystem Data.
    g.mem.write(0x4300, &prssd(0x41));
    g.run_ok(
        &[
            ccw1(CMD_PSF, CC, 12, 0x4300),
            ccw1(CMD_RSSD, 0, 256, 0x4400),
        ],
        "feature codes",
    );
    g.mem.write(0x4300, &prssd(0x0e));
    g.run_ok(
        &[
            ccw1(CMD_PSF, CC, 12, 0x4300),
            ccw1(CMD_RSSD, 0, 512, 0x4400),
        ],
        "unit address configuration",
    );
    let at = 0x4400 + 2 * u64::from(UNIT_ADDRESS);
    assert_eq!(g.mem.read(at, 2), [0x01, UNIT_ADDRESS]);

    // dasd_eckd_read_vol_info: a suborder a 3990 lacks ends in a command
    // reject with format 0 message 4 in the concurrent sense.
    g.mem.write(0x4300, &prssd(0x52));
    let irb = g.run(&[
        ccw1(CMD_PSF, CC, 12, 0x4300),
        ccw1(CMD_RSSD, SLI, 28, 0x4400),
    ]);
    assert_eq!(scsw(&irb).3, UC);
    assert_eq!((irb[32], irb[39]), (SENSE0_COMMAND_REJECT, 0x04));

    // dasd_eckd_analysis_ccw: the counts of track 0's records 1-4 and of
    // track 1's record 1.
    g.mem.write(0x5000, &de(READS_ONLY, (0, 0), (0, 1)));
    g.mem.write(0x5010, &lr(LR_READ_DATA, 4, 0, 0, 0));
    g.mem.write(0x5020, &lr(LR_READ_DATA, 1, 0, 1, 0));
    let mut ccws = vec![
        ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x5000),
        ccw1(CMD_LOCATE_RECORD, CC, 16, 0x5010),
    ];
    for i in 0..4 {
        ccws.push(ccw1(CMD_READ_COUNT, CC, 8, 0x5100 + 8 * i));
    }
    ccws.push(ccw1(CMD_LOCATE_RECORD, CC, 16, 0x5020));
    ccws.push(ccw1(CMD_READ_COUNT, 0, 8, 0x5120));
    g.run_ok(&ccws, "format detection");
    let counts = g.mem.read(0x5100, 40);
    let count = |i: usize| &counts[8 * i..8 * i + 8];
    // dasd_eckd_end_analysis: records 1-3 keyed 4 with 24, 144 and 80
    // bytes of data make the layout CDL; record 4 gives the block size.
    assert_eq!(count(0), [0, 0, 0, 0, 1, 4, 0, 24]);
    assert_eq!(count(1), [0, 0, 0, 0, 2, 4, 0, 144]);
    assert_eq!(count(2), [0, 0, 0, 0, 3, 4, 0, 80]);
    assert_eq!(count(3), [0, 0, 0, 0, 4, 0, 0x10, 0]);
    assert_eq!(count(4), [0, 0, 0, 1, 1, 44, 0, 96]);

    // Block 0 is IPL1 with its key, block 24 the first record of track 2.
    let block0 = read_block(&g, 0, 0x10000);
    assert_eq!(&block0[..4], &IPL1);
    let block2 = read_block(&g, 2, 0x10000);
    assert_eq!(&block2[4..8], &VOL1);
    let block24 = read_block(&g, 24, 0x20000);
    assert!(block24.iter().all(|&b| b == mark(2, 1)));
    // The partition scan reads the VTOC's DSCBs, keyed, on track 1.
    let block13 = read_block(&g, 13, 0x10000);
    assert_eq!(block13, [0; 140]);
}

#[test]
fn linux_reads_across_the_end_of_the_vtoc_track_under_one_extent() {
    let vol = Volume::cdl("linux-crossing");
    let g = Guest::new(&vol);
    // Blocks 22-25: the last two DSCB records with a Locate Record each,
    // then one Locate Record for the standard blocks from block 24 on.
    g.mem.write(0x2000, &de(READS_ONLY, (0, 1), (0, 2)));
    g.mem.write(0x2010, &lr(LR_READ_DATA, 1, 0, 1, 11));
    g.mem.write(0x2020, &lr(LR_READ_DATA, 1, 0, 1, 12));
    g.mem.write(0x2030, &lr(LR_READ_DATA, 2, 0, 2, 1));
    g.mem.write(0x10000, &[0xff; 140 * 2]);
    g.run_ok(
        &[
            ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x2000),
            ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2010),
            ccw1(CMD_READ_KEY_DATA_MT, CC, 140, 0x10000),
            ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2020),
            ccw1(CMD_READ_KEY_DATA_MT, CC, 140, 0x10000 + 140),
            ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2030),
            ccw1(CMD_READ_DATA_MT, CC, 4096, 0x11000),
            ccw1(CMD_READ_DATA_MT, 0, 4096, 0x12000),
        ],
        "blocks 22-25",
    );
    assert_eq!(g.mem.read(0x10000, 280), [0; 280]);
    assert_eq!(g.mem.read(0x11000, 1), [mark(2, 1)]);
    assert_eq!(g.mem.read(0x12fff, 1), [mark(2, 2)]);
}

#[test]
fn linux_writes_a_block_and_reads_it_back() {
    let vol = Volume::cdl("linux-write");
    let g = Guest::new(&vol);
    // Block 40: track 3 record 5, written in an extent permitting updates.
    let block: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    g.mem.write(0x10000, &block);
    g.mem.write(0x2000, &de(UPDATES, (0, 3), (0, 3)));
    g.mem.write(0x2010, &lr(LR_WRITE_DATA, 1, 0, 3, 5));
    g.run_ok(
        &[
            ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x2000),
            ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2010),
            ccw1(CMD_WRITE_DATA_MT, 0, 4096, 0x10000),
        ],
        "write block 40",
    );
    assert_eq!(read_block(&g, 40, 0x20000), block);
    assert_eq!(read_block(&g, 41, 0x20000), [mark(3, 6); 4096]);
}

#[test]
fn linux_reads_a_track_of_blocks_in_one_domain() {
    let vol = Volume::cdl("linux-track");
    let g = Guest::new(&vol);
    // Blocks 30-41: track 2 records 7-12, track 3 records 1-6.
    g.mem.write(0x2000, &de(READS_ONLY, (0, 2), (0, 3)));
    g.mem.write(0x2010, &lr(LR_READ_DATA, 12, 0, 2, 7));
    let mut ccws = vec![
        ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x2000),
        ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2010),
    ];
    for i in 0..12u32 {
        let flags = if i == 11 { 0 } else { CC };
        ccws.push(ccw1(CMD_READ_DATA_MT, flags, 4096, 0x10000 + 4096 * i));
    }
    g.run_ok(&ccws, "twelve blocks");
    let firsts: Vec<u8> = (0..12u64)
        .map(|i| g.mem.read(0x10000 + 4096 * i, 1)[0])
        .collect();
    let want: Vec<u8> = (7..=12)
        .map(|r| mark(2, r))
        .chain((1..=6).map(|r| mark(3, r)))
        .collect();
    assert_eq!(firsts, want);
}

#[test]
fn the_channel_starts_each_program_without_an_extent() {
    let vol = Volume::cdl("linux-scope");
    let g = Guest::new(&vol);
    g.mem.write(0x2000, &de(READS_ONLY, (0, 2), (0, 2)));
    g.run_ok(&[ccw1(CMD_DEFINE_EXTENT, 0, 16, 0x2000)], "extent");
    g.mem.write(0x2010, &lr(LR_READ_DATA, 1, 0, 2, 1));
    let irb = g.run(&[ccw1(CMD_LOCATE_RECORD, 0, 16, 0x2010)]);
    assert_eq!(scsw(&irb).3, UC, "the extent ended with its program");
    assert_eq!(
        (irb[32], irb[39]),
        (SENSE0_COMMAND_REJECT, SENSE7_INVALID_SEQUENCE)
    );
}

// Formatting, as Linux's dasd_eckd_build_format has the device do it for
// dasdfmt: Define Extent, a format-write Locate Record, and one Write
// Count, Key and Data per record, of which only the count is sent.

/// Define Extent write control 00: every write but the home address and
/// R0 (what define_extent sets for Write CKD); 11: every write (for
/// Write Record Zero).
const FORMATS: u8 = 0x0;
const FORMATS_R0: u8 = 0x3;
/// Locate Record format write, oriented to the count (Write CKD) or to
/// the home address (Write Record Zero).
const LR_FORMAT: u8 = 0x03;
const LR_FORMAT_FROM_HA: u8 = 0x43;

fn count(cyl: u16, head: u16, record: u8, key_len: u8, data_len: u16) -> [u8; 8] {
    let [c0, c1] = cyl.to_be_bytes();
    let [h0, h1] = head.to_be_bytes();
    let [d0, d1] = data_len.to_be_bytes();
    [c0, c1, h0, h1, record, key_len, d0, d1]
}

fn counts_at(image: &mut CkdImage, cyl: u16, head: u16) -> Vec<(u8, u8, u16)> {
    let track = image.read_track(cyl, head).unwrap();
    records(&track)
        .unwrap()
        .iter()
        .map(|r| (r.count.record, r.count.key_len, r.count.data_len))
        .collect()
}

#[test]
fn write_ckd_in_a_format_domain_writes_the_record_after_r0() {
    let vol = Volume::unformatted("fmt-one");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 1, 0, 2, 0),
    );
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 4096)),
        (CE_DE, 8 + 4096)
    );
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 2), vec![(0, 0, 8), (1, 0, 4096)]);
}

#[test]
fn write_ckd_writes_zeros_for_the_key_and_data_it_is_not_sent() {
    let vol = Volume::cdl("fmt-zeros");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 1, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 4, 16));
    let mut image = CkdImage::open(&vol.0).unwrap();
    let track = image.read_track(0, 2).unwrap();
    let r1 = records(&track).unwrap()[1];
    assert_eq!(
        &track[r1.key_range().start..r1.data_range().end],
        &[0u8; 20]
    );
}

#[test]
fn a_format_write_erases_the_rest_of_the_track() {
    // dasdfmt's invalidation: R1 with no data ends the track's records.
    let vol = Volume::cdl("fmt-erase");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 1, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 0));
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 2), vec![(0, 0, 8), (1, 0, 0)]);
}

#[test]
fn each_write_ckd_goes_after_the_one_before() {
    let vol = Volume::unformatted("fmt-chain");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 0), (0, 0)),
        lr(LR_FORMAT, 3, 0, 0, 0),
    );
    for (r, (kl, dl)) in [(4, 24), (4, 144), (4, 80)].into_iter().enumerate() {
        assert_eq!(
            write(&mut d, CMD_WRITE_CKD, &count(0, 0, r as u8 + 1, kl, dl)).0,
            CE_DE
        );
    }
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(
        counts_at(&mut image, 0, 0),
        vec![(0, 0, 8), (1, 4, 24), (2, 4, 144), (3, 4, 80)]
    );
}

#[test]
fn write_ckd_next_track_formats_the_next_track_of_the_extent_after_its_r0() {
    let vol = Volume::unformatted("fmt-next");
    let mut d = vol.open();
    // Across the cylinder boundary: head 14 of cylinder 0, then cylinder 1.
    locate(
        &mut d,
        de(FORMATS, (0, 14), (1, 0)),
        lr(LR_FORMAT, 2, 0, 14, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 14, 1, 0, 4096));
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD_NEXT_TRACK, &count(1, 0, 1, 0, 4096)).0,
        CE_DE
    );
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 14), vec![(0, 0, 8), (1, 0, 4096)]);
    assert_eq!(counts_at(&mut image, 1, 0), vec![(0, 0, 8), (1, 0, 4096)]);
}

#[test]
fn write_ckd_next_track_past_the_extent_is_file_protected() {
    let vol = Volume::unformatted("fmt-next-out");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 2, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 4096));
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD_NEXT_TRACK, &count(0, 3, 1, 0, 4096)).0,
        UC
    );
    assert_eq!(sense_0_1_7(&d).1, SENSE1_FILE_PROTECTED);
}

#[test]
fn write_ckd_past_the_domain_is_an_invalid_sequence() {
    let vol = Volume::unformatted("fmt-domain");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 1, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 4096));
    assert_eq!(write(&mut d, CMD_WRITE_CKD, &count(0, 2, 2, 0, 4096)).0, UC);
    assert_eq!(sense_0_1_7(&d).2, SENSE7_INVALID_SEQUENCE);
}

#[test]
fn write_ckd_without_orientation_is_an_invalid_sequence() {
    let vol = Volume::unformatted("fmt-unoriented");
    let mut d = vol.open();
    d.begin_program();
    assert_eq!(write(&mut d, CMD_WRITE_CKD, &count(0, 0, 1, 0, 4096)).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn write_ckd_after_a_matching_search_writes_the_next_record() {
    let vol = Volume::unformatted("fmt-search");
    let mut d = vol.open();
    d.begin_program();
    write(&mut d, CMD_SEEK, &[0, 0, 0, 0, 0, 2]);
    assert_eq!(
        write(&mut d, CMD_SEARCH_ID_EQUAL, &[0, 0, 0, 2, 0]).0,
        CE_DE | dstat::STATUS_MODIFIER
    );
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 512)).0,
        CE_DE
    );
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 2), vec![(0, 0, 8), (1, 0, 512)]);
}

#[test]
fn write_ckd_under_an_update_only_extent_is_file_protected() {
    let vol = Volume::unformatted("fmt-updates");
    let mut d = vol.open();
    locate(
        &mut d,
        de(UPDATES, (0, 2), (0, 2)),
        lr(LR_FORMAT, 1, 0, 2, 0),
    );
    assert_eq!(write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 4096)).0, UC);
    assert_eq!(sense_0_1_7(&d).1, SENSE1_FILE_PROTECTED);
}

#[test]
fn write_ckd_in_a_read_domain_is_an_invalid_sequence() {
    let vol = Volume::cdl("fmt-read-domain");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_READ_DATA, 1, 0, 2, 1),
    );
    assert_eq!(write(&mut d, CMD_WRITE_CKD, &count(0, 2, 2, 0, 4096)).0, UC);
    assert_eq!(sense_0_1_7(&d).2, SENSE7_INVALID_SEQUENCE);
}

#[test]
fn a_record_the_track_cannot_hold_is_an_invalid_track_format() {
    let vol = Volume::unformatted("fmt-full");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT, 2, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 40000));
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD, &count(0, 2, 2, 0, 40000)).0,
        UC
    );
    assert_eq!(sense_0_1_7(&d).1, SENSE1_INVALID_TRACK_FORMAT);
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 2), vec![(0, 0, 8), (1, 0, 40000)]);
}

#[test]
fn write_record_zero_from_the_home_address_rewrites_the_track_from_r0() {
    let vol = Volume::cdl("fmt-r0");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS_R0, (0, 2), (0, 2)),
        lr(LR_FORMAT_FROM_HA, 2, 0, 2, 0),
    );
    assert_eq!(
        write(&mut d, CMD_WRITE_R0, &count(0, 2, 0, 0, 8)),
        (CE_DE, 16)
    );
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 2048));
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 2), vec![(0, 0, 8), (1, 0, 2048)]);
}

#[test]
fn write_record_zero_after_a_formatted_track_starts_the_next_one() {
    // dasd_eckd.c chains each track's Write Record Zero straight after
    // the previous track's last Write CKD.
    let vol = Volume::cdl("fmt-r0-next");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS_R0, (0, 2), (0, 3)),
        lr(LR_FORMAT_FROM_HA, 4, 0, 2, 0),
    );
    write(&mut d, CMD_WRITE_R0, &count(0, 2, 0, 0, 8));
    write(&mut d, CMD_WRITE_CKD, &count(0, 2, 1, 0, 2048));
    write(&mut d, CMD_WRITE_R0, &count(0, 3, 0, 0, 8));
    assert_eq!(
        write(&mut d, CMD_WRITE_CKD_NEXT_TRACK, &count(0, 3, 1, 0, 2048)).0,
        CE_DE
    );
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 3), vec![(0, 0, 8), (1, 0, 2048)]);
}

#[test]
fn write_record_zero_needs_an_extent_that_permits_every_write() {
    let vol = Volume::unformatted("fmt-r0-perm");
    let mut d = vol.open();
    locate(
        &mut d,
        de(FORMATS, (0, 2), (0, 2)),
        lr(LR_FORMAT_FROM_HA, 2, 0, 2, 0),
    );
    assert_eq!(write(&mut d, CMD_WRITE_R0, &count(0, 2, 0, 0, 8)).0, UC);
    assert_eq!(sense_0_1_7(&d).1, SENSE1_FILE_PROTECTED);
}

#[test]
fn a_home_address_search_naming_another_track_is_no_record_found() {
    let vol = Volume::unformatted("fmt-ha");
    let mut d = vol.open();
    d.begin_program();
    write(&mut d, CMD_DEFINE_EXTENT, &de(FORMATS_R0, (0, 2), (0, 3)));
    let mut loc = lr(LR_FORMAT_FROM_HA, 2, 0, 2, 0);
    loc[11] = 3;
    assert_eq!(write(&mut d, CMD_LOCATE_RECORD, &loc).0, UC);
    assert_eq!(sense_0_1_7(&d).1, SENSE1_NO_RECORD_FOUND);
}

#[test]
fn linux_formats_two_tracks_in_the_compatible_disk_layout_in_one_program() {
    // dasd_eckd_build_format, intensity 8: track 0 holds the IPL records
    // and the label (keys of 4), then blocks; track 1 the VTOC's records.
    let vol = Volume::unformatted("fmt-linux");
    let g = Guest::new(&vol);
    g.mem.write(0x2000, &de(FORMATS, (0, 0), (0, 1)));
    g.mem.write(0x2010, &lr(LR_FORMAT, 24, 0, 0, 0));
    let mut ccws = vec![
        ccw1(CMD_DEFINE_EXTENT, CC, 16, 0x2000),
        ccw1(CMD_LOCATE_RECORD, CC, 16, 0x2010),
    ];
    let mut want0 = vec![(0, 0, 8)];
    let mut want1 = vec![(0, 0, 8)];
    for head in 0..2u16 {
        for r in 1..=12u8 {
            let (kl, dl) = match (head, r) {
                (0, 1) => (4, 24),
                (0, 2) => (4, 144),
                (0, 3) => (4, 80),
                (0, _) => (0, 4096),
                _ => (44, 96),
            };
            if head == 0 {
                want0.push((r, kl, dl))
            } else {
                want1.push((r, kl, dl))
            }
            let at = 0x3000 + 8 * u32::from(head * 12 + u16::from(r));
            g.mem.write(u64::from(at), &count(0, head, r, kl, dl));
            let cmd = if head == 1 && r == 1 {
                CMD_WRITE_CKD_NEXT_TRACK
            } else {
                CMD_WRITE_CKD
            };
            let last = head == 1 && r == 12;
            ccws.push(ccw1(cmd, if last { SLI } else { CC | SLI }, 8, at));
        }
    }
    g.run_ok(&ccws, "format tracks 0 and 1");
    let mut image = CkdImage::open(&vol.0).unwrap();
    assert_eq!(counts_at(&mut image, 0, 0), want0);
    assert_eq!(counts_at(&mut image, 0, 1), want1);
}
