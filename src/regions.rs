// SPDX-License-Identifier: GPL-2.0-or-later
//! Region discovery on the device fd.
//!
//! Unlike upstream, which walks every region index once per subtype it
//! looks for, each index is queried once and its capability chain is read
//! as untrusted bytes: every read is bounded by the argsz the kernel filled,
//! offsets must grow strictly (so a looping chain ends), and hops are capped.
//! The walk over indexes is capped too, whatever `num_regions` says, and
//! an index whose query fails is skipped as upstream skips it: only the
//! I/O region is required.

use log::warn;

use crate::error::Error;
use crate::kernel::DeviceFd;
use crate::uapi::{
    self, VFIO_CCW_CONFIG_REGION_INDEX, VFIO_DEVICE_FLAGS_CCW, VFIO_REGION_INFO_CAP_TYPE,
    VFIO_REGION_INFO_FLAG_CAPS, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
    VFIO_REGION_TYPE_CCW,
};

/// Region info replies larger than this are refused: a vfio-ccw region
/// carries one 16-byte capability.
const MAX_REGION_INFO_SIZE: u32 = 4096;
/// A chain longer than this is treated as corrupt.
const MAX_CAPABILITIES: usize = 32;
/// Region indexes looked at, at most. vfio-ccw has 4 today; a kernel
/// claiming up to 2^32 must not make realize issue 2^32 ioctls.
/// cbindgen:ignore
pub const MAX_REGIONS: u32 = 64;

/// What VFIO_DEVICE_GET_INFO says about the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub flags: u32,
    pub num_regions: u32,
    pub num_irqs: u32,
}

/// One region as the kernel describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub index: u32,
    pub flags: u32,
    pub size: u64,
    pub offset: u64,
}

/// The regions a vfio-ccw device offers. Only the I/O region is mandatory;
/// the others depend on the kernel version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Regions {
    pub io: Region,
    pub async_cmd: Option<Region>,
    pub schib: Option<Region>,
    pub crw: Option<Region>,
}

/// Queries the device and checks that it is a vfio-ccw device.
pub fn device_info(fd: &dyn DeviceFd) -> Result<DeviceInfo, Error> {
    let mut info = uapi::vfio_device_info {
        argsz: std::mem::size_of::<uapi::vfio_device_info>() as u32,
        ..Default::default()
    };
    fd.get_device_info(&mut info).map_err(Error::DeviceInfo)?;
    if info.flags & VFIO_DEVICE_FLAGS_CCW == 0 {
        return Err(Error::NotCcw { flags: info.flags });
    }
    if info.num_regions < VFIO_CCW_CONFIG_REGION_INDEX + 1 {
        return Err(Error::TooFewRegions {
            num_regions: info.num_regions,
        });
    }
    Ok(DeviceInfo {
        flags: info.flags,
        num_regions: info.num_regions,
        num_irqs: info.num_irqs,
    })
}

/// Finds the I/O region at its fixed index and the others by their
/// capability type and subtype, and checks sizes and access. `device`
/// names the device in warnings.
pub fn discover(fd: &dyn DeviceFd, info: &DeviceInfo, device: &str) -> Result<Regions, Error> {
    let (io, _) = region_info(fd, VFIO_CCW_CONFIG_REGION_INDEX)?;
    check(&io, "I/O", uapi::IO_REGION_SIZE, true, true)?;

    let mut regions = Regions {
        io,
        async_cmd: None,
        schib: None,
        crw: None,
    };
    if info.num_regions > MAX_REGIONS {
        warn!(
            "vfio-ccw {device}: the device reports {} regions; only the first {MAX_REGIONS} are looked at",
            info.num_regions
        );
    }
    for index in 0..info.num_regions.min(MAX_REGIONS) {
        if index == VFIO_CCW_CONFIG_REGION_INDEX {
            continue;
        }
        let (region, ccw_subtype) = match region_info(fd, index) {
            Ok(found) => found,
            // Upstream's lookup goes on to the next index; the optional
            // regions it may have held are then missing, as on an older
            // kernel.
            Err(error @ Error::RegionInfo { .. }) => {
                warn!("vfio-ccw {device}: {error}; that region is skipped");
                continue;
            }
            Err(error) => return Err(error),
        };
        let (slot, name, size, read, write) = match ccw_subtype {
            Some(uapi::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD) => (
                &mut regions.async_cmd,
                "async command",
                uapi::CMD_REGION_SIZE,
                false,
                true,
            ),
            Some(uapi::VFIO_REGION_SUBTYPE_CCW_SCHIB) => (
                &mut regions.schib,
                "SCHIB",
                uapi::SCHIB_REGION_SIZE,
                true,
                false,
            ),
            Some(uapi::VFIO_REGION_SUBTYPE_CCW_CRW) => {
                (&mut regions.crw, "CRW", uapi::CRW_REGION_SIZE, true, false)
            }
            // A region this device model does not know: newer kernels may
            // add some, and they do not concern us.
            _ => continue,
        };
        // The first region of a subtype wins, as upstream's lookup does.
        if slot.is_none() {
            check(&region, name, size, read, write)?;
            *slot = Some(region);
        }
    }
    Ok(regions)
}

fn check(
    region: &Region,
    name: &'static str,
    size: usize,
    read: bool,
    write: bool,
) -> Result<(), Error> {
    if region.size != size as u64 {
        return Err(Error::RegionSize {
            region: name,
            size: region.size,
            expected: size,
        });
    }
    let needs = match (read, write) {
        (true, true) => "readable and writable",
        (true, false) => "readable",
        _ => "writable",
    };
    let missing = (read && region.flags & VFIO_REGION_INFO_FLAG_READ == 0)
        || (write && region.flags & VFIO_REGION_INFO_FLAG_WRITE == 0);
    if missing {
        return Err(Error::RegionAccess {
            region: name,
            flags: region.flags,
            needs,
        });
    }
    Ok(())
}

/// Queries one region; returns it and, when its capability chain carries a
/// CCW type capability, its subtype.
fn region_info(fd: &dyn DeviceFd, index: u32) -> Result<(Region, Option<u32>), Error> {
    let mut buf = vec![0u8; uapi::REGION_INFO_SIZE];
    let mut argsz = uapi::REGION_INFO_SIZE as u32;
    // The kernel answers a too-small argsz with the size it needs; one
    // retry at that size is all a well-behaved kernel requires.
    for _ in 0..2 {
        buf.clear();
        buf.resize(argsz as usize, 0);
        put_u32(&mut buf, 0, argsz);
        put_u32(&mut buf, 8, index);
        fd.get_region_info(&mut buf)
            .map_err(|errno| Error::RegionInfo { index, errno })?;
        let wanted = get_u32(&buf, 0);
        if wanted <= argsz {
            break;
        }
        if wanted > MAX_REGION_INFO_SIZE {
            return Err(Error::RegionInfoSize {
                index,
                argsz: wanted,
            });
        }
        argsz = wanted;
    }
    let region = Region {
        index,
        flags: get_u32(&buf, 4),
        size: get_u64(&buf, 16),
        offset: get_u64(&buf, 24),
    };
    if region.flags & VFIO_REGION_INFO_FLAG_CAPS == 0 {
        return Ok((region, None));
    }
    // What the kernel actually filled: never read past either bound.
    let filled = (get_u32(&buf, 0) as usize).min(buf.len());
    let subtype = ccw_subtype(&buf[..filled], index, get_u32(&buf, 12))?;
    Ok((region, subtype))
}

/// Walks a capability chain held in `info` (the whole region info reply).
fn ccw_subtype(info: &[u8], index: u32, first: u32) -> Result<Option<u32>, Error> {
    let corrupt = |reason, offset| Error::CapabilityChain {
        index,
        reason,
        offset,
    };
    let mut offset = first;
    let mut floor = uapi::REGION_INFO_SIZE as u32;
    let mut found = None;
    for _ in 0..MAX_CAPABILITIES {
        if offset == 0 {
            return Ok(found);
        }
        if offset < floor {
            return Err(corrupt("capability overlaps what precedes it", offset));
        }
        let at = offset as usize;
        let header_end = at.checked_add(8).filter(|&end| end <= info.len());
        let Some(header_end) = header_end else {
            return Err(corrupt("capability header beyond the reply", offset));
        };
        let id = u16::from_ne_bytes([info[at], info[at + 1]]);
        let next = get_u32(info, at + 4);
        if u32::from(id) == VFIO_REGION_INFO_CAP_TYPE {
            if header_end + 8 > info.len() {
                return Err(corrupt("type capability beyond the reply", offset));
            }
            let cap_type = get_u32(info, header_end);
            let cap_subtype = get_u32(info, header_end + 4);
            if cap_type == VFIO_REGION_TYPE_CCW && found.is_none() {
                found = Some(cap_subtype);
            }
        }
        floor = header_end as u32;
        offset = next;
    }
    Err(corrupt("chain longer than any vfio-ccw region has", offset))
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(b)
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
