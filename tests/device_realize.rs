// SPDX-License-Identifier: GPL-2.0-or-later
//! Realize against kernels of every vintage and against a kernel that
//! fails: what is required, what is optional, and the messages.

mod common;

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use qemu_vfio_ccw::irq::Irq;
use vfio_ccw_sim::{FaultScript, KernelProfile, SimConfig};

fn kernel(profile: KernelProfile) -> SimConfig {
    SimConfig {
        profile,
        ..SimConfig::default()
    }
}

fn faults(text: &str) -> SimConfig {
    SimConfig {
        faults: FaultScript::parse(text).expect("fault script"),
        ..SimConfig::default()
    }
}

fn realize_error(config: SimConfig) -> String {
    let guest = Guest::new(config);
    match Device::realize(guest.fd(), "0.0.0313", Config::default()) {
        Ok(_) => panic!("realize succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_5_8_kernel_has_no_request_irq_and_the_device_still_realizes() {
    let guest = Guest::new(kernel(KernelProfile::V5_8));
    let device = guest.realize(Config::default());
    assert!(device.irq_fd(Irq::Req).is_none());
    assert!(device.irq_fd(Irq::Crw).is_some());
}

#[test]
fn a_5_2_kernel_has_no_schib_or_crw_region_and_no_crw_irq() {
    let guest = Guest::new(kernel(KernelProfile::V5_2));
    let mut device = guest.realize(Config::default());
    let regions = device.regions();
    assert!(regions.async_cmd.is_some());
    assert!(regions.schib.is_none() && regions.crw.is_none());
    assert!(device.irq_fd(Irq::Crw).is_none());
    let out = device.store(&started_schib());
    assert_eq!(
        (out.ret, out.actions),
        (0, 0),
        "STSCH without a SCHIB region changes nothing"
    );
    assert_eq!(device.crw_interrupt(&mut [Crw::default(); 2]), 0);
}

#[test]
fn a_4_12_kernel_has_no_async_region_so_css_emulates_halt_and_clear() {
    let guest = Guest::new(kernel(KernelProfile::V4_12));
    let mut device = guest.realize(Config::default());
    assert_eq!(device.halt(&started_schib(), CPA).ret, -libc::ENOSYS);
    assert_eq!(device.clear(&started_schib(), CPA).ret, -libc::ENOSYS);
}

#[test]
fn force_orb_pfch_makes_a_pre_5_8_kernel_run_a_non_prefetch_orb() {
    for (force, expect_unit_exception) in [(false, true), (true, false)] {
        let mut guest = Guest::new(kernel(KernelProfile::V5_2));
        guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
        let mut device = guest.realize(Config {
            force_orb_pfch: force,
        });
        let mut no_pfch = orb(CPA);
        no_pfch.ctrl0 &= !ORB_CTRL0_MASK_PFCH;
        let out = device.start(&no_pfch, &started_schib(), CPA);
        assert_eq!(out.ret, 0);
        let unit_exception = { out.schib.scsw.dstat } == SCSW_DSTAT_UNIT_EXCEP;
        assert_eq!(
            unit_exception, expect_unit_exception,
            "force-orb-pfch={force}"
        );
    }
}

#[test]
fn realize_fails_naming_the_device_when_the_io_irq_cannot_be_connected() {
    let message = realize_error(faults("set-irqs #1 fail EINVAL"));
    assert_eq!(
        message,
        "vfio-ccw 0.0.0313: cannot connect the I/O interrupt (VFIO_DEVICE_SET_IRQS): Invalid argument"
    );
}

#[test]
fn realize_fails_when_the_crw_irq_cannot_be_connected_and_releases_the_io_irq() {
    let guest = Guest::new(faults("set-irqs #2 fail EINVAL"));
    let error = Device::realize(guest.fd(), "0.0.0313", Config::default())
        .err()
        .expect("realize fails");
    assert!(
        error
            .to_string()
            .contains("cannot connect the CRW interrupt"),
        "{error}"
    );
    let stats = guest.kernel.stats();
    assert_eq!(stats.ops.set_irqs, 3, "connect I/O, fail CRW, release I/O");
}

#[test]
fn realize_succeeds_without_the_request_irq_when_connecting_it_fails() {
    let guest = Guest::new(faults("set-irqs #3 fail EINVAL"));
    let device = guest.realize(Config::default());
    assert!(device.irq_fd(Irq::Req).is_none());
    assert!(device.irq_fd(Irq::Io).is_some());
}

#[test]
fn realize_fails_on_a_capability_chain_that_loops() {
    let message = realize_error(faults("region-info corrupt-caps loop always"));
    assert!(
        message.starts_with("vfio-ccw 0.0.0313: region "),
        "{message}"
    );
    assert!(message.contains("corrupt capability chain"), "{message}");
}

#[test]
fn realize_fails_on_a_capability_beyond_the_reply() {
    for how in ["outside", "bad-offset"] {
        let message = realize_error(faults(&format!("region-info corrupt-caps {how} always")));
        assert!(
            message.contains("corrupt capability chain"),
            "{how}: {message}"
        );
    }
}

#[test]
fn a_capability_of_an_unknown_kind_hides_its_region_like_upstream() {
    let guest = Guest::new(faults("region-info corrupt-caps wrong-id always"));
    let device = guest.realize(Config::default());
    let regions = device.regions();
    assert!(regions.async_cmd.is_none() && regions.schib.is_none() && regions.crw.is_none());
}

#[test]
fn realize_fails_when_region_info_fails() {
    let message = realize_error(faults("region-info #1 fail EIO"));
    assert_eq!(
        message,
        "vfio-ccw 0.0.0313: cannot query region 0 (VFIO_DEVICE_GET_REGION_INFO): I/O error"
    );
}

#[test]
fn realize_fails_when_the_device_cannot_be_queried() {
    let message = realize_error(faults("device-info #1 fail ENODEV"));
    assert!(message.contains("VFIO_DEVICE_GET_INFO"), "{message}");
}

#[test]
fn realize_fails_when_the_io_irq_cannot_be_queried() {
    let message = realize_error(faults("irq-info #1 fail EINVAL"));
    assert!(
        message.contains("cannot query the I/O interrupt"),
        "{message}"
    );
}

/// A kernel whose region `index` reports `size` bytes.
struct ResizesRegion {
    index: u32,
    size: u64,
}

impl Hook for ResizesRegion {
    fn get_region_info(
        &self,
        fd: &dyn qemu_vfio_ccw::kernel::DeviceFd,
        buf: &mut [u8],
    ) -> Result<(), nix::errno::Errno> {
        fd.get_region_info(buf)?;
        if buf[8..12] == self.index.to_ne_bytes() {
            buf[16..24].copy_from_slice(&self.size.to_ne_bytes());
        }
        Ok(())
    }
}

#[test]
fn realize_fails_naming_a_region_of_the_wrong_size() {
    let guest = Guest::new(SimConfig::default());
    let schib_index = guest
        .realize(Config::default())
        .regions()
        .schib
        .unwrap()
        .index;
    for (index, expected) in [
        (0, "vfio-ccw 0.0.0313: I/O region is 12 bytes, expected 124"),
        (
            schib_index,
            "vfio-ccw 0.0.0313: SCHIB region is 12 bytes, expected 52",
        ),
    ] {
        let fd = Hooked::boxed(guest.fd(), ResizesRegion { index, size: 12 });
        let error = Device::realize(fd, "0.0.0313", Config::default())
            .err()
            .expect("realize fails");
        assert_eq!(error.to_string(), expected);
    }
}

/// A kernel whose GET_REGION_INFO fails for region `index`.
struct RegionInfoFails {
    index: u32,
}

impl Hook for RegionInfoFails {
    fn get_region_info(
        &self,
        fd: &dyn qemu_vfio_ccw::kernel::DeviceFd,
        buf: &mut [u8],
    ) -> Result<(), nix::errno::Errno> {
        if buf[8..12] == self.index.to_ne_bytes() {
            return Err(nix::errno::Errno::EIO);
        }
        fd.get_region_info(buf)
    }
}

#[test]
fn a_failing_region_query_at_an_optional_index_skips_that_region_like_upstream() {
    let guest = Guest::new(SimConfig::default());
    let crw_index = guest
        .realize(Config::default())
        .regions()
        .crw
        .unwrap()
        .index;
    let fd = Hooked::boxed(guest.fd(), RegionInfoFails { index: crw_index });
    let device = Device::realize(fd, "0.0.0313", Config::default()).expect("realize");
    let regions = device.regions();
    assert!(regions.crw.is_none(), "the failing index is skipped");
    assert!(regions.async_cmd.is_some() && regions.schib.is_some());
    assert!(
        device.irq_fd(Irq::Crw).is_none(),
        "no CRW interrupt without its region, as on a kernel that has none"
    );
}

/// A kernel that claims `num_regions` regions and counts the region
/// queries it gets.
struct ClaimsRegions {
    num_regions: u32,
    queries: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Hook for ClaimsRegions {
    fn get_device_info(
        &self,
        fd: &dyn qemu_vfio_ccw::kernel::DeviceFd,
        info: &mut qemu_vfio_ccw::uapi::vfio_device_info,
    ) -> Result<(), nix::errno::Errno> {
        fd.get_device_info(info)?;
        info.num_regions = self.num_regions;
        Ok(())
    }
    fn get_region_info(
        &self,
        fd: &dyn qemu_vfio_ccw::kernel::DeviceFd,
        buf: &mut [u8],
    ) -> Result<(), nix::errno::Errno> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        fd.get_region_info(buf)
    }
}

#[test]
fn a_device_claiming_2_to_the_32_regions_is_walked_only_up_to_the_bound() {
    let guest = Guest::new(SimConfig::default());
    let queries = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let hook = ClaimsRegions {
        num_regions: u32::MAX,
        queries: queries.clone(),
    };
    let device = Device::realize(
        Hooked::boxed(guest.fd(), hook),
        "0.0.0313",
        Config::default(),
    )
    .expect("the regions that exist are found; the indexes the kernel refuses are skipped");
    assert!(device.regions().crw.is_some());
    let queries = queries.load(std::sync::atomic::Ordering::Relaxed);
    // Each index is asked once, or twice when its capability chain needs
    // a larger buffer; index 0 is asked before the walk.
    assert!(
        queries <= 2 * (qemu_vfio_ccw::regions::MAX_REGIONS + 1),
        "{queries} region queries"
    );
}
