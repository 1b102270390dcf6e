// SPDX-License-Identifier: GPL-2.0-or-later
//! VFIO_IOMMU_MAP_DMA / UNMAP_DMA as type1 answers them, and the profile
//! differences in channel-program translation.

mod common;
use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::{IommuModel, KernelProfile, SimConfig, DMA_READ, DMA_WRITE};

const RW: u32 = DMA_READ | DMA_WRITE;

#[test]
fn map_dma_needs_page_aligned_arguments_and_a_direction() {
    let r = rig();
    let m = GuestMem::new(8192);
    let k = &r.kernel;
    assert_eq!(
        k.dma_map(0x20_0000, m.addr() + 1, 4096, RW),
        Err(Errno::EINVAL)
    );
    assert_eq!(k.dma_map(0x20_0001, m.addr(), 4096, RW), Err(Errno::EINVAL));
    assert_eq!(k.dma_map(0x20_0000, m.addr(), 100, RW), Err(Errno::EINVAL));
    assert_eq!(k.dma_map(0x20_0000, m.addr(), 4096, 0), Err(Errno::EINVAL));
    assert_eq!(k.dma_map(0x20_0000, m.addr(), 4096, 8), Err(Errno::EINVAL));
    assert_eq!(k.dma_map(0x20_0000, m.addr(), 8192, RW), Ok(()));
}

#[test]
fn overlapping_mappings_are_eexist() {
    let r = rig();
    let m = GuestMem::new(4096);
    assert_eq!(
        r.kernel.dma_map(0x1000, m.addr(), 4096, RW),
        Err(Errno::EEXIST)
    );
}

#[test]
fn unmap_removes_whole_mappings_and_refuses_to_cut_one() {
    let r = rig();
    assert_eq!(r.kernel.dma_unmap(0, 4096), Err(Errno::EINVAL));
    assert_eq!(
        r.kernel.dma_unmap(0, GUEST_SIZE as u64 * 2),
        Ok(GUEST_SIZE as u64)
    );
    assert_eq!(r.kernel.dma_unmap(0, GUEST_SIZE as u64), Ok(0));
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EINVAL));
}

#[test]
fn unmap_with_size_0_is_einval() {
    let r = rig();
    assert_eq!(r.kernel.dma_unmap(0, 0), Err(Errno::EINVAL));
}

#[test]
fn a_type1_v1_container_refuses_the_pins_of_a_program_with_data() {
    let r = rig();
    r.kernel.set_iommu_model(IommuModel::Type1V1);
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x3000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EACCES));
    // The CCWs themselves are read, not pinned: a program without data runs.
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
}

#[test]
fn unmapped_memory_under_iommufd_is_enoent() {
    let r = rig();
    r.kernel.set_iommu_model(IommuModel::Iommufd);
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x30_0000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::ENOENT));
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x30_0000)), Err(Errno::ENOENT));
}

#[test]
fn before_6_3_an_ida_ccw_with_format1_idaws_is_eopnotsupp() {
    let r = rig_with(SimConfig {
        profile: KernelProfile::V5_12,
        ..SimConfig::default()
    });
    r.mem.write(0x6000, &0x3000u32.to_be_bytes());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0x04, 80, 0x6000)]);
    assert_eq!(
        ssch(&r.fd, orb(0, F | P, 0, 0x1000)),
        Err(Errno::EOPNOTSUPP)
    );
}

#[test]
fn before_6_3_the_orb_key_is_forced_to_zero() {
    let mut o = orb(0, F | P, 0, 0x1000);
    o[4] = 0x30;
    for (profile, key) in [(KernelProfile::Current, 0x30), (KernelProfile::V5_12, 0)] {
        let r = rig_with(SimConfig {
            profile,
            ..SimConfig::default()
        });
        put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
        ssch(&r.fd, o).unwrap();
        assert_eq!(irb(&r.fd)[0] & 0xf0, key, "{profile:?}");
    }
}
