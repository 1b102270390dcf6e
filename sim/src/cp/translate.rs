// SPDX-License-Identifier: GPL-2.0-or-later
//! The kernel's side of a channel program (Linux's vfio_ccw_cp.c): at SSCH
//! it copies the CCWs segment by segment, follows TICs, reads IDALs and
//! pins the data pages; the channel later runs what it kept.

use nix::errno::Errno;

use super::{flag, idaw_extent, Ccw, Orb, SEGMENT_BYTES, SEGMENT_CCWS};
use crate::config::KernelProfile;
use crate::dma::Dma;

/// A run of CCWs the kernel copied from one 2 KiB fetch.
#[derive(Debug)]
struct Segment {
    /// Guest address of the first CCW.
    head: u64,
    ccws: Vec<Ccw>,
    /// For each CCW with the IDA flag that moves data: the guest IDAWs the
    /// kernel read at translation (addresses, as 64-bit values).
    idaws: Vec<Option<Vec<u64>>>,
}

impl Segment {
    fn contains(&self, addr: u64) -> bool {
        addr >= self.head && addr < self.head + 8 * self.ccws.len() as u64
    }
}

/// A translated channel program: what the kernel keeps from cp_init and
/// cp_prefetch until the final interrupt.
#[derive(Debug)]
pub struct ChannelProgram {
    pub orb: Orb,
    segments: Vec<Segment>,
    /// Guest page ranges `(iova, len)` pinned for data.
    pinned: Vec<(u64, u64)>,
}

impl ChannelProgram {
    /// Translates the program at `orb.cpa` the way cp.c does: fetch 2 KiB per
    /// segment, count the chain, follow TICs to new segments, read IDALs,
    /// pin data pages.
    pub(crate) fn translate(orb: &Orb, dma: &Dma, profile: KernelProfile) -> Result<Self, Errno> {
        let segments = fetch_segments(orb, dma)?;
        let mut segments = segments;
        let mut pinned = Vec::new();
        for seg in &mut segments {
            for (i, ccw) in seg.ccws.iter().enumerate() {
                if ccw.is_tic() {
                    continue;
                }
                let ida = ccw.flags & flag::IDA != 0;
                if ida && (!orb.h || orb.t) && !profile.accepts_any_idaw_format() {
                    return Err(Errno::EOPNOTSUPP);
                }
                // ccwchain_fetch_ccw reads the first IDAW and the whole IDAL
                // of every IDA CCW, and only then asks whether it moves
                // data: an unreadable IDAL fails even a CCW that would not.
                let idaws = if ida {
                    Some(read_idal(orb, ccw, dma)?)
                } else {
                    None
                };
                if !ccw.moves_data() {
                    continue;
                }
                let count = u64::from(ccw.count);
                if let Some(idaws) = idaws {
                    let block = orb.idaw_block();
                    for (n, &idaw) in idaws.iter().enumerate() {
                        let (at, len) = idaw_extent(idaws[0], idaw, n, count, block);
                        dma.check_pin(at, len)?;
                        pinned.push((at, len));
                    }
                    seg.idaws[i] = Some(idaws);
                } else {
                    let at = u64::from(ccw.cda);
                    dma.check_pin(at, count)?;
                    pinned.push((at, count));
                }
            }
        }
        Ok(ChannelProgram {
            orb: *orb,
            segments,
            pinned,
        })
    }

    /// Whether the pages pinned for this program overlap `iova..iova+len`.
    pub fn pins_overlap(&self, iova: u64, len: u64) -> bool {
        let page = crate::dma::PAGE_SIZE;
        self.pinned.iter().any(|&(at, n)| {
            let first = at & !(page - 1);
            let end = (at + n.max(1) + page - 1) & !(page - 1);
            first < iova.saturating_add(len) && iova < end
        })
    }

    /// The bytes the program's CCWs offer to move (their counts, for those
    /// the kernel pins pages for): what a timing model charges transfer
    /// time for.
    pub fn data_bytes(&self) -> u64 {
        self.segments
            .iter()
            .flat_map(|s| &s.ccws)
            .filter(|c| !c.is_tic() && c.moves_data())
            .map(|c| u64::from(c.count))
            .sum()
    }

    /// Whether `addr` (a CPA from the channel) lies in a translated segment,
    /// the end included: the kernel only maps those back to guest addresses.
    pub fn cpa_in_program(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| addr >= s.head && addr <= s.head + 8 * s.ccws.len() as u64)
    }

    /// The CCW the channel fetches at `addr` (the kernel's copy of it) and
    /// the IDAWs read for it at translation; `None` outside the program or
    /// misaligned.
    pub(super) fn ccw_at(&self, addr: u64) -> Option<(Ccw, Option<&[u64]>)> {
        if addr % 8 != 0 {
            return None;
        }
        let seg = self.segments.iter().find(|s| s.contains(addr))?;
        let i = ((addr - seg.head) / 8) as usize;
        Some((seg.ccws[i], seg.idaws[i].as_deref()))
    }
}

/// The segments in the order cp.c lists them: the ORB's first, then, depth
/// first, each TIC's target in the order the TICs stand, unless a segment
/// already listed holds it (ccwchain_loop_tic recursing through
/// ccwchain_handle_ccw). The recursion is kept on an explicit stack, so a
/// guest's long TIC chains cannot exhaust the thread's own.
fn fetch_segments(orb: &Orb, dma: &Dma) -> Result<Vec<Segment>, Errno> {
    let mut segments = vec![fetch_segment(u64::from(orb.cpa), orb.fmt1, dma)?];
    // For each segment being looped: its index and the next CCW to look at.
    let mut stack = vec![(0usize, 0usize)];
    while let Some(top) = stack.last_mut() {
        let (seg, i) = *top;
        let Some(ccw) = segments[seg].ccws.get(i) else {
            stack.pop();
            continue;
        };
        top.1 += 1;
        if !ccw.is_tic() {
            continue;
        }
        let target = u64::from(ccw.cda);
        if segments.iter().any(|s| s.contains(target)) {
            continue;
        }
        segments.push(fetch_segment(target, orb.fmt1, dma)?);
        stack.push((segments.len() - 1, 0));
    }
    Ok(segments)
}

fn fetch_segment(head: u64, fmt1: bool, dma: &Dma) -> Result<Segment, Errno> {
    // The kernel reads the whole 2 KiB through vfio_dma_rw, whatever the
    // program's length.
    dma.check(head, SEGMENT_BYTES, crate::dma::DMA_READ)?;
    let mut raw = vec![0u8; SEGMENT_BYTES as usize];
    dma.read(head, &mut raw)?;
    let all: Vec<Ccw> = raw.chunks_exact(8).map(|b| Ccw::decode(b, fmt1)).collect();
    // ccwchain_calc_length: count while the CCW chains or is a TIC back
    // into the CCWs counted so far; a chain still going at the 256th CCW
    // is refused.
    let mut len = 0usize;
    loop {
        let ccw = &all[len];
        len += 1;
        let tic_back = ccw.is_tic()
            && u64::from(ccw.cda) >= head
            && u64::from(ccw.cda) < head + 8 * len as u64;
        if !ccw.chains() && !tic_back {
            break;
        }
        if len == SEGMENT_CCWS {
            return Err(Errno::EINVAL);
        }
    }
    let ccws = all[..len].to_vec();
    Ok(Segment {
        head,
        idaws: vec![None; len],
        ccws,
    })
}

/// Reads the guest IDAL of an IDA CCW as the kernel does: the first entry
/// (4 or 8 bytes per ORB H) gives the start, which gives the entry count;
/// then `count x 8` bytes are read even for 4-byte entries.
fn read_idal(orb: &Orb, ccw: &Ccw, dma: &Dma) -> Result<Vec<u64>, Errno> {
    let cda = u64::from(ccw.cda);
    let first = read_idaw(orb, dma, cda)?;
    let block = orb.idaw_block();
    let count = u64::from(ccw.count).max(1);
    let end = first.checked_add(count).ok_or(Errno::EINVAL)?;
    let nr = (end.div_ceil(block) - first / block) as usize;
    dma.check(cda, nr as u64 * 8, crate::dma::DMA_READ)?;
    let size = if orb.h { 8 } else { 4 };
    (0..nr)
        .map(|i| read_idaw(orb, dma, cda + (i * size) as u64))
        .collect()
}

fn read_idaw(orb: &Orb, dma: &Dma, at: u64) -> Result<u64, Errno> {
    if orb.h {
        let mut b = [0u8; 8];
        dma.read(at, &mut b)?;
        Ok(u64::from_be_bytes(b))
    } else {
        let mut b = [0u8; 4];
        dma.read(at, &mut b)?;
        Ok(u64::from(u32::from_be_bytes(b)))
    }
}
