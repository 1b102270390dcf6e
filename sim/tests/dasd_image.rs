// SPDX-License-Identifier: GPL-2.0-or-later
//! Hercules CKD images: what opening one checks, images Hercules'
//! dasdinit made, and the vfio-ccw-mkvol tool.

mod common;
mod dasd_common;

use std::process::Command;

use dasd_common::*;
use vfio_ccw_sim::ccw_device::{CcwDevice, Transfer};
use vfio_ccw_sim::ckd::{CkdImage, HEADER_SIZE, TRKSIZE_3390};
use vfio_ccw_sim::dasd::{cmd, Dasd};

fn open_err(s: &Scratch) -> String {
    CkdImage::open(s.path(), false)
        .expect_err("the image must be refused")
        .to_string()
}

fn patch(s: &Scratch, at: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.path())
        .unwrap();
    f.write_all_at(bytes, at).unwrap();
}

#[test]
fn a_created_image_has_dasdinits_header_and_r0_on_every_track() {
    let s = Scratch::new("create");
    CkdImage::create(s.path(), 2).unwrap();
    let bytes = std::fs::read(s.path()).unwrap();
    assert_eq!(bytes.len(), 512 + 30 * TRKSIZE_3390);
    assert_eq!(&bytes[0..8], b"CKD_P370");
    assert_eq!(
        &bytes[8..20],
        &[15, 0, 0, 0, 0x00, 0xde, 0, 0, 0x90, 0, 0, 0]
    );
    let t = 512 + 29 * TRKSIZE_3390;
    assert_eq!(
        &bytes[t..t + 29],
        &[
            0, 0, 1, 0, 14, // track header: cylinder 1 head 14
            0, 1, 0, 14, 0, 0, 0, 8, // R0 count
            0, 0, 0, 0, 0, 0, 0, 0, // R0 data
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]
    );
    let img = CkdImage::open(s.path(), false).unwrap();
    assert_eq!((img.cylinders(), img.heads()), (2, 15));
}

#[test]
fn a_truncated_image_is_refused_with_the_track_counts() {
    let s = Scratch::new("trunc");
    CkdImage::create(s.path(), 2).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.path())
        .unwrap();
    f.set_len(HEADER_SIZE + 20 * TRKSIZE_3390 as u64 + 100)
        .unwrap();
    let e = open_err(&s);
    assert!(
        e.contains(&format!("dasd image {}", s.path().display())),
        "{e}"
    );
    assert!(
        e.contains("truncated: 20 tracks present, expected 30"),
        "{e}"
    );
}

#[test]
fn a_high_cylinder_beyond_the_file_is_truncation() {
    let s = Scratch::new("highcyl");
    CkdImage::create(s.path(), 2).unwrap();
    patch(&s, 18, &4u16.to_le_bytes());
    assert!(open_err(&s).contains("truncated: 30 tracks present, expected 75"));
}

#[test]
fn a_file_that_is_not_a_ckd_image_is_refused() {
    let s = Scratch::new("magic");
    std::fs::write(s.path(), vec![0u8; 4096]).unwrap();
    assert!(open_err(&s).contains("not a Hercules CKD image"));
}

#[test]
fn a_compressed_cckd_image_is_refused_by_name() {
    let s = Scratch::new("cckd");
    CkdImage::create(s.path(), 1).unwrap();
    patch(&s, 0, b"CKD_C370");
    assert!(open_err(&s).contains("compressed CCKD image"));
}

#[test]
fn a_part_of_a_split_volume_is_refused() {
    let s = Scratch::new("split");
    CkdImage::create(s.path(), 1).unwrap();
    patch(&s, 17, &[1]);
    assert!(open_err(&s).contains("split multi-file volume"));
}

#[test]
fn a_device_type_other_than_3390_is_refused() {
    let s = Scratch::new("3380");
    CkdImage::create(s.path(), 1).unwrap();
    patch(&s, 16, &[0x80]);
    assert!(open_err(&s).contains("not a 3390"));
}

#[test]
fn a_track_header_naming_another_track_is_refused() {
    let s = Scratch::new("trkhdr");
    CkdImage::create(s.path(), 1).unwrap();
    patch(&s, HEADER_SIZE + 3 * TRKSIZE_3390 as u64 + 4, &[9]);
    let e = open_err(&s);
    assert!(e.contains("cylinder 0 head 3: bad track header"), "{e}");
}

#[test]
fn a_record_running_past_the_track_is_refused() {
    let s = Scratch::new("chain");
    CkdImage::create(s.path(), 1).unwrap();
    // R0's data length 0xffff.
    patch(&s, HEADER_SIZE + 5 + 6, &[0xff, 0xff]);
    let e = open_err(&s);
    assert!(e.contains("cylinder 0 head 0: record 0"), "{e}");
    assert!(e.contains("runs past the end of the track"), "{e}");
}

#[test]
fn a_second_r0_on_a_track_is_refused() {
    let s = Scratch::new("twor0");
    CkdImage::create(s.path(), 1).unwrap();
    // Zeros where the end marker was read as another R0 count.
    patch(&s, HEADER_SIZE + 21, &[0u8; 8]);
    let e = open_err(&s);
    assert!(
        e.contains("cylinder 0 head 0: record 1 is a second R0"),
        "{e}"
    );
}

#[test]
fn a_track_without_an_end_marker_is_refused() {
    let s = Scratch::new("noeot");
    CkdImage::create(s.path(), 1).unwrap();
    let slot = HEADER_SIZE + 2 * TRKSIZE_3390 as u64;
    // Empty R1 counts from after R0 to the end of the slot.
    let counts: Vec<u8> = [0u8, 0, 0, 2, 1, 0, 0, 0]
        .iter()
        .copied()
        .cycle()
        .take(TRKSIZE_3390 - 21)
        .collect();
    patch(&s, slot + 21, &counts);
    let e = open_err(&s);
    assert!(
        e.contains("cylinder 0 head 2: record chain runs past the end of the track"),
        "{e}"
    );
}

#[test]
fn a_dasdinit_image_opens_and_its_ipl_record_and_label_read() {
    if !have_dasdinit("a_dasdinit_image_opens_and_its_ipl_record_and_label_read") {
        return;
    }
    let s = Scratch::new("dasdinit");
    let out = Command::new("dasdinit")
        .args(["-a"])
        .arg(s.path())
        .args(["3390-1", "HER001", "3"])
        .output()
        .expect("run dasdinit");
    assert!(out.status.success(), "dasdinit: {out:?}");
    let mut d = Dasd::open(s.path(), true).expect("open the dasdinit image");
    assert_eq!(d.image().cylinders(), 3);

    let mut ipl1 = [0u8; 24];
    let r = d.command(cmd::READ_IPL, Transfer::Read(&mut ipl1));
    assert_eq!(r.len, 24, "dasdinit's IPL1 is 24 bytes");

    // The record after IPL2 is the VOL1 label with the volume serial.
    let mut ckd = [0u8; 8 + 4 + 80];
    let mut ipl2 = vec![0u8; 1024];
    d.command(cmd::READ_DATA, Transfer::Read(&mut ipl2));
    let r = d.command(cmd::READ_CKD, Transfer::Read(&mut ckd));
    assert_eq!(r.len, 92);
    assert_eq!(&ckd[0..8], &[0, 0, 0, 0, 3, 4, 0, 80]);
    // "VOL1HER001" in EBCDIC.
    assert_eq!(
        &ckd[12..22],
        &[0xe5, 0xd6, 0xd3, 0xf1, 0xc8, 0xc5, 0xd9, 0xf0, 0xf0, 0xf1]
    );
}

#[test]
fn mkvol_writes_a_volume_that_reads_back_its_payload() {
    let p = payload(20000);
    let input = Scratch::new("payload");
    std::fs::write(input.path(), &p).unwrap();
    let out = Scratch::new("mkvol");
    let st = Command::new(env!("CARGO_BIN_EXE_vfio-ccw-mkvol"))
        .args([
            "--cylinders",
            "1",
            "--load",
            "0x20000",
            "--entry",
            "0x20010",
        ])
        .arg(input.path())
        .arg(out.path())
        .status()
        .unwrap();
    assert!(st.success());
    let img = CkdImage::open(out.path(), false).unwrap();
    let t0 = img.read_track(0, 0).unwrap();
    let ipl1 = &t0.records[1].data;
    assert_eq!(&ipl1[4..8], &0x8002_0010u32.to_be_bytes());
    let data: Vec<u8> = t0.records[4..]
        .iter()
        .flat_map(|r| r.data.clone())
        .collect();
    assert_eq!(data, p);
}

#[test]
fn hercules_reads_a_mkvol_volume_as_far_as_a_dasdinit_one() {
    // dasdls opens the image, reads VOL1 on track 0 and follows its VTOC
    // pointer to track 1, which neither tool formats with a VTOC.
    if !have_dasdinit("hercules_reads_a_mkvol_volume_as_far_as_a_dasdinit_one") {
        return;
    }
    let v = volume("dasdls", 1, &payload(5000));
    let out = Command::new("dasdls").arg(v.path()).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("F4DSCB record not found"), "{text}");
}

#[test]
fn mkvol_refuses_a_payload_too_big_for_the_volume() {
    let input = Scratch::new("bigpayload");
    std::fs::write(input.path(), payload(200 * 4096)).unwrap();
    let out = Scratch::new("small");
    let o = Command::new(env!("CARGO_BIN_EXE_vfio-ccw-mkvol"))
        .args(["--cylinders", "1"])
        .arg(input.path())
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("needs 17 tracks; 1 cylinders have 15"), "{e}");
}

#[test]
fn a_track_whose_records_overflow_the_slot_is_not_written() {
    use vfio_ccw_sim::ckd::{Record, Track};
    let s = Scratch::new("overflow");
    let img = CkdImage::create(s.path(), 1).unwrap();
    let mut t = Track::formatted(0, 3);
    for r in 1..=14 {
        t.records.push(Record {
            cyl: 0,
            head: 3,
            rec: r,
            key: Vec::new(),
            data: vec![r; 4096],
        });
    }
    let e = img
        .write_track(&t)
        .expect_err("14 records of 4 KiB do not fit");
    assert!(
        e.to_string().contains("do not fit a 56832-byte track"),
        "{e}"
    );
    assert_eq!(img.read_track(0, 3).unwrap(), Track::formatted(0, 3));
}

#[test]
fn a_written_track_reads_back_equal() {
    use vfio_ccw_sim::ckd::{Record, Track};
    let s = Scratch::new("roundtrip");
    let img = CkdImage::create(s.path(), 1).unwrap();
    let mut t = Track::formatted(0, 9);
    t.records.push(Record {
        cyl: 0,
        head: 9,
        rec: 1,
        key: vec![1, 2, 3],
        data: vec![7; 300],
    });
    img.write_track(&t).unwrap();
    drop(img);
    let img = CkdImage::open(s.path(), false).unwrap();
    assert_eq!(img.read_track(0, 9).unwrap(), t);
}

fn spec_check(payload: &[u8], load_addr: u32, entry: u32) -> Result<(), String> {
    vfio_ccw_sim::ipl::check(&vfio_ccw_sim::ipl::IplSpec {
        cylinders: 100,
        volser: "V1",
        payload,
        load_addr,
        entry,
    })
}

#[test]
fn an_ipl_payload_must_end_below_16_mib() {
    let e = spec_check(&payload(8192), 0xfff000, 0xfff000).unwrap_err();
    assert!(e.contains("ends above 16 MiB"), "{e}");
    let e = spec_check(&payload(8192), u32::MAX - 10, 0x10000).unwrap_err();
    assert!(e.contains("ends above 16 MiB"), "{e}");
}

#[test]
fn an_ipl_payload_must_load_above_ipl2() {
    let e = spec_check(&payload(100), 0x2000, 0x2000).unwrap_err();
    assert!(e.contains("is below 0x2030, the end of IPL2"), "{e}");
}

#[test]
fn an_ipl_entry_point_must_be_31_bit() {
    let e = spec_check(&payload(100), 0x10000, 0x8000_0000).unwrap_err();
    assert!(e.contains("not a 31-bit address"), "{e}");
}

#[test]
fn an_ipl2_program_too_big_for_track_0_is_refused() {
    let e = spec_check(&payload(3000 * 4096), 0x10000, 0x10000).unwrap_err();
    assert!(e.contains("too big for track 0"), "{e}");
}
