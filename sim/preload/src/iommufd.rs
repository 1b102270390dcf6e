// SPDX-License-Identifier: GPL-2.0-or-later
//! The iommufd way to a vfio device, as the kernel (6.6 on) offers it:
//! `/dev/iommu` with its I/O address spaces (IOAS) and their mappings,
//! and the device cdevs `/dev/vfio/devices/vfio<N>`, each bound to an
//! iommufd and attached to an IOAS before it answers anything else.
//!
//! A mediated device such as vfio-ccw is an "emulated" device to iommufd:
//! binding makes an access object (its id is the device id), attaching
//! points that access at an IOAS, and the driver pins pages through it.
//! Each driver model has one DMA address space, so the mappings of the
//! IOAS its device is attached to are the ones it sees: they are mirrored
//! into every attached device's model on attach and map, and taken out on
//! unmap, detach and unbind.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_ulong, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use vfio_ccw_sim::{Kernel, SimDeviceFd, DMA_READ, DMA_WRITE, PAGE_SIZE};

use crate::host::Host;
use crate::vfio::{self, u32_at, u64_at, MAX_ARGSZ};

const IOMMUFD_TYPE: c_ulong = b';' as c_ulong;
const VFIO_TYPE: c_ulong = IOMMUFD_TYPE;
const VFIO_BASE: c_ulong = 100;

/// `_IO(type, nr)`: no direction or size bits, as both uAPIs define them.
const fn io(ty: c_ulong, nr: c_ulong) -> c_ulong {
    (ty << 8) | nr
}

pub const IOMMU_DESTROY: c_ulong = io(IOMMUFD_TYPE, 0x80);
pub const IOMMU_IOAS_ALLOC: c_ulong = io(IOMMUFD_TYPE, 0x81);
pub const IOMMU_IOAS_IOVA_RANGES: c_ulong = io(IOMMUFD_TYPE, 0x84);
pub const IOMMU_IOAS_MAP: c_ulong = io(IOMMUFD_TYPE, 0x85);
pub const IOMMU_IOAS_UNMAP: c_ulong = io(IOMMUFD_TYPE, 0x86);
pub const VFIO_DEVICE_BIND_IOMMUFD: c_ulong = io(VFIO_TYPE, VFIO_BASE + 18);
pub const VFIO_DEVICE_ATTACH_IOMMUFD_PT: c_ulong = io(VFIO_TYPE, VFIO_BASE + 19);
pub const VFIO_DEVICE_DETACH_IOMMUFD_PT: c_ulong = io(VFIO_TYPE, VFIO_BASE + 20);

const IOMMU_IOAS_MAP_FIXED_IOVA: u32 = 1;
const IOMMU_IOAS_MAP_WRITEABLE: u32 = 2;
const IOMMU_IOAS_MAP_READABLE: u32 = 4;

/// The objects of one open `/dev/iommu`; ids come from one space, from 1.
#[derive(Default)]
pub struct Ictx {
    objects: BTreeMap<u32, Object>,
}

enum Object {
    Ioas(Ioas),
    /// A bound device's access object; it goes with the device's unbind.
    Access,
}

#[derive(Default)]
struct Ioas {
    /// iova -> (length, user address, DMA_READ | DMA_WRITE).
    areas: BTreeMap<u64, (u64, u64, u32)>,
    /// The host's devices attached to it, whose drivers see its mappings.
    attached: Vec<usize>,
}

impl Ictx {
    fn alloc_id(&mut self, object: Object) -> u32 {
        let id = (1..).find(|id| !self.objects.contains_key(id)).unwrap_or(0);
        self.objects.insert(id, object);
        id
    }

    fn ioas(&mut self, id: u32) -> Result<&mut Ioas, Errno> {
        match self.objects.get_mut(&id) {
            Some(Object::Ioas(ioas)) => Ok(ioas),
            _ => Err(Errno::ENOENT),
        }
    }
}

pub type SharedIctx = Arc<Mutex<Ictx>>;

fn lock(ictx: &SharedIctx) -> MutexGuard<'_, Ictx> {
    ictx.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A device cdev's binding: made by VFIO_DEVICE_BIND_IOMMUFD, undone by
/// close (the kernel has no unbind ioctl).
pub struct Binding {
    ictx: SharedIctx,
    devid: u32,
    /// The host's device number, and its open device.
    index: usize,
    pub device: Arc<SimDeviceFd>,
    ioas: Option<u32>,
}

/// Reads an iommufd argument (led by its u32 size) as the kernel's
/// `copy_struct_from_user` does: at least `min` bytes; what the caller
/// has beyond our `full` size must be zero. Returns `full` bytes and the
/// caller's size.
///
/// # Safety
/// `arg` is NULL or points to an argument of at least the size it starts
/// with.
unsafe fn argument(arg: *mut c_void, min: usize, full: usize) -> Result<(Vec<u8>, usize), Errno> {
    if arg.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: every such argument starts with a readable u32.
    let size = unsafe { arg.cast::<u32>().read_unaligned() };
    if (size as usize) < min || size > MAX_ARGSZ {
        return Err(Errno::EINVAL);
    }
    let size = size as usize;
    // SAFETY: the caller promised `size` readable bytes.
    let given = unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), size) };
    if given.len() > full && given[full..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let mut buf = vec![0u8; full];
    let n = size.min(full);
    buf[..n].copy_from_slice(&given[..n]);
    Ok((buf, size))
}

/// Copies the first `n` bytes of `bytes` back to the caller.
///
/// # Safety
/// `arg` is writable for `n` bytes.
unsafe fn respond(arg: *mut c_void, bytes: &[u8], n: usize) {
    let n = n.min(bytes.len());
    // SAFETY: by the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), arg.cast::<u8>(), n) };
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// An ioctl on `/dev/iommu`.
///
/// # Safety
/// `arg` is valid for `request` as the iommufd uAPI defines it.
pub unsafe fn ioctl(
    ictx: &SharedIctx,
    host: &Host,
    request: c_ulong,
    arg: *mut c_void,
) -> Result<c_int, Errno> {
    match request {
        // SAFETY: forwarded contract.
        IOMMU_DESTROY => unsafe { destroy(ictx, arg) },
        // SAFETY: forwarded contract.
        IOMMU_IOAS_ALLOC => unsafe { ioas_alloc(ictx, arg) },
        // SAFETY: forwarded contract.
        IOMMU_IOAS_IOVA_RANGES => unsafe { iova_ranges(ictx, arg) },
        // SAFETY: forwarded contract.
        IOMMU_IOAS_MAP => unsafe { ioas_map(ictx, host, arg) },
        // SAFETY: forwarded contract.
        IOMMU_IOAS_UNMAP => unsafe { ioas_unmap(ictx, host, arg) },
        // The rest (options, hardware page tables, vfio compatibility,
        // ...) is not modelled: a mediated device has no use for them.
        _ => Err(Errno::ENOTTY),
    }
}

/// IOMMU_DESTROY (size, id).
unsafe fn destroy(ictx: &SharedIctx, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let (buf, _) = unsafe { argument(arg, 8, 8) }?;
    let id = u32_at(&buf, 4);
    let mut ictx = lock(ictx);
    match ictx.objects.get(&id) {
        None => Err(Errno::ENOENT),
        // An attached device, or the device itself, holds the object.
        Some(Object::Ioas(ioas)) if !ioas.attached.is_empty() => Err(Errno::EBUSY),
        Some(Object::Access) => Err(Errno::EBUSY),
        Some(Object::Ioas(_)) => {
            ictx.objects.remove(&id);
            Ok(0)
        }
    }
}

/// IOMMU_IOAS_ALLOC (size, flags, out_ioas_id).
unsafe fn ioas_alloc(ictx: &SharedIctx, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let (mut buf, size) = unsafe { argument(arg, 12, 12) }?;
    if u32_at(&buf, 4) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let id = lock(ictx).alloc_id(Object::Ioas(Ioas::default()));
    put_u32(&mut buf, 8, id);
    // SAFETY: the caller's argument has `size` bytes.
    unsafe { respond(arg, &buf, size) };
    Ok(0)
}

/// IOMMU_IOAS_IOVA_RANGES (size, ioas_id, num_iovas, reserved,
/// allowed_iovas, out_iova_alignment). An IOAS with no IOMMU domain, as
/// one only emulated devices use, allows every IOVA.
unsafe fn iova_ranges(ictx: &SharedIctx, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let (mut buf, size) = unsafe { argument(arg, 32, 32) }?;
    lock(ictx).ioas(u32_at(&buf, 4))?;
    let room = u32_at(&buf, 8);
    let ranges = u64_at(&buf, 16);
    if room >= 1 {
        if ranges == 0 {
            return Err(Errno::EFAULT);
        }
        let mut range = [0u8; 16];
        put_u64(&mut range, 8, u64::MAX);
        // SAFETY: the caller says `allowed_iovas` has room for `room`
        // ranges of 16 bytes; one is written.
        unsafe { respond(ranges as *mut c_void, &range, 16) };
    }
    put_u32(&mut buf, 8, 1);
    put_u64(&mut buf, 24, PAGE_SIZE);
    // The kernel answers the count even when the array is too small, and
    // then fails with EMSGSIZE, so the caller can grow it and ask again.
    // SAFETY: the caller's argument has `size` bytes.
    unsafe { respond(arg, &buf, size) };
    if room < 1 {
        return Err(Errno::EMSGSIZE);
    }
    Ok(0)
}

/// IOMMU_IOAS_MAP (size, flags, ioas_id, reserved, user_va, length, iova).
unsafe fn ioas_map(ictx: &SharedIctx, host: &Host, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let (mut buf, size) = unsafe { argument(arg, 40, 40) }?;
    let flags = u32_at(&buf, 4);
    let known = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
    if flags & !known != 0 || u32_at(&buf, 12) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let (vaddr, length, iova) = (u64_at(&buf, 16), u64_at(&buf, 24), u64_at(&buf, 32));
    if iova == u64::MAX || length == u64::MAX {
        return Err(Errno::EOVERFLOW);
    }
    let mut dma = 0;
    if flags & IOMMU_IOAS_MAP_READABLE != 0 {
        dma |= DMA_READ;
    }
    if flags & IOMMU_IOAS_MAP_WRITEABLE != 0 {
        dma |= DMA_WRITE;
    }
    // Pages are pinned whole: the model keeps mappings page-aligned.
    let aligned = |v: u64| v % PAGE_SIZE == 0;
    if dma == 0 || length == 0 || !aligned(length) || !aligned(vaddr) {
        return Err(Errno::EINVAL);
    }
    let mut ictx = lock(ictx);
    let ioas = ictx.ioas(u32_at(&buf, 8))?;
    let iova = if flags & IOMMU_IOAS_MAP_FIXED_IOVA != 0 {
        if !aligned(iova) {
            return Err(Errno::EINVAL);
        }
        let end = iova.checked_add(length).ok_or(Errno::EOVERFLOW)?;
        if overlaps(&ioas.areas, iova, end) {
            return Err(Errno::EEXIST);
        }
        iova
    } else {
        free_iova(&ioas.areas, length).ok_or(Errno::ENOSPC)?
    };
    for (n, &device) in ioas.attached.iter().enumerate() {
        if let Err(e) = host.kernel(device).dma_map(iova, vaddr, length, dma) {
            for &done in &ioas.attached[..n] {
                let _ = host.kernel(done).dma_unmap(iova, length);
            }
            return Err(e);
        }
    }
    ioas.areas.insert(iova, (length, vaddr, dma));
    put_u64(&mut buf, 32, iova);
    // SAFETY: the caller's argument has `size` bytes.
    unsafe { respond(arg, &buf, size) };
    Ok(0)
}

fn overlaps(areas: &BTreeMap<u64, (u64, u64, u32)>, start: u64, end: u64) -> bool {
    let before = areas.range(..start).next_back();
    before.is_some_and(|(&at, &(len, _, _))| at + len > start)
        || areas.range(start..end).next().is_some()
}

/// The lowest page-aligned IOVA with `length` free bytes.
fn free_iova(areas: &BTreeMap<u64, (u64, u64, u32)>, length: u64) -> Option<u64> {
    let mut candidate = 0u64;
    for (&at, &(len, _, _)) in areas {
        if at.checked_sub(candidate)? >= length {
            return Some(candidate);
        }
        candidate = candidate.max(at + len);
    }
    candidate.checked_add(length).map(|_| candidate)
}

/// IOMMU_IOAS_UNMAP (size, ioas_id, iova, length): removes the mappings
/// inside the range, reporting the bytes in `length`. A mapping cut by
/// either end, or nothing to unmap, is ENOENT; iova 0 with length
/// u64::MAX means all, and succeeds on an empty IOAS too.
unsafe fn ioas_unmap(ictx: &SharedIctx, host: &Host, arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let (mut buf, size) = unsafe { argument(arg, 24, 24) }?;
    let (iova, length) = (u64_at(&buf, 8), u64_at(&buf, 16));
    let mut ictx = lock(ictx);
    let ioas = ictx.ioas(u32_at(&buf, 4))?;
    let all = iova == 0 && length == u64::MAX;
    if length == 0 {
        return Err(Errno::EINVAL);
    }
    let last = iova.checked_add(length - 1).ok_or(Errno::EOVERFLOW)?;
    let hit: Vec<(u64, u64)> = ioas
        .areas
        .iter()
        .filter(|(&at, &(len, _, _))| at <= last && at + len > iova)
        .map(|(&at, &(len, _, _))| (at, len))
        .collect();
    if hit
        .iter()
        .any(|&(at, len)| at < iova || at + len - 1 > last)
    {
        return Err(Errno::ENOENT);
    }
    if hit.is_empty() && !all {
        return Err(Errno::ENOENT);
    }
    let mut unmapped = 0u64;
    for (at, len) in hit {
        for &device in &ioas.attached {
            host.kernel(device).dma_unmap(at, len)?;
        }
        ioas.areas.remove(&at);
        unmapped += len;
    }
    put_u64(&mut buf, 16, unmapped);
    // SAFETY: the caller's argument has `size` bytes.
    unsafe { respond(arg, &buf, size) };
    Ok(0)
}

/// VFIO_DEVICE_BIND_IOMMUFD (argsz, flags, iommufd, out_devid): opens the
/// device (the driver's open_device runs here) and makes its access
/// object. `ictx` is the iommufd the caller named, already checked.
///
/// # Safety
/// `arg` as the ioctl defines it.
pub unsafe fn bind(
    ictx: SharedIctx,
    index: usize,
    kernel: &Arc<Kernel>,
    arg: *mut c_void,
) -> Result<Binding, Errno> {
    // SAFETY: forwarded contract (vfio's argsz-led form: no E2BIG check).
    let mut buf = unsafe { vfio::argument(arg, 16) }?;
    if u32_at(&buf, 4) != 0 {
        return Err(Errno::EINVAL);
    }
    let device = Arc::new(kernel.open_device()?);
    let devid = lock(&ictx).alloc_id(Object::Access);
    put_u32(&mut buf, 12, devid);
    // SAFETY: the caller's argument has argsz >= 16 bytes; the kernel
    // writes back the 16 it defines.
    unsafe { respond(arg, &buf, 16) };
    Ok(Binding {
        ictx,
        devid,
        index,
        device,
        ioas: None,
    })
}

/// The iommufd fd named in a BIND argument, read before the binding is
/// made so that the caller can look it up.
///
/// # Safety
/// `arg` as VFIO_DEVICE_BIND_IOMMUFD defines it.
pub unsafe fn bind_target(arg: *mut c_void) -> Result<c_int, Errno> {
    // SAFETY: forwarded contract.
    let buf = unsafe { vfio::argument(arg, 16) }?;
    Ok(u32_at(&buf, 8) as c_int)
}

impl Binding {
    /// VFIO_DEVICE_ATTACH_IOMMUFD_PT (argsz, flags, pt_id): points the
    /// access at an IOAS, or moves it to another (the kernel's replace).
    ///
    /// # Safety
    /// `arg` as the ioctl defines it.
    pub unsafe fn attach(&mut self, arg: *mut c_void) -> Result<c_int, Errno> {
        let kernel = self.device.kernel();
        // SAFETY: forwarded contract.
        let buf = unsafe { vfio::argument(arg, 12) }?;
        if u32_at(&buf, 4) != 0 {
            return Err(Errno::EINVAL);
        }
        let id = u32_at(&buf, 8);
        let mut ictx = lock(&self.ictx);
        // Only an IOAS will do for an emulated device.
        let target: Vec<_> = ictx
            .ioas(id)?
            .areas
            .iter()
            .map(|(&at, &m)| (at, m))
            .collect();
        if self.ioas == Some(id) {
            return Ok(0);
        }
        if let Some(old) = self.ioas.take() {
            detach_from(&mut ictx, self.index, kernel, old);
        }
        for (at, (len, vaddr, dma)) in &target {
            if let Err(e) = kernel.dma_map(*at, *vaddr, *len, *dma) {
                // Leave the device detached, and the model as it was.
                for (done, (len, _, _)) in target.iter().take_while(|(a, _)| a != at) {
                    let _ = kernel.dma_unmap(*done, *len);
                }
                return Err(e);
            }
        }
        ictx.ioas(id)?.attached.push(self.index);
        self.ioas = Some(id);
        kernel.set_iommu_model(vfio_ccw_sim::IommuModel::Iommufd);
        Ok(0)
    }

    /// VFIO_DEVICE_DETACH_IOMMUFD_PT (argsz, flags); detaching a device
    /// that is not attached succeeds.
    ///
    /// # Safety
    /// `arg` as the ioctl defines it.
    pub unsafe fn detach(&mut self, arg: *mut c_void) -> Result<c_int, Errno> {
        // SAFETY: forwarded contract.
        let buf = unsafe { vfio::argument(arg, 8) }?;
        if u32_at(&buf, 4) != 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(old) = self.ioas.take() {
            detach_from(&mut lock(&self.ictx), self.index, self.device.kernel(), old);
        }
        Ok(0)
    }

    /// The cdev's close: detach, drop the access object, close the device.
    pub fn unbind(mut self) {
        let mut ictx = lock(&self.ictx);
        if let Some(old) = self.ioas.take() {
            detach_from(&mut ictx, self.index, self.device.kernel(), old);
        }
        ictx.objects.remove(&self.devid);
    }
}

/// Takes the IOAS's mappings out of device `index`'s driver model.
fn detach_from(ictx: &mut Ictx, index: usize, kernel: &Kernel, id: u32) {
    if let Ok(ioas) = ictx.ioas(id) {
        if let Some(at) = ioas.attached.iter().position(|&d| d == index) {
            ioas.attached.swap_remove(at);
        }
        for (&at, &(len, _, _)) in &ioas.areas {
            // Nothing to report to: a detach cannot fail.
            let _ = kernel.dma_unmap(at, len);
        }
    }
}
