// SPDX-License-Identifier: GPL-2.0-or-later
//! The 3390: its CKD image, its commands, and an IPL volume read the way
//! QEMU's s390-ccw firmware reads it (pc-bios/s390-ccw/dasd-ipl.c).

mod common;

use std::path::PathBuf;

use common::*;
use vfio_ccw_sim::ccw_device::{dstat, CcwDevice, Transfer};
use vfio_ccw_sim::ckd::CkdImage;
use vfio_ccw_sim::dasd::*;
use vfio_ccw_sim::ipl::{make_ipl_volume, Payload, IPL2_ADDRESS};
use vfio_ccw_sim::{Kernel, SimConfig, DMA_READ, DMA_WRITE};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vfio-ccw-dasd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn payload_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

fn ipl_volume(name: &str, payload: &[u8]) -> PathBuf {
    let path = scratch(name);
    let payload = Payload {
        bytes: payload,
        load_address: 0x20000,
        entry: 0x20000,
    };
    make_ipl_volume(&path, 3, "IPL001", &payload).expect("make the IPL volume");
    path
}

/// Runs one format-0 channel program at `cpa` and returns the IRB's SCSW
/// (byte 2, byte 3, cpa, dstat, cstat, count).
fn run(fd: &SimDeviceFdRef<'_>, cpa: u32) -> (u8, u8, u32, u8, u8, u16) {
    ssch(fd.0, orb(0, P, 0xff, cpa)).expect("start");
    scsw(&irb(fd.0))
}

struct SimDeviceFdRef<'a>(&'a dyn vfio_ccw_uapi::device_fd::DeviceFd);

#[test]
fn an_ipl_volume_boots_the_way_the_firmware_reads_it() {
    let program = payload_bytes(9000);
    let path = ipl_volume("boot.3390", &program);
    let kernel = Kernel::new(
        SimConfig::default(),
        Box::new(Dasd3390::open(&path).unwrap()),
    );
    let mem = GuestMem::new(GUEST_SIZE);
    kernel
        .dma_map(0, mem.addr(), GUEST_SIZE as u64, DMA_READ | DMA_WRITE)
        .unwrap();
    let device = kernel.open_device().unwrap();
    let fd = SimDeviceFdRef(&device);

    // Read IPL at address 0 reads IPL1 over it.
    put_ccws(&mem, 0, &[ccw0(CMD_READ_IPL, 0, 24, 0)]);
    let (_, _, _, dev, chan, residual) = run(&fd, 0);
    assert_eq!((dev, chan, residual), (CE_DE, 0, 0));
    let ipl1 = mem.read(0, 24);
    assert_eq!(ipl1[8], 0x06, "IPL1's first CCW reads IPL2");
    assert_eq!(ipl1[16], 0x08, "IPL1's second CCW is a TIC");
    let ipl2_address = u32::from_be_bytes([0, ipl1[17], ipl1[18], ipl1[19]]);
    assert_eq!(ipl2_address, IPL2_ADDRESS);

    // The firmware's fixup: Seek 0/0, Search record 2, TIC back, IPL1's
    // Read with chaining off.
    let mut read = [0u8; 8];
    read.copy_from_slice(&ipl1[8..16]);
    read[4] &= !0x40;
    put_ccws(
        &mem,
        0x08,
        &[
            ccw0(CMD_SEEK, 0x40, 6, 0x30),
            ccw0(CMD_SEARCH_ID_EQUAL, 0x40, 5, 0x38),
            ccw0(0x08, 0, 0, 0x10),
            read,
        ],
    );
    mem.write(0x30, &[0; 8]);
    mem.write(0x38, &[0, 0, 0, 0, 2, 0, 0, 0]);
    let (_, _, _, dev, chan, _) = run(&fd, 0x08);
    assert_eq!((dev, chan), (CE_DE, 0));

    // IPL2 loads the program where IPL1's PSW will find it.
    let (_, _, _, dev, chan, residual) = run(&fd, IPL2_ADDRESS);
    assert_eq!((dev, chan, residual), (CE_DE, 0, 0));
    assert_eq!(mem.read(0x20000, program.len()), program);
    assert_eq!(
        &ipl1[0..8],
        &[0x00, 0x08, 0x00, 0x00, 0x80, 0x02, 0x00, 0x00],
        "ESA/390 PSW at the entry"
    );
}

#[test]
fn sense_id_identifies_a_3390_on_a_3990() {
    let path = ipl_volume("senseid.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    let mut buf = [0u8; 256];
    let r = dasd.command(CMD_SENSE_ID, Transfer::Read(&mut buf));
    assert_eq!(
        (r.dstat, r.len),
        (CE_DE, 12),
        "the basic seven bytes, a reserved byte and one CIW"
    );
    assert_eq!(&buf[..7], &[0xff, 0x39, 0x90, 0xe9, 0x33, 0x90, 0x0c]);
}

#[test]
fn search_id_equal_matches_with_status_modifier() {
    let path = ipl_volume("search.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    dasd.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    let mut statuses = Vec::new();
    loop {
        let r = dasd.command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&[0, 0, 0, 0, 2]));
        statuses.push(r.dstat);
        if r.dstat & dstat::STATUS_MODIFIER != 0 || statuses.len() > 10 {
            break;
        }
    }
    assert_eq!(
        statuses,
        [CE_DE, CE_DE, CE_DE | dstat::STATUS_MODIFIER],
        "R0, R1, then R2 matches"
    );
}

#[test]
fn a_search_past_the_index_point_twice_is_no_record_found() {
    let path = ipl_volume("nrf.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    dasd.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    let mut checks = 0;
    for _ in 0..20 {
        let r = dasd.command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&[0, 0, 0, 0, 99]));
        assert_eq!(r.dstat & dstat::STATUS_MODIFIER, 0);
        if r.dstat & dstat::UNIT_CHECK != 0 {
            checks += 1;
            break;
        }
    }
    assert_eq!(checks, 1);
    assert_eq!(dasd.sense()[1], SENSE1_NO_RECORD_FOUND);
    let mut sense = [0u8; 32];
    dasd.command(CMD_SENSE, Transfer::Read(&mut sense));
    assert_eq!(sense[1], SENSE1_NO_RECORD_FOUND, "Sense returns it");
}

#[test]
fn a_seek_beyond_the_volume_is_rejected() {
    let path = ipl_volume("seek.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    let r = dasd.command(CMD_SEEK, Transfer::Write(&[0, 0, 0, 3, 0, 0]));
    assert_ne!(r.dstat & dstat::UNIT_CHECK, 0);
    assert_eq!(dasd.sense()[0], SENSE0_COMMAND_REJECT);
}

#[test]
fn an_unknown_command_is_rejected() {
    let path = ipl_volume("reject.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    let r = dasd.command(0x77, Transfer::Control);
    assert_eq!(r.dstat, CE_DE | dstat::UNIT_CHECK);
    assert_eq!(dasd.sense()[0], SENSE0_COMMAND_REJECT);
}

/// Seeks track 0 and searches until `id` is found (status modifier).
fn find_on_track_0(dasd: &mut Dasd3390, id: &[u8; 5]) {
    dasd.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    while dasd.command(CMD_SEARCH_ID_EQUAL, Transfer::Write(id)).dstat & dstat::STATUS_MODIFIER == 0
    {
    }
}

#[test]
fn write_data_persists_across_reopen() {
    let path = ipl_volume("write.3390", &[1; 16]);
    let record = [0, 0, 0, 0, 4];
    {
        let mut dasd = Dasd3390::open(&path).unwrap();
        find_on_track_0(&mut dasd, &record);
        let r = dasd.command(CMD_WRITE_DATA, Transfer::Write(b"persisted bytes!"));
        assert_eq!((r.dstat, r.len), (CE_DE, 16));
    }
    let mut dasd = Dasd3390::open(&path).unwrap();
    find_on_track_0(&mut dasd, &record);
    let mut buf = [0u8; 16];
    dasd.command(CMD_READ_DATA, Transfer::Read(&mut buf));
    assert_eq!(&buf, b"persisted bytes!");
}

#[test]
fn write_data_without_a_search_is_rejected() {
    let path = ipl_volume("nowrite.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    let r = dasd.command(CMD_WRITE_DATA, Transfer::Write(&[0; 16]));
    assert_ne!(r.dstat & dstat::UNIT_CHECK, 0);
}

#[test]
fn read_count_key_data_returns_the_whole_record() {
    let path = ipl_volume("ckd.3390", &[1; 16]);
    let mut dasd = Dasd3390::open(&path).unwrap();
    dasd.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    let mut buf = [0u8; 64];
    let r0 = dasd.command(CMD_READ_CKD, Transfer::Read(&mut buf));
    assert_eq!(r0.len, 8 + 8, "R0: count and 8 data bytes");
    let r1 = dasd.command(CMD_READ_CKD, Transfer::Read(&mut buf));
    assert_eq!(r1.len, 8 + 4 + 24);
    assert_eq!(&buf[..8], &[0, 0, 0, 0, 1, 4, 0, 24]);
    assert_eq!(&buf[8..12], &[0xc9, 0xd7, 0xd3, 0xf1], "key IPL1 in EBCDIC");
}

#[test]
fn a_truncated_image_is_refused_naming_the_file() {
    let path = ipl_volume("truncated.3390", &[1; 16]);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 1000).unwrap();
    let error = Dasd3390::open(&path).err().expect("refused").to_string();
    assert!(
        error.starts_with(&format!("dasd image {}: truncated", path.display())),
        "{error}"
    );
}

#[test]
fn a_compressed_image_is_refused_with_advice() {
    let path = scratch("compressed.3390");
    let mut bytes = vec![0u8; 4096];
    bytes[..8].copy_from_slice(b"CKD_C370");
    std::fs::write(&path, bytes).unwrap();
    let error = CkdImage::open(&path).expect_err("refused").to_string();
    assert!(error.contains("compressed"), "{error}");
}

#[test]
fn a_file_that_is_not_an_image_is_refused() {
    let path = scratch("text.3390");
    std::fs::write(&path, vec![b'x'; 1024]).unwrap();
    let error = CkdImage::open(&path).expect_err("refused").to_string();
    assert!(error.contains("not a CKD image"), "{error}");
}

#[test]
fn a_volume_made_by_hercules_dasdinit_reads_its_label() {
    let path = scratch("hercules.3390");
    if !dasdinit(&[
        path.as_os_str(),
        "3390-1".as_ref(),
        "HER001".as_ref(),
        "10".as_ref(),
    ]) {
        return;
    }
    let image = CkdImage::open(&path).expect("our reader opens dasdinit's volume");
    assert_eq!(image.cylinders, 10);
    let mut dasd = Dasd3390::open(&path).unwrap();
    dasd.command(CMD_SEEK, Transfer::Write(&[0; 6]));
    while dasd
        .command(CMD_SEARCH_ID_EQUAL, Transfer::Write(&[0, 0, 0, 0, 3]))
        .dstat
        & dstat::STATUS_MODIFIER
        == 0
    {}
    let mut label = [0u8; 80];
    dasd.command(CMD_READ_DATA, Transfer::Read(&mut label));
    assert_eq!(&label[..4], &[0xe5, 0xd6, 0xd3, 0xf1], "VOL1");
    assert_eq!(
        &label[4..10],
        &[0xc8, 0xc5, 0xd9, 0xf0, 0xf0, 0xf1],
        "HER001 in EBCDIC"
    );
}
