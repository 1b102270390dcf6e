// SPDX-License-Identifier: GPL-2.0-or-later
//! The byte-order boundary: QEMU's host-order structures against the exact
//! architecture (big-endian) bytes the regions carry. The same assertions
//! hold on little- and big-endian hosts, because they compare values with
//! values and bytes with bytes.

use qemu_vfio_ccw::css::{Crw, Esw, Irb, Orb, Pmcw, Schib, Scsw};

#[test]
fn byte_order_orb_is_big_endian_in_the_region() {
    let orb = Orb {
        intparm: 0x1122_3344,
        ctrl0: 0x0080 | 0x0040,
        lpm: 0xff,
        ctrl1: 0x80,
        cpa: 0x0007_d1e0,
    };
    assert_eq!(
        orb.to_be_bytes(),
        [0x11, 0x22, 0x33, 0x44, 0x00, 0xc0, 0xff, 0x80, 0x00, 0x07, 0xd1, 0xe0]
    );
}

#[test]
fn byte_order_orb_round_trips() {
    let orb = Orb {
        intparm: 0xdead_beef,
        ctrl0: 0xf0c2,
        lpm: 0x80,
        ctrl1: 0x01,
        cpa: 0x7fff_fff8,
    };
    assert_eq!(Orb::from_be_bytes(&orb.to_be_bytes()), orb);
}

#[test]
fn byte_order_scsw_fields_land_at_architecture_offsets() {
    let scsw = Scsw {
        flags: 0x0102,
        ctrl: 0x4007,
        cpa: 0x0000_1008,
        dstat: 0x0c,
        cstat: 0x40,
        count: 0x0123,
    };
    assert_eq!(
        scsw.to_be_bytes(),
        [0x01, 0x02, 0x40, 0x07, 0x00, 0x00, 0x10, 0x08, 0x0c, 0x40, 0x01, 0x23]
    );
}

#[test]
fn byte_order_irb_decodes_to_host_values() {
    let mut bytes = [0u8; 96];
    bytes[..12].copy_from_slice(&[
        0x00, 0x00, 0x40, 0x17, 0x00, 0x00, 0x20, 0x08, 0x0e, 0x00, 0x00, 0x10,
    ]);
    bytes[12..16].copy_from_slice(&[0xa0, 0xb0, 0xc0, 0xd0]);
    bytes[16..20].copy_from_slice(&[0x01, 0x00, 0x00, 0x00]);
    bytes[32] = 0x80;
    bytes[63] = 0x5a;
    let irb = Irb::from_be_bytes(&bytes);
    assert_eq!(irb.scsw.ctrl, 0x4017);
    assert_eq!(irb.scsw.cpa, 0x2008);
    assert_eq!(irb.scsw.dstat, 0x0e);
    assert_eq!(irb.scsw.count, 0x0010);
    let esw = irb.esw;
    assert_eq!({ esw.word0 }, 0xa0b0_c0d0);
    assert_eq!({ esw.erw }, 0x0100_0000);
    assert_eq!(irb.ecw[0], 0x80, "sense byte 0 stays byte 0");
    assert_eq!(irb.ecw[31], 0x5a);
    assert_eq!(irb.to_be_bytes(), bytes);
}

#[test]
fn byte_order_schib_path_masks_are_single_bytes_after_big_endian_words() {
    let schib = Schib {
        pmcw: Pmcw {
            intparm: 0x0102_0304,
            flags: 0x1881,
            devno: 0x1234,
            lpm: 0x80,
            pnom: 0x40,
            lpum: 0x20,
            pim: 0xc0,
            mbi: 0xabcd,
            pom: 0xff,
            pam: 0x80,
            chpid: [0x40, 0x41, 0, 0, 0, 0, 0, 0],
            chars: 0x0000_0001,
        },
        scsw: Scsw {
            flags: 0x0001,
            ..Scsw::default()
        },
        mba: 0x0102_0304_0506_0708,
        mda: [9, 10, 11, 12],
    };
    let bytes = schib.to_be_bytes();
    assert_eq!(&bytes[0..4], &[1, 2, 3, 4]);
    assert_eq!(&bytes[4..8], &[0x18, 0x81, 0x12, 0x34]);
    assert_eq!(
        &bytes[8..16],
        &[0x80, 0x40, 0x20, 0xc0, 0xab, 0xcd, 0xff, 0x80]
    );
    assert_eq!(&bytes[16..18], &[0x40, 0x41]);
    assert_eq!(&bytes[24..28], &[0, 0, 0, 1]);
    assert_eq!(&bytes[28..30], &[0x00, 0x01], "SCSW flags: N bit in byte 1");
    assert_eq!(&bytes[40..48], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&bytes[48..52], &[9, 10, 11, 12]);
    assert_eq!(Schib::from_be_bytes(&bytes), schib);
}

#[test]
fn byte_order_crw_of_a_path_coming_online() {
    // RSC 4 (channel path), ERC 2 (initialized), RSID = CHPID 0xcc.
    let crw = Crw::from_be_bytes(&[0x04, 0x02, 0x00, 0xcc]);
    assert_eq!(
        crw,
        Crw {
            flags: 0x0402,
            rsid: 0x00cc
        }
    );
    assert_eq!(crw.to_be_bytes(), [0x04, 0x02, 0x00, 0xcc]);
}

#[test]
fn zero_crw_means_queue_empty() {
    assert!(Crw::from_be_bytes(&[0; 4]).is_zero());
    assert!(!Crw::from_be_bytes(&[0, 0, 0, 1]).is_zero());
}

#[test]
fn byte_order_esw_is_packed_twenty_bytes() {
    assert_eq!(std::mem::size_of::<Esw>(), 20);
    assert_eq!(std::mem::size_of::<Schib>(), 52);
}
