// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390's commands one at a time, as the channel offers them, and the
//! unit checks it answers.

mod common;
mod dasd_common;

use common::*;
use dasd_common::*;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Response, Transfer};
use vfio_ccw_sim::ckd::CkdImage;
use vfio_ccw_sim::dasd::{cmd, sense, Dasd};

const UC: u8 = CE_DE | dstat::UNIT_CHECK;
const SM: u8 = CE_DE | dstat::STATUS_MODIFIER;

fn seek(d: &mut Dasd, cyl: u16, head: u16) -> Response {
    let mut a = [0u8; 6];
    a[2..4].copy_from_slice(&cyl.to_be_bytes());
    a[4..6].copy_from_slice(&head.to_be_bytes());
    d.command(cmd::SEEK, Transfer::Write(&a))
}

fn search(d: &mut Dasd, cyl: u16, head: u16, rec: u8) -> Response {
    let mut a = [0u8; 5];
    a[0..2].copy_from_slice(&cyl.to_be_bytes());
    a[2..4].copy_from_slice(&head.to_be_bytes());
    a[4] = rec;
    d.command(cmd::SEARCH_ID_EQ, Transfer::Write(&a))
}

/// Searches until the record is found, as a Search + TIC loop does.
fn find(d: &mut Dasd, cyl: u16, head: u16, rec: u8) {
    for _ in 0..64 {
        let r = search(d, cyl, head, rec);
        if r.dstat == SM {
            return;
        }
        assert_eq!(r.dstat, CE_DE, "search R{rec}: {:?}", d.last_error());
    }
    panic!("R{rec} not found");
}

fn read(d: &mut Dasd, code: u8, len: usize) -> (Response, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let r = d.command(code, Transfer::Read(&mut buf));
    (r, buf)
}

fn open(v: &Scratch) -> Dasd {
    Dasd::open(v.path(), true).expect("open")
}

#[test]
fn seek_orients_to_the_index_so_a_search_first_meets_r0() {
    let v = volume("r0", 1, &payload(100));
    let mut d = open(&v);
    assert_eq!(
        seek(&mut d, 0, 0),
        Response {
            dstat: CE_DE,
            len: 6
        }
    );
    assert_eq!(search(&mut d, 0, 0, 0).dstat, SM);
}

#[test]
fn an_equal_search_answers_status_modifier_and_an_unequal_one_does_not() {
    let v = volume("search", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    assert_eq!(search(&mut d, 0, 0, 1).dstat, CE_DE, "R0 passes first");
    assert_eq!(search(&mut d, 0, 0, 1), Response { dstat: SM, len: 5 });
}

#[test]
fn read_data_after_a_search_reads_the_found_record() {
    let p = payload(5000);
    let v = volume("readdata", 1, &p);
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 5);
    let (r, buf) = read(&mut d, cmd::READ_DATA, 4096);
    assert_eq!(
        r,
        Response {
            dstat: CE_DE,
            len: 5000 - 4096
        }
    );
    assert_eq!(&buf[..904], &p[4096..]);
}

#[test]
fn chained_read_data_commands_read_consecutive_records() {
    let p = payload(3 * 4096);
    let v = volume("consecutive", 1, &p);
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 4);
    for i in 0..3 {
        let (r, buf) = read(&mut d, cmd::READ_DATA, 4096);
        assert_eq!(r.len, 4096);
        assert_eq!(buf, &p[i * 4096..(i + 1) * 4096]);
    }
}

#[test]
fn read_data_without_a_search_skips_r0() {
    let v = volume("skipr0", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    let (r, _) = read(&mut d, cmd::READ_DATA, 24);
    assert_eq!(r.len, 24, "R1, IPL1");
}

#[test]
fn multitrack_read_data_continues_on_the_next_head() {
    // Records 9 and 10 of the payload: the last on track 0, the first on
    // head 1.
    let p = payload(11 * 4096);
    let v = volume("mt", 1, &p);
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 12);
    let (_, a) = read(&mut d, cmd::READ_DATA_MT, 4096);
    let (r, b) = read(&mut d, cmd::READ_DATA_MT, 4096);
    assert_eq!(r.dstat, CE_DE);
    assert_eq!(a, &p[8 * 4096..9 * 4096]);
    assert_eq!(b, &p[9 * 4096..10 * 4096]);
}

#[test]
fn multitrack_read_past_the_last_head_is_end_of_cylinder() {
    let v = volume("eoc", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 14);
    let (r, _) = read(&mut d, cmd::READ_DATA_MT, 8);
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[1], sense::END_OF_CYLINDER);
}

#[test]
fn single_track_read_of_an_empty_track_is_no_record_found() {
    let v = volume("empty", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 7);
    let (r, _) = read(&mut d, cmd::READ_DATA, 8);
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[1], sense::NO_RECORD_FOUND);
}

#[test]
fn read_count_returns_the_next_count_field_and_read_data_its_data() {
    let v = volume("count", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    let (r, c) = read(&mut d, cmd::READ_COUNT, 8);
    assert_eq!(
        r,
        Response {
            dstat: CE_DE,
            len: 8
        }
    );
    assert_eq!(c, [0, 0, 0, 0, 1, 4, 0, 24], "R1: key 4, data 24");
    let (r, _) = read(&mut d, cmd::READ_DATA, 24);
    assert_eq!(r.len, 24);
}

#[test]
fn read_count_key_and_data_returns_the_whole_next_record() {
    let v = volume("ckd", 1, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 2);
    let (r, b) = read(&mut d, cmd::READ_CKD, 200);
    assert_eq!(
        r,
        Response {
            dstat: CE_DE,
            len: 8 + 4 + 80
        }
    );
    assert_eq!(&b[0..8], &[0, 0, 0, 0, 3, 4, 0, 80]);
    assert_eq!(&b[8..12], &[0xe5, 0xd6, 0xd3, 0xf1], "key VOL1 in EBCDIC");
    assert_eq!(
        &b[12..22],
        &[0xe5, 0xd6, 0xd3, 0xf1, 0xe3, 0xc5, 0xe2, 0xe3, 0xf0, 0xf1]
    );
}

#[test]
fn read_ipl_repositions_to_cylinder_0_head_0_record_1() {
    let v = volume("readipl", 2, &payload(100));
    let mut d = open(&v);
    seek(&mut d, 1, 3);
    let (r, b) = read(&mut d, cmd::READ_IPL, 24);
    assert_eq!(
        r,
        Response {
            dstat: CE_DE,
            len: 24
        }
    );
    assert_eq!(&b[8..9], &[0x06]);
    let (r, _) = read(&mut d, cmd::READ_DATA, 8);
    assert_eq!(r.len, vfio_ccw_sim::ipl::ipl2(100, LOAD).len(), "then R2");
}

#[test]
fn an_unknown_command_is_rejected() {
    let v = volume("reject", 1, &payload(100));
    let mut d = open(&v);
    let r = d.command(0x63, Transfer::Control);
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
    assert!(d.last_error().unwrap().contains("0x63"));
}

#[test]
fn a_seek_beyond_the_last_cylinder_is_rejected() {
    let v = volume("badseek", 2, &payload(100));
    let mut d = open(&v);
    assert_eq!(seek(&mut d, 2, 0).dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
    assert!(d.last_error().unwrap().contains("invalid seek address"));
}

#[test]
fn a_seek_to_head_15_is_rejected() {
    let v = volume("badhead", 1, &payload(100));
    let mut d = open(&v);
    assert_eq!(seek(&mut d, 0, 15).dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
}

#[test]
fn a_short_seek_argument_is_rejected() {
    let v = volume("shortseek", 1, &payload(100));
    let mut d = open(&v);
    let r = d.command(cmd::SEEK, Transfer::Write(&[0, 0, 0, 0]));
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
}

#[test]
fn sense_returns_the_unit_checks_bytes_once() {
    let v = volume("sense", 1, &payload(100));
    let mut d = open(&v);
    d.command(0x63, Transfer::Control);
    let (r, s) = read(&mut d, cmd::SENSE, 32);
    assert_eq!(
        r,
        Response {
            dstat: CE_DE,
            len: 32
        }
    );
    assert_eq!(s[0], sense::COMMAND_REJECT);
    let (_, s) = read(&mut d, cmd::SENSE, 32);
    assert_eq!(s, [0u8; 32]);
}

#[test]
fn write_data_without_a_search_is_rejected() {
    let v = volume("wnosearch", 1, &payload(4096));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    let r = d.command(cmd::WRITE_DATA, Transfer::Write(&[0; 4096]));
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
}

#[test]
fn write_data_of_a_different_length_is_rejected_and_leaves_the_record() {
    let p = payload(4096);
    let v = volume("wlen", 1, &p);
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 4);
    let r = d.command(cmd::WRITE_DATA, Transfer::Write(&[0xaa; 4000]));
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[0], sense::COMMAND_REJECT);
    let img = CkdImage::open(v.path(), false).unwrap();
    assert_eq!(img.read_track(0, 0).unwrap().records[4].data, p);
}

#[test]
fn write_data_to_a_read_only_image_is_file_protected() {
    let v = volume("wro", 1, &payload(4096));
    let mut d = Dasd::open(v.path(), false).unwrap();
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 4);
    let r = d.command(cmd::WRITE_DATA, Transfer::Write(&[0xaa; 4096]));
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[1], sense::FILE_PROTECTED);
}

#[test]
fn reset_drops_the_orientation() {
    let v = volume("reset", 1, &payload(4096));
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 4);
    d.reset();
    let r = d.command(cmd::WRITE_DATA, Transfer::Write(&[0xaa; 4096]));
    assert_eq!(r.dstat, UC, "the search before the reset no longer counts");
}

#[test]
fn write_data_through_the_channel_persists_across_reopening_the_image() {
    let v = volume("persist", 1, &payload(3 * 4096));
    let new: Vec<u8> = (0..4096).map(|i| (i % 13) as u8).collect();
    {
        let r = dasd_rig(v.path(), true);
        r.mem.write(0x30, &[0, 0, 0, 0, 0, 0]);
        r.mem.write(0x38, &[0, 0, 0, 0, 5]);
        r.mem.write(0x4000, &new);
        put_ccws(
            &r.mem,
            0x100,
            &[
                ccw1(0x07, 0x40, 6, 0x30),
                ccw1(0x31, 0x40, 5, 0x38),
                ccw1(0x08, 0, 0, 0x108),
                ccw1(0x05, 0, 4096, 0x4000),
            ],
        );
        assert_eq!(ssch(&r.fd, orb(0, F | P, 0xff, 0x100)), Ok(124));
        let (_, sc, _, ds, cs, count) = scsw(&irb(&r.fd));
        assert_eq!((sc, ds, cs, count), (SC_FINAL, CE_DE, 0, 0));
    }
    let mut d = open(&v);
    seek(&mut d, 0, 0);
    find(&mut d, 0, 0, 5);
    let (_, buf) = read(&mut d, cmd::READ_DATA, 4096);
    assert_eq!(buf, new);
}

#[test]
fn read_ipl_of_a_volume_without_record_1_is_no_record_found() {
    let s = Scratch::new("blank");
    let mut d = Dasd::new(CkdImage::create(s.path(), 1).unwrap());
    let (r, _) = read(&mut d, cmd::READ_IPL, 24);
    assert_eq!(r.dstat, UC);
    assert_eq!(d.sense()[1], sense::NO_RECORD_FOUND);
}
