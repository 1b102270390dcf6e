// SPDX-License-Identifier: GPL-2.0-or-later
//! What opening a Hercules CKD image checks: the header as dasdinit writes
//! it, and every track, before any channel program runs.

mod common;

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use vfio_ccw_sim::ckd::{CkdImage, HEADER_SIZE, TRACK_SIZE_3390};

const TRK: u64 = TRACK_SIZE_3390 as u64;

/// A freshly created image, removed on drop.
struct Image(PathBuf);

impl Image {
    fn new(name: &str, cylinders: u32) -> Image {
        let path =
            std::env::temp_dir().join(format!("vfio-ccw-dasd-img-{}-{name}", std::process::id()));
        CkdImage::create(&path, cylinders).expect("create");
        Image(path)
    }

    fn patch(&self, at: u64, bytes: &[u8]) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.0)
            .unwrap();
        f.write_all_at(bytes, at).unwrap();
    }

    fn open_error(&self) -> String {
        let e = CkdImage::open(&self.0)
            .expect_err("the image must be refused")
            .to_string();
        assert!(
            e.contains(&self.0.display().to_string()),
            "names the file: {e}"
        );
        e
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_created_image_has_the_header_and_tracks_dasdinit_writes() {
    let img = Image::new("layout.3390", 2);
    let bytes = std::fs::read(&img.0).unwrap();
    assert_eq!(bytes.len() as u64, HEADER_SIZE as u64 + 30 * TRK);
    // Checked against `dasdinit -a x.3390 3390-1 VOL001 10` (Hercules 3.13):
    // heads 15 and track size 0xde00 little-endian, device type 0x90,
    // file sequence and high cylinder 0.
    assert_eq!(&bytes[0..8], b"CKD_P370");
    assert_eq!(
        &bytes[8..20],
        &[15, 0, 0, 0, 0x00, 0xde, 0, 0, 0x90, 0, 0, 0]
    );
    assert!(bytes[20..512].iter().all(|&b| b == 0));
    let last = HEADER_SIZE + 29 * TRACK_SIZE_3390 as usize;
    assert_eq!(
        &bytes[last..last + 29],
        &[
            0, 0, 1, 0, 14, // cylinder 1 head 14
            0, 1, 0, 14, 0, 0, 0, 8, // R0's count
            0, 0, 0, 0, 0, 0, 0, 0, // R0's data
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ]
    );
}

#[test]
fn a_track_header_naming_another_track_is_refused_at_open() {
    let img = Image::new("header.3390", 1);
    img.patch(HEADER_SIZE as u64 + 7 * TRK + 4, &[3]);
    let e = img.open_error();
    assert!(e.contains("track 0/7 has the header"), "{e}");
}

#[test]
fn a_record_running_past_its_track_is_refused_at_open() {
    let img = Image::new("chain.3390", 1);
    // R0's data length on head 12 becomes 0xffff.
    img.patch(HEADER_SIZE as u64 + 12 * TRK + 5 + 6, &[0xff, 0xff]);
    let e = img.open_error();
    assert!(e.contains("track 0/12: record 0 runs past the end"), "{e}");
}

#[test]
fn a_track_without_its_end_marker_is_refused_at_open() {
    let img = Image::new("eot.3390", 1);
    // Empty R1 counts fill head 2 from after R0 to the end.
    let counts: Vec<u8> = [0u8, 0, 0, 2, 1, 0, 0, 0]
        .into_iter()
        .cycle()
        .take(TRACK_SIZE_3390 as usize - 21)
        .collect();
    img.patch(HEADER_SIZE as u64 + 2 * TRK + 21, &counts);
    let e = img.open_error();
    assert!(e.contains("track 0/2: records run past the end"), "{e}");
}

#[test]
fn a_part_of_a_split_volume_is_refused() {
    let img = Image::new("split.3390", 1);
    img.patch(17, &[1]);
    assert!(img.open_error().contains("multi-file image"));
}

#[test]
fn an_image_of_another_device_type_is_refused() {
    let img = Image::new("3380.3390", 1);
    img.patch(16, &[0x80]);
    assert!(img.open_error().contains("expected 90 (a 3390)"));
}

#[test]
fn an_image_cut_inside_a_cylinder_is_truncated() {
    let img = Image::new("cut.3390", 2);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&img.0)
        .unwrap();
    f.set_len(HEADER_SIZE as u64 + 20 * TRK).unwrap();
    assert!(img.open_error().contains("truncated: 20 whole tracks"));
}

#[test]
fn a_track_size_too_small_for_a_3390_track_is_refused() {
    let img = Image::new("small-tracks.3390", 1);
    // 56700 bytes: one short of the header, R0, a 56664-byte record and
    // the end marker.
    img.patch(12, &56700u32.to_le_bytes());
    let e = img.open_error();
    assert!(
        e.contains("56700-byte tracks cannot hold a 3390 track (56701 bytes at least)"),
        "{e}"
    );
}

#[test]
fn a_created_blank_volume_is_byte_identical_to_dasdinit_raw() {
    let img = Image::new("blank-ours.3390", 3);
    let theirs = img.0.with_extension("dasdinit");
    if !common::dasdinit(&[
        "-r".as_ref(),
        theirs.as_os_str(),
        "3390".as_ref(),
        "3".as_ref(),
    ]) {
        return;
    }
    let (ours, herc) = (std::fs::read(&img.0).unwrap(), std::fs::read(&theirs));
    let _ = std::fs::remove_file(&theirs);
    let herc = herc.unwrap();
    assert_eq!(ours.len(), herc.len());
    let first_difference = ours.iter().zip(&herc).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "the images differ");
}
