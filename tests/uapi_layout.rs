// SPDX-License-Identifier: GPL-2.0-or-later
//! src/uapi.rs agrees with the system's <linux/vfio_ccw.h> and
//! <linux/vfio.h>: tests/c/uapi-layout.c prints the kernel headers'
//! numbers, this test compares them with ours.
//!
//! The program is built for the target the test runs on: the s390x lane
//! (scripts/test-s390x) sets QVC_TEST_CC to the s390x cross compiler, so
//! the s390x kernel headers are compared with the s390x build, and
//! QVC_TEST_RUNNER to the emulator the program needs to run.

// The ioctl numbers are c_ulong, which is u64 only on 64-bit hosts.
#![allow(clippy::useless_conversion)]

use std::collections::HashMap;
use std::process::Command;

use qemu_vfio_ccw::uapi::*;

fn kernel_header_values() -> HashMap<String, u64> {
    let root = env!("CARGO_MANIFEST_DIR");
    let exe = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("uapi-layout");
    let cc = std::env::var("QVC_TEST_CC")
        .or_else(|_| std::env::var("CC"))
        .unwrap_or_else(|_| "cc".into());
    let built = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(format!("{root}/tests/c/uapi-layout.c"))
        .status()
        .unwrap_or_else(|e| panic!("running {cc}: {e}"));
    assert!(
        built.success(),
        "tests/c/uapi-layout.c does not build (linux-libc-dev installed?)"
    );
    let runner = std::env::var("QVC_TEST_RUNNER").unwrap_or_default();
    let mut run = match runner.split_whitespace().collect::<Vec<_>>().split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let out = run
        .output()
        .unwrap_or_else(|e| panic!("running uapi-layout (runner {runner:?}): {e}"));
    assert!(
        out.status.success(),
        "uapi-layout failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn region_layouts_and_ioctl_numbers_match_the_kernel_headers() {
    let kernel = kernel_header_values();
    let ours: &[(&str, u64)] = &[
        ("io_region_size", IO_REGION_SIZE as u64),
        ("io_orb_offset", IO_ORB_OFFSET as u64),
        ("io_scsw_offset", IO_SCSW_OFFSET as u64),
        ("io_irb_offset", IO_IRB_OFFSET as u64),
        ("io_ret_code_offset", IO_RET_CODE_OFFSET as u64),
        ("cmd_region_size", CMD_REGION_SIZE as u64),
        (
            "cmd_ret_code_offset",
            std::mem::offset_of!(ccw_cmd_region, ret_code) as u64,
        ),
        ("schib_region_size", SCHIB_REGION_SIZE as u64),
        ("crw_region_size", CRW_REGION_SIZE as u64),
        ("async_cmd_hsch", VFIO_CCW_ASYNC_CMD_HSCH.into()),
        ("async_cmd_csch", VFIO_CCW_ASYNC_CMD_CSCH.into()),
        (
            "subtype_async_cmd",
            VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD.into(),
        ),
        ("subtype_schib", VFIO_REGION_SUBTYPE_CCW_SCHIB.into()),
        ("subtype_crw", VFIO_REGION_SUBTYPE_CCW_CRW.into()),
        ("region_type_ccw", VFIO_REGION_TYPE_CCW.into()),
        ("config_region_index", VFIO_CCW_CONFIG_REGION_INDEX.into()),
        ("io_irq_index", VFIO_CCW_IO_IRQ_INDEX.into()),
        ("crw_irq_index", VFIO_CCW_CRW_IRQ_INDEX.into()),
        ("req_irq_index", VFIO_CCW_REQ_IRQ_INDEX.into()),
        ("device_flags_ccw", VFIO_DEVICE_FLAGS_CCW.into()),
        ("region_info_size", REGION_INFO_SIZE as u64),
        ("irq_set_size", IRQ_SET_HEADER_SIZE as u64),
        ("get_api_version", VFIO_GET_API_VERSION.into()),
        ("group_get_device_fd", VFIO_GROUP_GET_DEVICE_FD.into()),
        ("device_get_info", VFIO_DEVICE_GET_INFO.into()),
        ("device_get_region_info", VFIO_DEVICE_GET_REGION_INFO.into()),
        ("device_get_irq_info", VFIO_DEVICE_GET_IRQ_INFO.into()),
        ("device_set_irqs", VFIO_DEVICE_SET_IRQS.into()),
        ("device_reset", VFIO_DEVICE_RESET.into()),
        ("iommu_map_dma", VFIO_IOMMU_MAP_DMA.into()),
        ("iommu_unmap_dma", VFIO_IOMMU_UNMAP_DMA.into()),
    ];
    for (name, value) in ours {
        assert_eq!(kernel.get(*name), Some(value), "{name}");
    }
    assert_eq!(kernel.len(), ours.len(), "every printed value is compared");
}
