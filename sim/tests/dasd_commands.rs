// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390's command set beyond what IPL needs, one behaviour per test:
//! the sense messages of a command reject, the key/home-address/multitrack
//! reads, and write inhibit.

mod common;

use common::{read, sense_0_1_7, write, Volume, CE_DE};
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::ckd::{append, CkdImage, Count};
use vfio_ccw_sim::dasd::*;

const UC: u8 = CE_DE | dstat::UNIT_CHECK;

const RECORD_HEADS: [u16; 3] = [0, 1, 14];

impl Volume {
    /// A 2-cylinder volume. Cylinder 0 heads 0, 1 and 14 carry R1..R3
    /// after R0: key two bytes of 0xA0 + record, data 100 bytes of
    /// 16 * head + record, so every byte read names where it came from.
    /// Every other track holds only R0.
    fn new(name: &str) -> Volume {
        let path = Volume::scratch_path(&format!("cmd-{name}"));
        let mut image = CkdImage::create(&path, 2).expect("create");
        for head in RECORD_HEADS {
            let mut track = image.read_track(0, head).unwrap();
            for record in 1..=3u8 {
                let count = Count {
                    cyl: 0,
                    head,
                    record,
                    key_len: 2,
                    data_len: 100,
                };
                let data = [data_byte(head, record); 100];
                append(&mut track, count, &[0xa0 + record; 2], &data).unwrap();
            }
            image.write_track(0, head, &track).unwrap();
        }
        Volume(path)
    }
}

fn data_byte(head: u16, record: u8) -> u8 {
    head as u8 * 16 + record
}

fn seek(d: &mut Dasd3390, cyl: u16, head: u16) {
    let [c0, c1] = cyl.to_be_bytes();
    let [h0, h1] = head.to_be_bytes();
    assert_eq!(write(d, CMD_SEEK, &[0, 0, c0, c1, h0, h1]), (CE_DE, 6));
}

fn id(cyl: u16, head: u16, record: u8) -> [u8; 5] {
    let [c0, c1] = cyl.to_be_bytes();
    let [h0, h1] = head.to_be_bytes();
    [c0, c1, h0, h1, record]
}

// Sense byte 7: why a command was rejected.

#[test]
fn an_unknown_command_is_rejected_as_an_invalid_command() {
    let vol = Volume::new("msg-invalid-command");
    let mut d = vol.open();
    // Prefix (0xE7) belongs to later control units than a 3990.
    assert_eq!(d.command(0xe7, Transfer::Write(&[0; 64])).dstat, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_COMMAND)
    );
}

#[test]
fn write_data_without_a_search_is_rejected_as_an_invalid_sequence() {
    let vol = Volume::new("msg-invalid-sequence");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    assert_eq!(write(&mut d, CMD_WRITE_DATA, &[1; 100]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_SEQUENCE)
    );
}

#[test]
fn a_seek_with_fewer_than_six_bytes_is_rejected_as_count_too_short() {
    let vol = Volume::new("msg-seek-short");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_SEEK, &[0; 4]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_COUNT_TOO_SHORT)
    );
}

#[test]
fn a_search_with_fewer_than_five_bytes_is_rejected_as_count_too_short() {
    let vol = Volume::new("msg-search-short");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    assert_eq!(write(&mut d, CMD_SEARCH_ID_EQUAL, &[0; 4]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_COUNT_TOO_SHORT)
    );
}

#[test]
fn a_read_with_a_count_of_zero_is_rejected_as_count_too_short() {
    let vol = Volume::new("msg-read-zero");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    assert_eq!(d.command(CMD_READ_DATA, Transfer::Control).dstat, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_COUNT_TOO_SHORT)
    );
}

#[test]
fn a_seek_outside_the_volume_is_rejected_as_an_invalid_argument() {
    let vol = Volume::new("msg-seek-outside");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_SEEK, &[0, 0, 0, 0, 0, 15]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_ARGUMENT)
    );
}

#[test]
fn a_seek_with_nonzero_bin_bytes_is_rejected_as_an_invalid_argument() {
    let vol = Volume::new("msg-seek-bin");
    let mut d = vol.open();
    assert_eq!(write(&mut d, CMD_SEEK, &[0, 1, 0, 0, 0, 0]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, 0, SENSE7_INVALID_ARGUMENT)
    );
}

#[test]
fn no_record_found_is_not_a_reject_and_carries_no_message() {
    let vol = Volume::new("msg-nrf");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let missing = id(0, 0, 9);
    let dstat = std::iter::repeat_with(|| write(&mut d, CMD_SEARCH_ID_EQUAL, &missing).0)
        .take(20)
        .find(|&s| s != CE_DE);
    assert_eq!(dstat, Some(UC));
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_NO_RECORD_FOUND, 0));
}

#[test]
fn the_sense_command_returns_the_message_with_the_reject() {
    let vol = Volume::new("msg-sense");
    let mut d = vol.open();
    d.command(0xe7, Transfer::Control);
    let (dstat, len, sense) = read(&mut d, CMD_SENSE, 32);
    assert_eq!((dstat, len), (CE_DE, 32));
    assert_eq!(
        (sense[0], sense[7]),
        (SENSE0_COMMAND_REJECT, SENSE7_INVALID_COMMAND)
    );
}

// Read Key and Data: the record Read Data would read, key first.

#[test]
fn read_key_and_data_returns_the_key_then_the_data() {
    let vol = Volume::new("rkd");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let (dstat, len, buf) = read(&mut d, CMD_READ_KEY_DATA, 102);
    assert_eq!((dstat, len), (CE_DE, 2 + 100));
    assert_eq!(&buf[..3], &[0xa1, 0xa1, data_byte(0, 1)]);
    assert_eq!(buf[101], data_byte(0, 1));
}

#[test]
fn read_key_and_data_after_a_matching_search_reads_that_record() {
    let vol = Volume::new("rkd-search");
    let mut d = vol.open();
    seek(&mut d, 0, 1);
    let target = id(0, 1, 3);
    while write(&mut d, CMD_SEARCH_ID_EQUAL, &target).0 == CE_DE {}
    let (_, _, buf) = read(&mut d, CMD_READ_KEY_DATA, 102);
    assert_eq!(&buf[..3], &[0xa3, 0xa3, data_byte(1, 3)]);
}

#[test]
fn read_key_and_data_past_the_last_record_goes_round_the_same_track() {
    let vol = Volume::new("rkd-round");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let firsts: Vec<u8> = (0..4)
        .map(|_| read(&mut d, CMD_READ_KEY_DATA, 102).2[2])
        .collect();
    assert_eq!(
        firsts,
        [
            data_byte(0, 1),
            data_byte(0, 2),
            data_byte(0, 3),
            data_byte(0, 1)
        ]
    );
}

#[test]
fn multitrack_read_key_and_data_continues_on_the_next_head() {
    let vol = Volume::new("rkd-mt");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    for _ in 0..3 {
        read(&mut d, CMD_READ_KEY_DATA_MT, 102);
    }
    let (dstat, _, buf) = read(&mut d, CMD_READ_KEY_DATA_MT, 102);
    assert_eq!(
        (dstat, &buf[..3]),
        (CE_DE, &[0xa1, 0xa1, data_byte(1, 1)][..])
    );
}

#[test]
fn multitrack_read_key_and_data_past_the_last_head_ends_in_end_of_cylinder() {
    let vol = Volume::new("rkd-eoc");
    let mut d = vol.open();
    seek(&mut d, 0, 14);
    for _ in 0..3 {
        assert_eq!(read(&mut d, CMD_READ_KEY_DATA_MT, 102).0, CE_DE);
    }
    assert_eq!(read(&mut d, CMD_READ_KEY_DATA_MT, 102).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_END_OF_CYLINDER, 0));
}

// Read Home Address.

#[test]
fn read_home_address_returns_the_flag_byte_and_the_track_address() {
    let vol = Volume::new("ha");
    let mut d = vol.open();
    seek(&mut d, 1, 5);
    let (dstat, len, buf) = read(&mut d, CMD_READ_HA, 5);
    assert_eq!((dstat, len), (CE_DE, 5));
    assert_eq!(buf, [0, 0, 1, 0, 5]);
}

#[test]
fn read_home_address_leaves_the_head_before_record_zero() {
    let vol = Volume::new("ha-orient");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    read(&mut d, CMD_READ_COUNT, 8);
    read(&mut d, CMD_READ_COUNT, 8);
    read(&mut d, CMD_READ_HA, 5);
    let (_, _, count) = read(&mut d, CMD_READ_COUNT, 8);
    assert_eq!(count, [0, 0, 0, 0, 0, 0, 0, 8], "R0's count");
}

#[test]
fn read_home_address_after_records_have_passed_stays_on_the_track() {
    let vol = Volume::new("ha-single");
    let mut d = vol.open();
    seek(&mut d, 0, 3);
    read(&mut d, CMD_READ_COUNT, 8);
    assert_eq!(read(&mut d, CMD_READ_HA, 5).2, [0, 0, 0, 0, 3]);
}

#[test]
fn multitrack_read_home_address_at_the_index_point_reads_this_track() {
    let vol = Volume::new("ha-mt-index");
    let mut d = vol.open();
    seek(&mut d, 0, 3);
    assert_eq!(read(&mut d, CMD_READ_HA_MT, 5).2, [0, 0, 0, 0, 3]);
}

#[test]
fn multitrack_read_home_address_after_records_have_passed_reads_the_next_head() {
    let vol = Volume::new("ha-mt-next");
    let mut d = vol.open();
    seek(&mut d, 0, 3);
    read(&mut d, CMD_READ_COUNT, 8);
    assert_eq!(read(&mut d, CMD_READ_HA_MT, 5).2, [0, 0, 0, 0, 4]);
}

#[test]
fn consecutive_multitrack_read_home_address_commands_step_through_the_heads() {
    let vol = Volume::new("ha-mt-step");
    let mut d = vol.open();
    seek(&mut d, 1, 0);
    let heads: Vec<u8> = (0..3)
        .map(|_| read(&mut d, CMD_READ_HA_MT, 5).2[4])
        .collect();
    assert_eq!(heads, [0, 1, 2]);
}

#[test]
fn multitrack_read_home_address_past_the_last_head_ends_in_end_of_cylinder() {
    let vol = Volume::new("ha-mt-eoc");
    let mut d = vol.open();
    seek(&mut d, 0, 14);
    read(&mut d, CMD_READ_HA_MT, 5);
    assert_eq!(read(&mut d, CMD_READ_HA_MT, 5).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_END_OF_CYLINDER, 0));
}

// Read Count and Read Count-Key-Data, multitrack.

#[test]
fn read_count_past_the_last_record_goes_round_the_same_track() {
    let vol = Volume::new("rc-round");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    for _ in 0..4 {
        read(&mut d, CMD_READ_COUNT, 8);
    }
    let (dstat, _, count) = read(&mut d, CMD_READ_COUNT, 8);
    assert_eq!((dstat, count), (CE_DE, vec![0, 0, 0, 0, 0, 0, 0, 8]));
}

#[test]
fn multitrack_read_count_continues_on_the_next_head() {
    let vol = Volume::new("rc-mt");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    for _ in 0..4 {
        read(&mut d, CMD_READ_COUNT_MT, 8);
    }
    let (dstat, _, count) = read(&mut d, CMD_READ_COUNT_MT, 8);
    assert_eq!(
        (dstat, count),
        (CE_DE, vec![0, 0, 0, 1, 0, 0, 0, 8]),
        "R0 of head 1"
    );
}

#[test]
fn read_data_after_a_multitrack_read_count_reads_the_record_counted() {
    let vol = Volume::new("rc-mt-data");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    for _ in 0..6 {
        read(&mut d, CMD_READ_COUNT_MT, 8);
    }
    let (dstat, len, buf) = read(&mut d, CMD_READ_DATA, 100);
    assert_eq!((dstat, len, buf[0]), (CE_DE, 100, data_byte(1, 1)));
}

#[test]
fn multitrack_read_count_past_the_last_head_ends_in_end_of_cylinder() {
    let vol = Volume::new("rc-mt-eoc");
    let mut d = vol.open();
    seek(&mut d, 0, 14);
    for _ in 0..4 {
        assert_eq!(read(&mut d, CMD_READ_COUNT_MT, 8).0, CE_DE);
    }
    assert_eq!(read(&mut d, CMD_READ_COUNT_MT, 8).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_END_OF_CYLINDER, 0));
}

#[test]
fn multitrack_read_ckd_continues_on_the_next_head() {
    let vol = Volume::new("rckd-mt");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    for _ in 0..5 {
        read(&mut d, CMD_READ_CKD_MT, 110);
    }
    let (dstat, len, buf) = read(&mut d, CMD_READ_CKD_MT, 110);
    assert_eq!((dstat, len), (CE_DE, 8 + 2 + 100));
    assert_eq!(&buf[..8], &[0, 0, 0, 1, 1, 2, 0, 100], "R1 of head 1");
    assert_eq!(buf[10], data_byte(1, 1));
}

#[test]
fn multitrack_read_ckd_past_the_last_head_ends_in_end_of_cylinder() {
    let vol = Volume::new("rckd-mt-eoc");
    let mut d = vol.open();
    seek(&mut d, 0, 14);
    for _ in 0..4 {
        assert_eq!(read(&mut d, CMD_READ_CKD_MT, 110).0, CE_DE);
    }
    assert_eq!(read(&mut d, CMD_READ_CKD_MT, 110).0, UC);
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_END_OF_CYLINDER, 0));
}

// Search ID Equal, multitrack.

#[test]
fn multitrack_search_id_equal_finds_a_record_on_a_later_head() {
    let vol = Volume::new("search-mt");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let target = id(0, 14, 2);
    let mut searches = 1;
    while write(&mut d, CMD_SEARCH_ID_EQUAL_MT, &target).0 == CE_DE {
        searches += 1;
        assert!(searches < 100, "the search never ends");
    }
    // Heads 0 and 1: R0..R3; heads 2-13: R0 only; head 14: R0, R1, R2.
    assert_eq!(searches, 4 + 4 + 12 + 3);
    let (dstat, _, buf) = read(&mut d, CMD_READ_DATA, 100);
    assert_eq!((dstat, buf[0]), (CE_DE, data_byte(14, 2)));
}

#[test]
fn a_single_track_search_for_a_record_on_another_head_is_no_record_found() {
    let vol = Volume::new("search-other-head");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let target = id(0, 1, 2);
    let dstat = std::iter::repeat_with(|| write(&mut d, CMD_SEARCH_ID_EQUAL, &target).0)
        .take(20)
        .find(|&s| s != CE_DE);
    assert_eq!(dstat, Some(UC));
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_NO_RECORD_FOUND, 0));
}

#[test]
fn a_multitrack_search_for_a_missing_record_ends_in_end_of_cylinder() {
    let vol = Volume::new("search-mt-eoc");
    let mut d = vol.open();
    seek(&mut d, 0, 0);
    let missing = id(0, 3, 9);
    let dstat = std::iter::repeat_with(|| write(&mut d, CMD_SEARCH_ID_EQUAL_MT, &missing).0)
        .take(100)
        .find(|&s| s != CE_DE);
    assert_eq!(dstat, Some(UC));
    assert_eq!(sense_0_1_7(&d), (0, SENSE1_END_OF_CYLINDER, 0));
}

// Write inhibit.

/// Seeks to cylinder 0 head 0 and searches for R2, so that Write Data has
/// its record.
fn find_r2(d: &mut Dasd3390) {
    seek(d, 0, 0);
    let target = id(0, 0, 2);
    while write(d, CMD_SEARCH_ID_EQUAL, &target).0 == CE_DE {}
}

#[test]
fn write_data_on_a_volume_opened_read_only_is_write_inhibited() {
    let vol = Volume::new("ro-write");
    let mut d = vol.open_read_only();
    find_r2(&mut d);
    assert_eq!(write(&mut d, CMD_WRITE_DATA, &[0x5a; 100]).0, UC);
    assert_eq!(
        sense_0_1_7(&d),
        (SENSE0_COMMAND_REJECT, SENSE1_WRITE_INHIBITED, 0)
    );
}

#[test]
fn an_inhibited_write_leaves_the_record_as_it_was() {
    let vol = Volume::new("ro-unchanged");
    let mut d = vol.open_read_only();
    find_r2(&mut d);
    write(&mut d, CMD_WRITE_DATA, &[0x5a; 100]);
    find_r2(&mut d);
    assert_eq!(read(&mut d, CMD_READ_DATA, 100).2, [data_byte(0, 2); 100]);
    let mut d = vol.open();
    find_r2(&mut d);
    assert_eq!(read(&mut d, CMD_READ_DATA, 100).2, [data_byte(0, 2); 100]);
}

#[test]
fn a_volume_opened_read_only_still_reads() {
    let vol = Volume::new("ro-read");
    let mut d = vol.open_read_only();
    find_r2(&mut d);
    let (dstat, len, buf) = read(&mut d, CMD_READ_DATA, 100);
    assert_eq!((dstat, len, buf[0]), (CE_DE, 100, data_byte(0, 2)));
}

/// Checks file permissions on this thread as the user nobody, so that the
/// test means the same as root (whose CAP_DAC_OVERRIDE would otherwise let
/// it write a read-only file) and as an ordinary user.
struct FsUidNobody(libc::uid_t);

impl FsUidNobody {
    fn new() -> FsUidNobody {
        // SAFETY: setfsuid changes only this thread's file-system user id
        // (glibc does not broadcast it to other threads); it touches no
        // memory. Unprivileged, it fails and leaves the id as it was, and
        // the file mode alone then keeps the test's process from writing.
        let previous = unsafe { libc::setfsuid(65534) };
        FsUidNobody(previous as libc::uid_t)
    }
}

impl Drop for FsUidNobody {
    fn drop(&mut self) {
        // SAFETY: as in `new`; back to the id this thread had.
        unsafe { libc::setfsuid(self.0) };
    }
}

#[test]
fn a_volume_the_process_may_not_write_opens_with_writes_inhibited() {
    use std::os::unix::fs::PermissionsExt;
    let vol = Volume::new("ro-mode");
    std::fs::set_permissions(&vol.0, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut d = {
        let _nobody = FsUidNobody::new();
        assert!(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&vol.0)
                .is_err(),
            "the test needs a file this thread cannot write"
        );
        Dasd3390::open(&vol.0).expect("a read-only volume still opens")
    };
    find_r2(&mut d);
    assert_eq!(write(&mut d, CMD_WRITE_DATA, &[0x5a; 100]).0, UC);
    assert_eq!(d.sense()[1], SENSE1_WRITE_INHIBITED);
}

#[test]
fn a_volume_the_process_may_write_takes_writes() {
    let vol = Volume::new("rw");
    let mut d = vol.open();
    find_r2(&mut d);
    assert_eq!(write(&mut d, CMD_WRITE_DATA, &[0x5a; 100]), (CE_DE, 100));
}
