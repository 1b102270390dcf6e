// SPDX-License-Identifier: GPL-2.0-or-later
//! The container's DMA mappings (vfio type1 on an emulated IOMMU): MAP_DMA
//! only records iova -> process address; vfio-ccw pins pages per I/O.
//!
//! The channel reads and writes guest memory through these mappings with
//! raw pointers, exactly where the kernel would pin and access the pages.

use std::collections::BTreeMap;

use nix::errno::Errno;

/// `VFIO_DMA_MAP_FLAG_READ`.
pub const DMA_READ: u32 = 1;
/// `VFIO_DMA_MAP_FLAG_WRITE`.
pub const DMA_WRITE: u32 = 2;
/// The IOMMU page size the model reports and requires.
pub const PAGE_SIZE: u64 = 4096;

/// The IOMMU back end the device's DMA goes through; it decides how a pin
/// or a read of guest memory fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IommuModel {
    /// A type1 container set up as `VFIO_TYPE1v2_IOMMU` (the default):
    /// unmapped memory is `EINVAL`.
    #[default]
    Type1V2,
    /// A type1 container set up as `VFIO_TYPE1_IOMMU`: it refuses every
    /// pin by a device (`vfio_iommu_type1_pin_pages`: `EACCES`, v2 only),
    /// so no channel program with data can start.
    Type1V1,
    /// An iommufd IOAS: unmapped memory is `ENOENT` (iommufd's access
    /// pin and read find no area).
    Iommufd,
}

#[derive(Clone, Copy, Debug)]
struct Mapping {
    vaddr: u64,
    size: u64,
    flags: u32,
}

/// Every mapping of the container, keyed by iova.
#[derive(Debug, Default)]
pub(crate) struct Dma {
    maps: BTreeMap<u64, Mapping>,
    pub(crate) model: IommuModel,
}

impl Dma {
    /// VFIO_IOMMU_MAP_DMA: page-aligned iova, vaddr and size, at least one of
    /// READ/WRITE and nothing else, no wrap-around, no overlap (`EEXIST`).
    pub(crate) fn map(
        &mut self,
        iova: u64,
        vaddr: u64,
        size: u64,
        flags: u32,
    ) -> Result<(), Errno> {
        if flags & !(DMA_READ | DMA_WRITE) != 0 || flags == 0 {
            return Err(Errno::EINVAL);
        }
        if size == 0 || (size | iova | vaddr) & (PAGE_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let iova_end = iova.checked_add(size).ok_or(Errno::EINVAL)?;
        vaddr.checked_add(size).ok_or(Errno::EINVAL)?;
        if self.overlapping(iova, iova_end).next().is_some() {
            return Err(Errno::EEXIST);
        }
        self.maps.insert(iova, Mapping { vaddr, size, flags });
        Ok(())
    }

    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, &Mapping)> + '_ {
        self.maps
            .range(..end)
            .filter(move |(&i, m)| i + m.size > start)
            .map(|(&i, m)| (i, m))
    }

    /// The whole mappings VFIO_IOMMU_UNMAP_DMA would remove: aligned
    /// arguments; a mapping that straddles either end makes it `EINVAL`.
    pub(crate) fn unmap_ranges(&self, iova: u64, size: u64) -> Result<Vec<(u64, u64)>, Errno> {
        // vfio_dma_do_unmap: a size of 0 is invalid, not an empty range.
        if size == 0 || (iova | size) & (PAGE_SIZE - 1) != 0 {
            return Err(Errno::EINVAL);
        }
        let end = iova.checked_add(size).ok_or(Errno::EINVAL)?;
        let mut out = Vec::new();
        for (start, m) in self.overlapping(iova, end) {
            if start < iova || start + m.size > end {
                return Err(Errno::EINVAL);
            }
            out.push((start, m.size));
        }
        Ok(out)
    }

    /// Removes the mappings `unmap_ranges` returned.
    pub(crate) fn remove(&mut self, ranges: &[(u64, u64)]) -> u64 {
        ranges
            .iter()
            .filter_map(|(start, _)| self.maps.remove(start))
            .map(|m| m.size)
            .sum()
    }

    fn containing(&self, iova: u64) -> Option<(u64, &Mapping)> {
        self.maps
            .range(..=iova)
            .next_back()
            .filter(|(&i, m)| iova - i < m.size)
            .map(|(&i, m)| (i, m))
    }

    /// How the back end answers an access to unmapped memory.
    fn unmapped(&self) -> Errno {
        match self.model {
            IommuModel::Iommufd => Errno::ENOENT,
            IommuModel::Type1V2 | IommuModel::Type1V1 => Errno::EINVAL,
        }
    }

    /// Checks every byte of `iova..iova+len` is mapped with `need`: an
    /// unmapped byte is `EINVAL` (`ENOENT` under iommufd), missing
    /// permission `EPERM` (the answers to a pin or `vfio_dma_rw`).
    pub(crate) fn check(&self, iova: u64, len: u64, need: u32) -> Result<(), Errno> {
        let end = iova.checked_add(len).ok_or(Errno::EINVAL)?;
        let mut at = iova;
        while at < end {
            let (start, m) = self.containing(at).ok_or(self.unmapped())?;
            if m.flags & need != need {
                return Err(Errno::EPERM);
            }
            at = start + m.size;
        }
        Ok(())
    }

    /// The pin check for the pages of `iova..iova+len` (len 0 counts as 1):
    /// each page's first byte must be mapped READ|WRITE.
    /// A type1 v1 container refuses the pin outright (`EACCES`).
    pub(crate) fn check_pin(&self, iova: u64, len: u64) -> Result<(), Errno> {
        if self.model == IommuModel::Type1V1 {
            return Err(Errno::EACCES);
        }
        let last = iova.checked_add(len.max(1) - 1).ok_or(Errno::EINVAL)?;
        let mut page = iova & !(PAGE_SIZE - 1);
        loop {
            let (_, m) = self.containing(page).ok_or(self.unmapped())?;
            if m.flags & (DMA_READ | DMA_WRITE) != DMA_READ | DMA_WRITE {
                return Err(Errno::EPERM);
            }
            match page.checked_add(PAGE_SIZE) {
                Some(next) if next <= last => page = next,
                _ => return Ok(()),
            }
        }
    }

    /// Copies guest memory at `iova` into `buf`.
    pub(crate) fn read(&self, iova: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = iova.checked_add(done as u64).ok_or(Errno::EINVAL)?;
            let (start, m) = self.containing(at).ok_or(self.unmapped())?;
            let off = at - start;
            let n = ((m.size - off) as usize).min(buf.len() - done);
            let src = (m.vaddr + off) as *const u8;
            // SAFETY: `src..src+n` lies inside a mapping userspace registered
            // with MAP_DMA (`off + n <= m.size`); like the kernel, the model
            // relies on userspace keeping a mapped range valid until it
            // unmaps it (see `Kernel::dma_map`). The destination is a
            // distinct Rust buffer of at least `done + n` bytes.
            unsafe { std::ptr::copy_nonoverlapping(src, buf[done..].as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    /// Copies `data` into guest memory at `iova`.
    pub(crate) fn write(&self, iova: u64, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0usize;
        while done < data.len() {
            let at = iova.checked_add(done as u64).ok_or(Errno::EINVAL)?;
            let (start, m) = self.containing(at).ok_or(Errno::EINVAL)?;
            let off = at - start;
            let n = ((m.size - off) as usize).min(data.len() - done);
            let dst = (m.vaddr + off) as *mut u8;
            // SAFETY: as in `read`: `dst..dst+n` is inside a live DMA mapping
            // whose memory userspace promised to keep valid and writable; the
            // source is a distinct Rust buffer.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), dst, n) };
            done += n;
        }
        Ok(())
    }
}
