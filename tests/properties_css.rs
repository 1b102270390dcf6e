// SPDX-License-Identifier: GPL-2.0-or-later
//! Property tests of the css decoders: whatever bytes a kernel leaves in a
//! region, decoding takes every one of them into a field and encoding
//! gives them back, so nothing is lost, invented or read out of bounds.
//! Cases per property: proptest's default (256), or `PROPTEST_CASES`.

use proptest::prelude::*;
use qemu_vfio_ccw::css::*;

proptest! {
    #[test]
    fn an_orb_image_decodes_and_encodes_back_to_the_same_bytes(bytes in any::<[u8; ORB_SIZE]>()) {
        prop_assert_eq!(Orb::from_be_bytes(&bytes).to_be_bytes(), bytes);
    }

    #[test]
    fn a_scsw_image_decodes_and_encodes_back_to_the_same_bytes(bytes in any::<[u8; SCSW_SIZE]>()) {
        prop_assert_eq!(Scsw::from_be_bytes(&bytes).to_be_bytes(), bytes);
    }

    #[test]
    fn a_schib_image_decodes_and_encodes_back_to_the_same_bytes(
        bytes in prop::collection::vec(any::<u8>(), SCHIB_SIZE)
    ) {
        let bytes: [u8; SCHIB_SIZE] = bytes.try_into().unwrap();
        prop_assert_eq!(Schib::from_be_bytes(&bytes).to_be_bytes(), bytes);
    }

    #[test]
    fn an_irb_image_decodes_and_encodes_back_to_the_same_bytes(
        bytes in prop::collection::vec(any::<u8>(), IRB_SIZE)
    ) {
        let bytes: [u8; IRB_SIZE] = bytes.try_into().unwrap();
        prop_assert_eq!(Irb::from_be_bytes(&bytes).to_be_bytes(), bytes);
    }

    #[test]
    fn a_crw_image_decodes_and_encodes_back_and_is_zero_only_when_all_bytes_are(
        bytes in any::<[u8; CRW_SIZE]>()
    ) {
        let crw = Crw::from_be_bytes(&bytes);
        prop_assert_eq!(crw.to_be_bytes(), bytes);
        prop_assert_eq!(crw.is_zero(), bytes == [0; CRW_SIZE]);
    }

    #[test]
    fn an_orb_in_host_order_encodes_and_decodes_back_to_the_same_fields(
        intparm in any::<u32>(), ctrl0 in any::<u16>(), lpm in any::<u8>(),
        ctrl1 in any::<u8>(), cpa in any::<u32>()
    ) {
        let orb = Orb { intparm, ctrl0, lpm, ctrl1, cpa };
        prop_assert_eq!(Orb::from_be_bytes(&orb.to_be_bytes()), orb);
    }
}
