// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390's command set beyond what IPL needs, one behaviour per test:
//! the sense messages of a command reject, the key/home-address/multitrack
//! reads, and write inhibit.

mod common;

use std::path::PathBuf;

use common::CE_DE;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::ckd::{append, CkdImage, Count};
use vfio_ccw_sim::dasd::*;

const UC: u8 = CE_DE | dstat::UNIT_CHECK;

/// A 2-cylinder volume, removed on drop. Cylinder 0 heads 0, 1 and 14
/// carry R1..R3 after R0: key two bytes of 0xA0 + record, data 100 bytes of
/// 16 * head + record, so every byte read names where it came from. Every
/// other track holds only R0.
struct Volume(PathBuf);

const RECORD_HEADS: [u16; 3] = [0, 1, 14];

impl Volume {
    fn new(name: &str) -> Volume {
        let path = std::env::temp_dir().join(format!(
            "vfio-ccw-dasd-cmd-{}-{name}.3390",
            std::process::id()
        ));
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

    fn open(&self) -> Dasd3390 {
        Dasd3390::open(&self.0).expect("open the volume")
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn data_byte(head: u16, record: u8) -> u8 {
    head as u8 * 16 + record
}

fn read(d: &mut Dasd3390, cmd: u8, len: usize) -> (u8, usize, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let r = d.command(cmd, Transfer::Read(&mut buf));
    (r.dstat, r.len, buf)
}

fn write(d: &mut Dasd3390, cmd: u8, arg: &[u8]) -> (u8, usize) {
    let r = d.command(cmd, Transfer::Write(arg));
    (r.dstat, r.len)
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

/// Sense bytes 0, 1 and 7: reject/check bits and the format-0 message.
fn sense_0_1_7(d: &Dasd3390) -> (u8, u8, u8) {
    let s = d.sense();
    (s[0], s[1], s[7])
}

// Sense byte 7: why a command was rejected.

#[test]
fn an_unknown_command_is_rejected_as_an_invalid_command() {
    let vol = Volume::new("msg-invalid-command");
    let mut d = vol.open();
    assert_eq!(d.command(0x63, Transfer::Write(&[0; 16])).dstat, UC);
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
    d.command(0x63, Transfer::Control);
    let (dstat, len, sense) = read(&mut d, CMD_SENSE, 32);
    assert_eq!((dstat, len), (CE_DE, 32));
    assert_eq!(
        (sense[0], sense[7]),
        (SENSE0_COMMAND_REJECT, SENSE7_INVALID_COMMAND)
    );
}
