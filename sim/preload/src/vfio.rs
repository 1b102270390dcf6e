// SPDX-License-Identifier: GPL-2.0-or-later
//! The vfio nodes as the kernel's vfio core presents them: the container
//! (`/dev/vfio/vfio`, type1 IOMMU), each device's group, and the group's
//! device fd, which that device's driver model answers; and the iommufd
//! way in (`/dev/iommu` and the device cdevs, see [`crate::iommufd`]).
//!
//! Several groups may share a container, as QEMU puts every group of one
//! address space in one: the container's DMA mappings are then seen by
//! every device in it, those made before a group joined too, as the type1
//! IOMMU gives each device the container's one address space.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use nix::errno::Errno;
use vfio_ccw_sim::{IommuModel, SimDeviceFd};
use vfio_ccw_uapi::device_fd::DeviceFd;
use vfio_ccw_uapi::layout::{self as uapi, vfio_device_info, vfio_irq_info};

use crate::host::{host, Host};
use crate::iommufd::{self, Binding, SharedIctx};
use crate::libc_next;

const VFIO_API_VERSION: c_int = 0;
const VFIO_TYPE1_IOMMU: c_ulong = 1;
const VFIO_TYPE1V2_IOMMU: c_ulong = 3;
const VFIO_GROUP_FLAGS_VIABLE: u32 = 1;
const VFIO_GROUP_FLAGS_CONTAINER_SET: u32 = 2;
const VFIO_IOMMU_INFO_PGSIZES: u32 = 1;
const VFIO_IOMMU_INFO_CAPS: u32 = 2;
const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: u16 = 1;
const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: u16 = 3;
/// What the type1 driver allows by default (its dma_entry_limit).
const DMA_ENTRY_LIMIT: u32 = 65535;
/// Bigger ioctl arguments than this are refused before copying.
pub(crate) const MAX_ARGSZ: u32 = 1 << 16;

/// A DMA mapping of a container, kept to replay it into a device whose
/// group joins later and to release it with the IOMMU model.
#[derive(Clone, Copy)]
struct Mapping {
    iova: u64,
    vaddr: u64,
    size: u64,
    flags: u32,
}

enum Node {
    /// `mappings` are the DMA mappings made through this container, for
    /// the DMA-available count, for groups that join later, and for
    /// releasing them with the IOMMU model.
    Container {
        iommu_set: bool,
        /// Set up as `VFIO_TYPE1_IOMMU`, which refuses device pins.
        v1: bool,
        mappings: Vec<Mapping>,
    },
    /// The group node of the host's device `device`.
    Group {
        device: usize,
        container: Option<RawFd>,
    },
    Device {
        device: usize,
        fd: Arc<SimDeviceFd>,
    },
    /// `/dev/iommu`.
    Iommufd(SharedIctx),
    /// The device cdev of device `device`, bound to an iommufd or not yet.
    Cdev {
        device: usize,
        binding: Option<Binding>,
    },
}

fn table() -> MutexGuard<'static, HashMap<RawFd, Node>> {
    static TABLE: OnceLock<Mutex<HashMap<RawFd, Node>>> = OnceLock::new();
    TABLE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fds below this are looked up in [`MARKS`] without taking the table's
/// lock; the rare higher ones in the table.
const MARKED_FDS: usize = 4096;

/// One bit per fd below [`MARKED_FDS`]: set while the fd is ours. Every
/// ioctl, pread, pwrite and close of the host program asks
/// [`is_ours`]; for its own files (nearly all of them) the answer then
/// takes no lock, so a thread that forks while another holds the table
/// cannot leave the child stuck in `close`.
static MARKS: [AtomicU64; MARKED_FDS / 64] = [const { AtomicU64::new(0) }; MARKED_FDS / 64];

fn mark(fd: RawFd, ours: bool) {
    let Ok(fd) = usize::try_from(fd) else { return };
    if fd < MARKED_FDS {
        let bit = 1u64 << (fd % 64);
        if ours {
            MARKS[fd / 64].fetch_or(bit, Ordering::AcqRel);
        } else {
            MARKS[fd / 64].fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

/// True for the fds this interposer handed out.
pub fn is_ours(fd: RawFd) -> bool {
    match usize::try_from(fd) {
        Ok(i) if i < MARKED_FDS => MARKS[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0,
        Ok(_) => table().contains_key(&fd),
        Err(_) => false,
    }
}

/// Drops what `fd` stood for (the device fd's close reaches the driver
/// model here); the real descriptor is closed by the caller. Closing a
/// group takes it out of its container, as the kernel's release does.
pub fn forget(fd: RawFd) {
    if !is_ours(fd) {
        return;
    }
    mark(fd, false);
    let node = table().remove(&fd);
    match node {
        Some(Node::Group {
            device,
            container: Some(container),
        }) => detach_group(device, container),
        Some(Node::Cdev {
            binding: Some(binding),
            ..
        }) => binding.unbind(),
        other => drop(other),
    }
}

/// The devices whose groups are in `container`.
fn members(table: &HashMap<RawFd, Node>, container: RawFd) -> Vec<usize> {
    table
        .values()
        .filter_map(|n| match n {
            Node::Group {
                device,
                container: Some(c),
            } if *c == container => Some(*device),
            _ => None,
        })
        .collect()
}

/// After device `device`'s group left `container`: the device no longer
/// sees the container's mappings; if it was the last group, the IOMMU
/// model goes, and with it every mapping (type1's release unmaps them
/// all).
fn detach_group(device: usize, container: RawFd) {
    let mappings = {
        let mut table = table();
        let still_used = !members(&table, container).is_empty();
        match table.get_mut(&container) {
            Some(Node::Container {
                iommu_set,
                mappings,
                ..
            }) => {
                if still_used {
                    mappings.clone()
                } else {
                    *iommu_set = false;
                    std::mem::take(mappings)
                }
            }
            _ => Vec::new(),
        }
    };
    if let Some(host) = host() {
        for m in mappings {
            // Nothing to report to: the caller's close or unset succeeded.
            let _ = host.kernel(device).dma_unmap(m.iova, m.size);
        }
    }
}

/// Takes `fd`, which the program inherited open, as an unbound device
/// cdev: the launcher's `--cdev-fd`, for QEMU's `fd=` property.
pub fn adopt_cdev(fd: RawFd) -> Result<(), String> {
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!(
            "VFIO_CCW_SIM_CDEV_FD={fd}: the program has no such open file"
        ));
    }
    table().insert(
        fd,
        Node::Cdev {
            device: 0,
            binding: None,
        },
    );
    mark(fd, true);
    Ok(())
}

/// A real descriptor to stand for a vfio node.
fn backing_fd() -> Result<RawFd, Errno> {
    // SAFETY: a constant NUL-terminated path; the mode is unused.
    let fd = unsafe { libc_next::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
    Errno::result(fd)
}

fn add(node: Node) -> Result<RawFd, Errno> {
    let fd = backing_fd()?;
    table().insert(fd, node);
    mark(fd, true);
    Ok(fd)
}

/// Whether device `device` is held: its group open, or its cdev bound.
fn held(table: &HashMap<RawFd, Node>, device: usize) -> (bool, bool) {
    let group = table
        .values()
        .any(|n| matches!(n, Node::Group { device: d, .. } if *d == device));
    let cdev = table
        .values()
        .any(|n| matches!(n, Node::Cdev { device: d, binding: Some(_) } if *d == device));
    (group, cdev)
}

/// open(2) of a `/dev/vfio` path.
pub fn open(path: &str) -> Result<RawFd, Errno> {
    let host = host().ok_or(Errno::ENODEV)?;
    let group = path
        .strip_prefix("/dev/vfio/")
        .and_then(|n| host.by_group(n));
    let cdev = path
        .strip_prefix("/dev/vfio/devices/")
        .and_then(|n| host.by_cdev(n));
    // Without CONFIG_VFIO_GROUP neither the container nor a group node
    // exists.
    if path == "/dev/vfio/vfio" && host.groups {
        add(Node::Container {
            iommu_set: false,
            v1: false,
            mappings: Vec::new(),
        })
    } else if let Some(device) = group {
        // The vfio core lets one file at a time hold a group open, and
        // none while the device is bound through its cdev.
        let (group, cdev) = held(&table(), device);
        if group || cdev {
            return Err(Errno::EBUSY);
        }
        add(Node::Group {
            device,
            container: None,
        })
    } else if path == "/dev/iommu" {
        add(Node::Iommufd(SharedIctx::default()))
    } else if let Some(device) = cdev {
        // Opening the cdev grants nothing until it is bound.
        add(Node::Cdev {
            device,
            binding: None,
        })
    } else {
        Err(Errno::ENOENT)
    }
}

fn device(fd: RawFd) -> Result<Arc<SimDeviceFd>, Errno> {
    match table().get(&fd) {
        Some(Node::Device { fd, .. }) => Ok(fd.clone()),
        Some(Node::Cdev {
            binding: Some(binding),
            ..
        }) => Ok(binding.device.clone()),
        // Also an unbound cdev: the vfio core grants no access before
        // the bind.
        Some(_) => Err(Errno::EINVAL),
        None => Err(Errno::EBADF),
    }
}

/// Runs a call into the driver models, then passes on the path events
/// their fault rules made (no kernel lock is held here).
fn then_paths<T>(r: T) -> T {
    if let Some(host) = host() {
        host.deliver_path_events();
    }
    r
}

pub fn pread(fd: RawFd, buf: &mut [u8], offset: libc::off_t) -> Result<usize, Errno> {
    let offset = u64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    then_paths(device(fd)?.read_at(buf, offset))
}

pub fn pwrite(fd: RawFd, buf: &[u8], offset: libc::off_t) -> Result<usize, Errno> {
    let offset = u64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    then_paths(device(fd)?.write_at(buf, offset))
}

/// Reads the argsz-led argument at `arg` into a buffer of its argsz.
///
/// # Safety
/// `arg` is NULL or points to an argument of at least the argsz it
/// starts with.
pub(crate) unsafe fn argument(arg: *mut c_void, min: usize) -> Result<Vec<u8>, Errno> {
    if arg.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: every argsz-led vfio argument starts with a readable u32.
    let argsz = unsafe { arg.cast::<u32>().read_unaligned() };
    if (argsz as usize) < min || argsz > MAX_ARGSZ {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; argsz as usize];
    // SAFETY: the caller promised `argsz` readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(arg.cast::<u8>(), buf.as_mut_ptr(), buf.len()) };
    Ok(buf)
}

/// Reads the first `len` bytes of a device ioctl's argument: what the
/// driver copies in (its fixed header, then any data) whatever the argsz
/// says, leaving the argsz checks to the model, as vfio_ccw_mdev_ioctl
/// leaves them after its copy_from_user.
///
/// # Safety
/// `arg` is NULL or readable for `len` bytes (as the kernel would read them).
unsafe fn copied_in(arg: *mut c_void, len: usize) -> Result<Vec<u8>, Errno> {
    if arg.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut buf = vec![0u8; len];
    // SAFETY: by the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(arg.cast::<u8>(), buf.as_mut_ptr(), len) };
    Ok(buf)
}

/// The fixed header of VFIO_DEVICE_GET_REGION_INFO (through `offset`).
const REGION_INFO_MINSZ: usize = 32;
/// What follows it when there is room: the one type capability.
const REGION_INFO_WITH_CAP: usize = 48;
/// The fixed header of VFIO_DEVICE_SET_IRQS (through `count`).
const IRQ_SET_MINSZ: usize = 20;
/// The fixed part of GET_DEVICE_INFO and GET_IRQ_INFO the driver copies in
/// and back (through `num_irqs`, through `count`).
const INFO_MINSZ: usize = 16;

/// Copies `bytes` back to the caller's argument.
///
/// # Safety
/// `arg` is writable for `bytes.len()` bytes.
unsafe fn copy_back(arg: *mut c_void, bytes: &[u8]) {
    // SAFETY: by the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), arg.cast::<u8>(), bytes.len()) };
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_ne_bytes(b)
}

/// ioctl(2) on one of our fds.
///
/// # Safety
/// `arg` is valid for `request` as the vfio uAPI defines it.
pub unsafe fn ioctl(fd: RawFd, request: c_ulong, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    then_paths(unsafe { node_ioctl(fd, request, arg) })
}

/// # Safety
/// As [`ioctl`].
unsafe fn node_ioctl(fd: RawFd, request: c_ulong, arg: *mut c_void) -> Result<c_int, Errno> {
    enum Kind {
        Container { iommu_set: bool },
        Group,
        Device,
        Iommufd(SharedIctx),
        Cdev { bound: bool },
    }
    let kind = match table().get(&fd) {
        Some(Node::Container { iommu_set, .. }) => Kind::Container {
            iommu_set: *iommu_set,
        },
        Some(Node::Group { .. }) => Kind::Group,
        Some(Node::Device { .. }) => Kind::Device,
        Some(Node::Iommufd(ictx)) => Kind::Iommufd(ictx.clone()),
        Some(Node::Cdev { binding, .. }) => Kind::Cdev {
            bound: binding.is_some(),
        },
        None => return Err(Errno::EBADF),
    };
    match (kind, request) {
        // SAFETY: forwarded contract.
        (Kind::Device, _) => unsafe { device_ioctl(fd, request, arg) },
        (Kind::Iommufd(ictx), _) => {
            let host = host().ok_or(Errno::ENODEV)?;
            // SAFETY: forwarded contract.
            unsafe { iommufd::ioctl(&ictx, host, request, arg) }
        }
        // SAFETY: forwarded contract.
        (Kind::Cdev { .. }, iommufd::VFIO_DEVICE_BIND_IOMMUFD) => unsafe { bind(fd, arg) },
        (Kind::Cdev { bound: false }, _) => Err(Errno::EINVAL),
        (Kind::Cdev { bound: true }, iommufd::VFIO_DEVICE_ATTACH_IOMMUFD_PT) => {
            // SAFETY: forwarded contract.
            with_binding(fd, |b| unsafe { b.attach(arg) })
        }
        (Kind::Cdev { bound: true }, iommufd::VFIO_DEVICE_DETACH_IOMMUFD_PT) => {
            // SAFETY: forwarded contract.
            with_binding(fd, |b| unsafe { b.detach(arg) })
        }
        // SAFETY: forwarded contract.
        (Kind::Cdev { bound: true }, _) => unsafe { device_ioctl(fd, request, arg) },
        // SAFETY: forwarded contract.
        (Kind::Group, uapi::VFIO_GROUP_GET_STATUS) => unsafe { group_status(fd, arg) },
        // SAFETY: forwarded contract.
        (Kind::Group, uapi::VFIO_GROUP_SET_CONTAINER) => unsafe { set_container(fd, arg) },
        (Kind::Group, uapi::VFIO_GROUP_UNSET_CONTAINER) => unset_container(fd),
        // SAFETY: forwarded contract.
        (Kind::Group, uapi::VFIO_GROUP_GET_DEVICE_FD) => unsafe { get_device_fd(fd, arg) },
        (Kind::Group, _) => Err(Errno::ENOTTY),
        (Kind::Container { .. }, uapi::VFIO_GET_API_VERSION) => Ok(VFIO_API_VERSION),
        (Kind::Container { .. }, uapi::VFIO_CHECK_EXTENSION) => {
            let ext = arg as c_ulong;
            Ok(c_int::from(
                ext == VFIO_TYPE1_IOMMU || ext == VFIO_TYPE1V2_IOMMU,
            ))
        }
        (Kind::Container { .. }, uapi::VFIO_SET_IOMMU) => set_iommu(fd, arg as c_ulong),
        // The vfio core passes what it does not know to the IOMMU model;
        // without one its answer is EINVAL, type1's own is ENOTTY.
        (Kind::Container { iommu_set: false }, _) => Err(Errno::EINVAL),
        // SAFETY: forwarded contract.
        (Kind::Container { .. }, uapi::VFIO_IOMMU_GET_INFO) => unsafe { iommu_info(fd, arg) },
        // SAFETY: forwarded contract.
        (Kind::Container { .. }, uapi::VFIO_IOMMU_MAP_DMA) => unsafe { map_dma(fd, arg) },
        // SAFETY: forwarded contract.
        (Kind::Container { .. }, uapi::VFIO_IOMMU_UNMAP_DMA) => unsafe { unmap_dma(fd, arg) },
        (Kind::Container { .. }, _) => Err(Errno::ENOTTY),
    }
}

/// VFIO_DEVICE_BIND_IOMMUFD on the cdev `fd`.
///
/// # Safety
/// `arg` as the ioctl defines it.
unsafe fn bind(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let target = unsafe { iommufd::bind_target(arg) }?;
    let host = host().ok_or(Errno::ENODEV)?;
    let mut table = table();
    let ictx = match table.get(&target) {
        Some(Node::Iommufd(ictx)) => ictx.clone(),
        _ => {
            // SAFETY: F_GETFD only asks whether the descriptor is open.
            let open = unsafe { libc::fcntl(target, libc::F_GETFD) } >= 0;
            // iommufd_ctx_from_fd: no file, or a file that is not one.
            return Err(if open { Errno::EBADFD } else { Errno::EBADF });
        }
    };
    let device = match table.get(&fd) {
        Some(Node::Cdev {
            binding: Some(_), ..
        }) => return Err(Errno::EINVAL),
        Some(Node::Cdev { device, .. }) => *device,
        _ => return Err(Errno::EBADF),
    };
    // The group path holds the device (EBUSY); through the cdev path a
    // device opens once (EINVAL).
    match held(&table, device) {
        (true, _) => return Err(Errno::EBUSY),
        (_, true) => return Err(Errno::EINVAL),
        _ => {}
    }
    // SAFETY: forwarded contract.
    let binding = unsafe { iommufd::bind(ictx, device, host.kernel(device), arg) }?;
    table.insert(
        fd,
        Node::Cdev {
            device,
            binding: Some(binding),
        },
    );
    Ok(0)
}

/// Runs `op` on the cdev `fd`'s binding.
fn with_binding(
    fd: RawFd,
    op: impl FnOnce(&mut Binding) -> Result<c_int, Errno>,
) -> Result<c_int, Errno> {
    match table().get_mut(&fd) {
        Some(Node::Cdev {
            binding: Some(binding),
            ..
        }) => op(binding),
        _ => Err(Errno::EINVAL),
    }
}

/// The device number `fstat` reports for `fd`, if it stands for a node
/// whose number programs check: QEMU opens the device cdev only if it is
/// the character device sysfs names.
pub fn rdev(fd: RawFd) -> Option<libc::dev_t> {
    let device = match table().get(&fd) {
        Some(Node::Cdev { device, .. }) => *device,
        _ => return None,
    };
    let minor = host()?.devices.get(device)?.description.cdev;
    Some(libc::makedev(vfio_ccw_sim::subchannel::CDEV_MAJOR, minor))
}

fn set_iommu(fd: RawFd, kind: c_ulong) -> Result<c_int, Errno> {
    let mut table = table();
    let members = members(&table, fd);
    let has_group = !members.is_empty();
    let Some(Node::Container { iommu_set, v1, .. }) = table.get_mut(&fd) else {
        return Err(Errno::ENOTTY);
    };
    // The kernel wants a group in the container before an IOMMU model.
    if !has_group || *iommu_set {
        return Err(Errno::EINVAL);
    }
    if kind != VFIO_TYPE1_IOMMU && kind != VFIO_TYPE1V2_IOMMU {
        return Err(Errno::ENODEV);
    }
    *iommu_set = true;
    *v1 = kind == VFIO_TYPE1_IOMMU;
    let model = type1_model(*v1);
    drop(table);
    if let Some(host) = host() {
        for device in members {
            host.kernel(device).set_iommu_model(model);
        }
    }
    Ok(0)
}

fn type1_model(v1: bool) -> IommuModel {
    if v1 {
        IommuModel::Type1V1
    } else {
        IommuModel::Type1V2
    }
}

fn is_container(fd: RawFd) -> bool {
    matches!(table().get(&fd), Some(Node::Container { .. }))
}

/// The container's mapping count, once it has an IOMMU model.
fn iommu_ready(fd: RawFd) -> Result<usize, Errno> {
    match table().get(&fd) {
        Some(Node::Container {
            iommu_set: true,
            mappings,
            ..
        }) => Ok(mappings.len()),
        Some(Node::Container { .. }) => Err(Errno::EINVAL),
        _ => Err(Errno::ENOTTY),
    }
}

/// VFIO_IOMMU_GET_INFO: page sizes, one IOVA range, the DMA mapping limit.
///
/// # Safety
/// `arg` as the ioctl defines it.
unsafe fn iommu_info(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    let mapped = iommu_ready(fd)?;
    let avail = DMA_ENTRY_LIMIT.saturating_sub(u32::try_from(mapped).unwrap_or(u32::MAX));
    // SAFETY: forwarded contract.
    let mut info = unsafe { argument(arg, 16) }?;
    // Header 24 bytes; IOVA range cap (8 + 8 + 16) at 24; DMA-avail cap
    // (8 + 4, padded to 16) at 56.
    let mut full = vec![0u8; 72];
    full[0..4].copy_from_slice(&72u32.to_ne_bytes());
    full[4..8].copy_from_slice(&(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS).to_ne_bytes());
    full[8..16].copy_from_slice(&(4096u64 | (1 << 21) | (1 << 30)).to_ne_bytes());
    full[16..20].copy_from_slice(&24u32.to_ne_bytes());
    full[24..26].copy_from_slice(&VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE.to_ne_bytes());
    full[26..28].copy_from_slice(&1u16.to_ne_bytes());
    full[28..32].copy_from_slice(&56u32.to_ne_bytes());
    full[32..36].copy_from_slice(&1u32.to_ne_bytes());
    full[40..48].copy_from_slice(&0u64.to_ne_bytes());
    full[48..56].copy_from_slice(&u64::MAX.to_ne_bytes());
    full[56..58].copy_from_slice(&VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL.to_ne_bytes());
    full[58..60].copy_from_slice(&1u16.to_ne_bytes());
    full[64..68].copy_from_slice(&avail.to_ne_bytes());
    if info.len() < full.len() {
        // Like type1: say how much is needed and that capabilities
        // exist, copy none.
        let n = info.len().min(16);
        info[..n].copy_from_slice(&full[..n]);
        if info.len() >= 24 {
            info[16..20].copy_from_slice(&0u32.to_ne_bytes());
        }
    } else {
        info[..full.len()].copy_from_slice(&full);
    }
    // SAFETY: `info` is as long as the caller's argsz.
    unsafe { copy_back(arg, &info) };
    Ok(0)
}

/// Maps `m` into the models of `devices`; on a failure, takes it out of
/// those it reached and returns the error.
fn map_into(host: &Host, devices: &[usize], m: Mapping) -> Result<(), Errno> {
    for (n, &device) in devices.iter().enumerate() {
        if let Err(e) = host
            .kernel(device)
            .dma_map(m.iova, m.vaddr, m.size, m.flags)
        {
            for &done in &devices[..n] {
                let _ = host.kernel(done).dma_unmap(m.iova, m.size);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// # Safety
/// `arg` as VFIO_IOMMU_MAP_DMA defines it.
unsafe fn map_dma(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    if iommu_ready(fd)? >= DMA_ENTRY_LIMIT as usize {
        // type1 refuses a mapping beyond its dma_entry_limit.
        return Err(Errno::ENOSPC);
    }
    // SAFETY: forwarded contract.
    let map = unsafe { argument(arg, 32) }?;
    let host = host().ok_or(Errno::ENODEV)?;
    let m = Mapping {
        iova: u64_at(&map, 16),
        vaddr: u64_at(&map, 8),
        size: u64_at(&map, 24),
        flags: u32_at(&map, 4),
    };
    let devices = members(&table(), fd);
    map_into(host, &devices, m)?;
    if let Some(Node::Container { mappings, .. }) = table().get_mut(&fd) {
        mappings.push(m);
    }
    Ok(0)
}

/// # Safety
/// `arg` as VFIO_IOMMU_UNMAP_DMA defines it.
unsafe fn unmap_dma(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    iommu_ready(fd)?;
    // SAFETY: forwarded contract.
    let mut unmap = unsafe { argument(arg, 24) }?;
    let host = host().ok_or(Errno::ENODEV)?;
    let (iova, size) = (u64_at(&unmap, 8), u64_at(&unmap, 16));
    // vfio_dma_do_unmap refuses a size of 0 whoever is in the container.
    if size == 0 {
        return Err(Errno::EINVAL);
    }
    // Every device in the container has the same mappings, so each
    // unmaps the same bytes; the first failure (a fault rule's) stops.
    let mut unmapped = 0;
    for device in members(&table(), fd) {
        unmapped = host.kernel(device).dma_unmap(iova, size)?;
    }
    // The models removed exactly the whole mappings inside the range.
    if let Some(Node::Container { mappings, .. }) = table().get_mut(&fd) {
        mappings.retain(|m| m.iova < iova || m.iova - iova + m.size > size);
    }
    // The kernel reports how much it unmapped in `size`.
    unmap[16..24].copy_from_slice(&unmapped.to_ne_bytes());
    // SAFETY: `unmap` is as long as the caller's argsz.
    unsafe { copy_back(arg, &unmap) };
    Ok(0)
}

/// # Safety
/// `arg` as VFIO_GROUP_GET_STATUS defines it.
unsafe fn group_status(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    let container = match table().get(&fd) {
        Some(Node::Group { container, .. }) => *container,
        _ => return Err(Errno::ENOTTY),
    };
    // SAFETY: forwarded contract.
    let mut status = unsafe { argument(arg, 8) }?;
    let flags = VFIO_GROUP_FLAGS_VIABLE
        | if container.is_some() {
            VFIO_GROUP_FLAGS_CONTAINER_SET
        } else {
            0
        };
    status[4..8].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: the kernel writes the 8-byte header only.
    unsafe { copy_back(arg, &status[..8]) };
    Ok(0)
}

/// # Safety
/// `arg` points to the container's fd.
unsafe fn set_container(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    if arg.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: the argument is a pointer to an int.
    let container = unsafe { arg.cast::<c_int>().read_unaligned() };
    if !is_container(container) {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        let open = unsafe { libc::fcntl(container, libc::F_GETFD) } >= 0;
        // The kernel: EBADF for no file, EINVAL for a file that is not
        // a vfio container.
        return Err(if open { Errno::EINVAL } else { Errno::EBADF });
    }
    let host = host().ok_or(Errno::ENODEV)?;
    let mut table = table();
    let device = match table.get(&fd) {
        Some(Node::Group {
            container: Some(_), ..
        }) => return Err(Errno::EINVAL),
        Some(Node::Group { device, .. }) => *device,
        _ => return Err(Errno::ENOTTY),
    };
    // A group joining a container that has mappings sees them at once,
    // through the container's IOMMU model.
    if let Some(Node::Container { mappings, v1, .. }) = table.get(&container) {
        host.kernel(device).set_iommu_model(type1_model(*v1));
        for (n, m) in mappings.iter().enumerate() {
            if let Err(e) = map_into(host, &[device], *m) {
                for done in &mappings[..n] {
                    let _ = host.kernel(device).dma_unmap(done.iova, done.size);
                }
                return Err(e);
            }
        }
    }
    if let Some(Node::Group {
        container: slot, ..
    }) = table.get_mut(&fd)
    {
        *slot = Some(container);
    }
    Ok(0)
}

fn unset_container(fd: RawFd) -> Result<c_int, Errno> {
    let (device, container) = {
        let mut table = table();
        let device = match table.get(&fd) {
            Some(Node::Group { device, .. }) => *device,
            _ => return Err(Errno::ENOTTY),
        };
        // An open device fd keeps its group in the container.
        if table
            .values()
            .any(|n| matches!(n, Node::Device { device: d, .. } if *d == device))
        {
            return Err(Errno::EBUSY);
        }
        match table.get_mut(&fd) {
            Some(Node::Group { container, .. }) => (device, container.take().ok_or(Errno::EINVAL)?),
            _ => return Err(Errno::ENOTTY),
        }
    };
    detach_group(device, container);
    Ok(0)
}

/// # Safety
/// `arg` is a NUL-terminated device name.
unsafe fn get_device_fd(fd: RawFd, arg: *mut c_void) -> Result<c_int, Errno> {
    let (device, container) = match table().get(&fd) {
        Some(Node::Group { device, container }) => (*device, *container),
        _ => return Err(Errno::ENOTTY),
    };
    let container = container.ok_or(Errno::EINVAL)?;
    iommu_ready(container)?;
    if arg.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: NUL-terminated by the caller's contract.
    let name = unsafe { CStr::from_ptr(arg.cast::<c_char>()) };
    let host = host().ok_or(Errno::ENODEV)?;
    // A group has its own device only.
    if name.to_bytes() != host.devices[device].description.uuid.as_bytes() {
        return Err(Errno::ENODEV);
    }
    let fd = host.kernel(device).open_device()?;
    add(Node::Device {
        device,
        fd: Arc::new(fd),
    })
}

/// Reads the fixed part of an info ioctl's struct from `arg` (the
/// driver's `minsz`, whatever argsz says), lets `op` fill it, and copies
/// that part back, as vfio_ccw_mdev_ioctl does.
///
/// # Safety
/// `arg` is NULL or holds at least [`INFO_MINSZ`] bytes of a `T`.
unsafe fn fixed<T: Default>(
    arg: *mut c_void,
    op: impl FnOnce(&mut T) -> Result<(), Errno>,
) -> Result<c_int, Errno> {
    let n = INFO_MINSZ.min(std::mem::size_of::<T>());
    // SAFETY: forwarded contract.
    let bytes = unsafe { copied_in(arg, n) }?;
    let mut value = T::default();
    // SAFETY: T is a plain C struct of integers; any bytes are valid and
    // `n` <= size_of::<T>().
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut value).cast::<u8>(), n) };
    op(&mut value)?;
    // SAFETY: as above, reading back the same `n` bytes.
    let out = unsafe { std::slice::from_raw_parts((&raw const value).cast::<u8>(), n) };
    // SAFETY: the caller's argument is at least `n` bytes.
    unsafe { copy_back(arg, out) };
    Ok(0)
}

/// VFIO_DEVICE_GET_REGION_INFO: the 32-byte header is copied in whatever
/// argsz says (the model answers `EINVAL` below 32); the capability is
/// written after it only when argsz has room for it.
///
/// # Safety
/// `arg` is NULL or holds the header, and the capability's room if its
/// argsz says so.
unsafe fn region_info(device: &SimDeviceFd, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let mut buf = unsafe { copied_in(arg, REGION_INFO_MINSZ) }?;
    let argsz = u32_at(&buf, 0) as usize;
    if argsz >= REGION_INFO_WITH_CAP {
        buf.resize(REGION_INFO_WITH_CAP, 0);
    }
    device.get_region_info(&mut buf)?;
    // SAFETY: the header, and the capability only within the caller's argsz.
    unsafe { copy_back(arg, &buf) };
    Ok(0)
}

/// VFIO_DEVICE_SET_IRQS: the 20-byte header, then the data the driver
/// reads with get_user for the data type the flags name (one byte for
/// BOOL, one int for EVENTFD), even with count 0.
///
/// # Safety
/// `arg` is NULL or holds the header and that data.
unsafe fn set_irqs(device: &SimDeviceFd, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let header = unsafe { copied_in(arg, IRQ_SET_MINSZ) }?;
    let data = match u32_at(&header, 4) & 0x07 {
        uapi::VFIO_IRQ_SET_DATA_BOOL => 1,
        uapi::VFIO_IRQ_SET_DATA_EVENTFD => 4,
        _ => 0,
    };
    // SAFETY: forwarded contract.
    let buf = unsafe { copied_in(arg, IRQ_SET_MINSZ + data) }?;
    device.set_irqs(&buf)?;
    Ok(0)
}

/// # Safety
/// `arg` as the device ioctl `request` defines it.
unsafe fn device_ioctl(fd: RawFd, request: c_ulong, arg: *mut c_void) -> Result<c_int, Errno> {
    let device = device(fd)?;
    match request {
        // SAFETY: forwarded contract.
        uapi::VFIO_DEVICE_GET_INFO => unsafe {
            fixed(arg, |info: &mut vfio_device_info| {
                device.get_device_info(info)
            })
        },
        // SAFETY: forwarded contract.
        uapi::VFIO_DEVICE_GET_IRQ_INFO => unsafe {
            fixed(arg, |info: &mut vfio_irq_info| device.get_irq_info(info))
        },
        // SAFETY: forwarded contract.
        uapi::VFIO_DEVICE_GET_REGION_INFO => unsafe { region_info(&device, arg) },
        // SAFETY: forwarded contract.
        uapi::VFIO_DEVICE_SET_IRQS => unsafe { set_irqs(&device, arg) },
        uapi::VFIO_DEVICE_RESET => device.reset().map(|()| 0),
        _ => Err(Errno::ENOTTY),
    }
}
