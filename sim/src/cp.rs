// SPDX-License-Identifier: GPL-2.0-or-later
//! Channel programs: the kernel's translation at SSCH (cp.c) and the
//! channel that then runs the program against the device.
//!
//! Everything here decodes the architecture's bytes itself (ORB, CCWs,
//! IDAWs, IRB) rather than through the library's `css` module, so the
//! library is tested against an independent reading of the formats.

use nix::errno::Errno;

use crate::ccw_device::{dstat, CcwDevice, Transfer};
use crate::config::KernelProfile;
use crate::dma::Dma;
use crate::stats::Stats;

/// The kernel reads this many bytes of CCWs per segment (256 CCWs).
pub const SEGMENT_BYTES: u64 = 2048;
/// CCWs per segment; a longer chain is refused with `EINVAL`.
pub const SEGMENT_CCWS: usize = 256;
/// The channel ends a program that has executed this many CCWs (TICs
/// included) with a program check: a bound on TIC loops.
pub const MAX_CCWS_EXECUTED: u64 = 65536;

/// `CCW_CMD_TIC`.
const CMD_TIC: u8 = 0x08;
/// `CCW_CMD_NOOP`.
const CMD_NOOP: u8 = 0x03;

/// CCW flag bits (format-1 byte 1, format-0 byte 4).
pub mod flag {
    pub const CD: u8 = 0x80;
    pub const CC: u8 = 0x40;
    pub const SLI: u8 = 0x20;
    pub const SKIP: u8 = 0x10;
    pub const PCI: u8 = 0x08;
    pub const IDA: u8 = 0x04;
    pub const SUSPEND: u8 = 0x02;
}

/// Channel-status bits (SCSW byte 9).
pub mod cstat {
    pub const INCORRECT_LENGTH: u8 = 0x40;
    pub const PROGRAM_CHECK: u8 = 0x20;
    pub const PROTECTION_CHECK: u8 = 0x10;
}

/// SCSW function control (byte 2, high bits).
pub mod fctl {
    pub const START: u8 = 0x40;
    pub const HALT: u8 = 0x20;
    pub const CLEAR: u8 = 0x10;
}

/// SCSW activity control (bits of byte 2 low nibble and byte 3 high bits).
pub mod actl {
    /// Byte 3.
    pub const SUBCHANNEL_ACTIVE: u8 = 0x80;
    /// Byte 3.
    pub const DEVICE_ACTIVE: u8 = 0x40;
    /// Byte 2.
    pub const HALT_PENDING: u8 = 0x02;
    /// Byte 2.
    pub const CLEAR_PENDING: u8 = 0x01;
}

/// SCSW status control (byte 3, low bits).
pub mod sctl {
    pub const ALERT: u8 = 0x10;
    pub const INTERMEDIATE: u8 = 0x08;
    pub const PRIMARY: u8 = 0x04;
    pub const SECONDARY: u8 = 0x02;
    pub const PENDING: u8 = 0x01;
}

/// A command-mode ORB, decoded from its 12 big-endian bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orb {
    pub intparm: u32,
    pub key: u8,
    /// Suspend control (S).
    pub suspend: bool,
    /// Byte 5: F P I A U b H T.
    pub fmt1: bool,
    pub pfch: bool,
    pub isic: bool,
    pub alcc: bool,
    pub ssic: bool,
    /// The transport-mode bit (byte 5, 0x04).
    pub b: bool,
    /// Format-2 (64-bit) IDAWs.
    pub h: bool,
    /// 2K format-2 IDAWs.
    pub t: bool,
    pub lpm: u8,
    /// Byte 7.
    pub ils: bool,
    pub x: bool,
    pub cpa: u32,
}

impl Orb {
    /// Decodes the architecture's byte image.
    pub fn decode(b: &[u8; 12]) -> Orb {
        Orb {
            intparm: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            key: b[4] >> 4,
            suspend: b[4] & 0x08 != 0,
            fmt1: b[5] & 0x80 != 0,
            pfch: b[5] & 0x40 != 0,
            isic: b[5] & 0x20 != 0,
            alcc: b[5] & 0x10 != 0,
            ssic: b[5] & 0x08 != 0,
            b: b[5] & 0x04 != 0,
            h: b[5] & 0x02 != 0,
            t: b[5] & 0x01 != 0,
            lpm: b[6],
            ils: b[7] & 0x80 != 0,
            x: b[7] & 0x01 != 0,
            cpa: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    /// IDAW block size: 2 KiB for format-1 IDAWs or with T, else 4 KiB.
    fn idaw_block(&self) -> u64 {
        if !self.h || self.t {
            2048
        } else {
            4096
        }
    }
}

/// A CCW in format-1 form (the kernel converts format-0 on copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ccw {
    pub cmd: u8,
    pub flags: u8,
    pub count: u16,
    pub cda: u32,
}

impl Ccw {
    fn decode(b: &[u8], fmt1: bool) -> Ccw {
        if fmt1 {
            Ccw {
                cmd: b[0],
                flags: b[1],
                count: u16::from_be_bytes([b[2], b[3]]),
                cda: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            }
        } else {
            // Format 0: cmd, 24-bit address, flags, reserved, count. A
            // format-0 opcode with low nibble 8 is a TIC whatever its high
            // nibble, so the kernel rewrites it to the format-1 TIC code.
            let cmd = if b[0] & 0x0f == CMD_TIC {
                CMD_TIC
            } else {
                b[0]
            };
            Ccw {
                cmd,
                flags: b[4],
                count: u16::from_be_bytes([b[6], b[7]]),
                cda: u32::from_be_bytes([0, b[1], b[2], b[3]]),
            }
        }
    }

    fn is_tic(&self) -> bool {
        self.cmd == CMD_TIC
    }

    fn chains(&self) -> bool {
        self.flags & (flag::CD | flag::CC) != 0
    }

    /// `ccw_is_read`, `ccw_is_read_backward`, `ccw_is_sense` of cp.c.
    fn is_read_like(&self) -> bool {
        self.cmd & 0x03 == 0x02 || self.cmd & 0x0f == 0x0c || self.cmd & 0x0f == 0x04
    }

    /// Whether the kernel pins data pages for this CCW.
    fn moves_data(&self) -> bool {
        self.count != 0
            && self.cmd != CMD_NOOP
            && !(self.flags & flag::SKIP != 0 && self.is_read_like())
    }
}

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
        let mut segments: Vec<Segment> = Vec::new();
        let mut todo = vec![u64::from(orb.cpa)];
        while let Some(head) = todo.pop() {
            if segments.iter().any(|s| s.contains(head)) {
                continue;
            }
            let seg = fetch_segment(head, orb.fmt1, dma)?;
            for ccw in seg.ccws.iter().filter(|c| c.is_tic()) {
                let target = u64::from(ccw.cda);
                if !seg.contains(target) && !segments.iter().any(|s| s.contains(target)) {
                    todo.push(target);
                }
            }
            segments.push(seg);
        }
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
                if !ccw.moves_data() {
                    continue;
                }
                let count = u64::from(ccw.count);
                if ida {
                    let idaws = read_idal(orb, ccw, dma)?;
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

    /// Whether `addr` (a CPA from the channel) lies in a translated segment,
    /// the end included: the kernel only maps those back to guest addresses.
    pub fn cpa_in_program(&self, addr: u64) -> bool {
        self.segments
            .iter()
            .any(|s| addr >= s.head && addr <= s.head + 8 * s.ccws.len() as u64)
    }

    fn fetch(&self, addr: u64) -> Option<(&Segment, usize)> {
        if addr % 8 != 0 {
            return None;
        }
        self.segments
            .iter()
            .find(|s| s.contains(addr))
            .map(|s| (s, ((addr - s.head) / 8) as usize))
    }
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

/// The bytes IDAW number `n` covers out of a CCW count `count`: the first
/// runs to its block boundary, the others a block each.
fn idaw_extent(first: u64, idaw: u64, n: usize, count: u64, block: u64) -> (u64, u64) {
    let first_len = (block - first % block).min(count);
    if n == 0 {
        return (idaw, first_len);
    }
    let before = first_len + (n as u64 - 1) * block;
    (idaw, count.saturating_sub(before).min(block))
}

/// How a channel program ended, as the IRB's SCSW and ECW report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    pub fctl: u8,
    pub sctl: u8,
    pub cpa: u32,
    pub dstat: u8,
    pub cstat: u8,
    pub count: u16,
    /// Concurrent sense bytes (unit check).
    pub sense: Option<[u8; 32]>,
}

impl Ending {
    fn program_check(cpa: u64) -> Ending {
        Ending {
            fctl: fctl::START,
            sctl: sctl::PENDING | sctl::PRIMARY | sctl::SECONDARY | sctl::ALERT,
            cpa: cpa as u32,
            dstat: 0,
            cstat: cstat::PROGRAM_CHECK,
            count: 0,
            sense: None,
        }
    }

    /// The 96-byte IRB: SCSW with the kernel's ORB flags (format-1 CCWs,
    /// since the kernel converts), ESW with the concurrent-sense bits, ECW.
    pub fn irb(&self, orb: &Orb, key: u8) -> [u8; 96] {
        let mut irb = [0u8; 96];
        irb[0] = key << 4;
        let mut b1 = 0x80; // F: the kernel always hands the channel format-1 CCWs
        if orb.pfch {
            b1 |= 0x40;
        }
        if orb.isic {
            b1 |= 0x20;
        }
        if orb.alcc {
            b1 |= 0x10;
        }
        if orb.ssic {
            b1 |= 0x08;
        }
        irb[1] = b1;
        irb[2] = self.fctl;
        irb[3] = self.sctl;
        irb[4..8].copy_from_slice(&self.cpa.to_be_bytes());
        irb[8] = self.dstat;
        irb[9] = self.cstat;
        irb[10..12].copy_from_slice(&self.count.to_be_bytes());
        if let Some(sense) = self.sense {
            irb[0] |= 0x04; // L: a format-0 ESW is stored
            irb[1] |= 0x02; // E: the ECW holds information (the sense)
            irb[16] = 0x01; // ERW cons: concurrent sense in the ECW
            irb[17] = 32; // ERW scnt
            irb[32..64].copy_from_slice(&sense);
        }
        irb
    }
}

/// One CCW of a data chain with where it sits.
struct Link<'a> {
    addr: u64,
    ccw: Ccw,
    idaws: Option<&'a [u64]>,
}

enum Fault {
    Program(u64),
    Protection(u64),
}

/// Runs a translated program on `device` and returns how it ended.
pub(crate) fn run(
    cp: &ChannelProgram,
    dma: &Dma,
    device: &mut dyn CcwDevice,
    stats: &mut Stats,
) -> Ending {
    device.begin_program();
    match run_inner(cp, dma, device, stats) {
        Ok(e) => e,
        Err(Fault::Program(at)) => Ending::program_check(at + 8),
        Err(Fault::Protection(at)) => Ending {
            cstat: cstat::PROTECTION_CHECK,
            ..Ending::program_check(at + 8)
        },
    }
}

fn run_inner(
    cp: &ChannelProgram,
    dma: &Dma,
    device: &mut dyn CcwDevice,
    stats: &mut Stats,
) -> Result<Ending, Fault> {
    let orb = &cp.orb;
    let mut addr = u64::from(orb.cpa);
    let mut executed = 0u64;
    loop {
        // Fetch the command CCW, following TICs (never one to another).
        let mut after_tic = false;
        let first = loop {
            executed += 1;
            if executed > MAX_CCWS_EXECUTED {
                return Err(Fault::Program(addr));
            }
            let (seg, i) = cp.fetch(addr).ok_or(Fault::Program(addr))?;
            stats.ccws_executed += 1;
            let ccw = seg.ccws[i];
            if ccw.cmd & 0x0f == CMD_TIC {
                if after_tic || ccw.cmd != CMD_TIC || ccw.cda % 8 != 0 {
                    return Err(Fault::Program(addr));
                }
                after_tic = true;
                addr = u64::from(ccw.cda);
                continue;
            }
            break Link {
                addr,
                ccw,
                idaws: seg.idaws[i].as_deref(),
            };
        };
        check_ccw(orb, &first, true)?;
        // Collect the data chain.
        let mut chain = vec![first];
        while chain[chain.len() - 1].ccw.flags & flag::CD != 0 {
            let mut next = chain[chain.len() - 1].addr + 8;
            let mut after_tic = false;
            let link = loop {
                executed += 1;
                if executed > MAX_CCWS_EXECUTED {
                    return Err(Fault::Program(next));
                }
                let (seg, i) = cp.fetch(next).ok_or(Fault::Program(next))?;
                stats.ccws_executed += 1;
                let ccw = seg.ccws[i];
                if ccw.cmd & 0x0f == CMD_TIC {
                    if after_tic || ccw.cmd != CMD_TIC || ccw.cda % 8 != 0 {
                        return Err(Fault::Program(next));
                    }
                    after_tic = true;
                    next = u64::from(ccw.cda);
                    continue;
                }
                break Link {
                    addr: next,
                    ccw,
                    idaws: seg.idaws[i].as_deref(),
                };
            };
            check_ccw(orb, &link, false)?;
            chain.push(link);
        }

        let cmd = chain[0].ccw.cmd;
        let total: usize = chain.iter().map(|l| usize::from(l.ccw.count)).sum();
        let is_read = cmd & 0x03 == 0x02 || cmd & 0x0f == 0x04 || cmd & 0x0f == 0x0c;
        let response;
        let mut transferred = 0usize;
        if cmd == CMD_NOOP || total == 0 {
            response = device.command(cmd, Transfer::Control);
        } else if is_read {
            let mut buf = vec![0u8; total];
            response = device.command(cmd, Transfer::Read(&mut buf));
            transferred = response.len.min(total);
            scatter(orb, dma, &chain, &buf[..transferred], stats)?;
        } else {
            let buf = gather(orb, dma, &chain)?;
            response = device.command(cmd, Transfer::Write(&buf));
            transferred = response.len.min(total);
            stats.bytes_written += transferred as u64;
        }

        // The CCW the transfer ended in, and its residual count.
        let mut k = chain.len() - 1;
        let mut residual = 0u16;
        if transferred < total {
            let mut before = 0usize;
            for (i, l) in chain.iter().enumerate() {
                let c = usize::from(l.ccw.count);
                if before + c > transferred {
                    k = i;
                    residual = (before + c - transferred) as u16;
                    break;
                }
                before += c;
            }
        }
        let current = &chain[k];
        let mut cs = 0u8;
        let wants = if cmd == CMD_NOOP { total } else { response.len };
        if wants != total && current.ccw.flags & flag::SLI == 0 {
            cs |= cstat::INCORRECT_LENGTH;
        }
        let ds = response.dstat;
        let normal = ds & !(dstat::CHANNEL_END | dstat::DEVICE_END | dstat::STATUS_MODIFIER) == 0
            && ds & (dstat::CHANNEL_END | dstat::DEVICE_END)
                == dstat::CHANNEL_END | dstat::DEVICE_END;
        let last = &chain[chain.len() - 1];
        if normal && cs == 0 && last.ccw.flags & flag::CC != 0 {
            addr = last.addr
                + if ds & dstat::STATUS_MODIFIER != 0 {
                    16
                } else {
                    8
                };
            continue;
        }
        let unusual = ds & (dstat::UNIT_CHECK | dstat::UNIT_EXCEPTION) != 0 || cs != 0;
        let mut sc = sctl::PENDING | sctl::PRIMARY | sctl::SECONDARY;
        if unusual {
            sc |= sctl::ALERT;
        }
        return Ok(Ending {
            fctl: fctl::START,
            sctl: sc,
            cpa: (current.addr + 8) as u32,
            dstat: ds,
            cstat: cs,
            count: residual,
            sense: (ds & dstat::UNIT_CHECK != 0).then(|| device.sense()),
        });
    }
}

/// The channel's checks of one CCW before it is used.
fn check_ccw(orb: &Orb, link: &Link<'_>, command: bool) -> Result<(), Fault> {
    let ccw = &link.ccw;
    if command && ccw.cmd & 0x0f == 0 {
        return Err(Fault::Program(link.addr));
    }
    if ccw.flags & flag::SUSPEND != 0 && !orb.suspend {
        return Err(Fault::Program(link.addr));
    }
    let control = command && ccw.cmd & 0x03 == 0x03;
    if ccw.count == 0 && !control && (!command || ccw.flags & flag::SLI == 0) {
        return Err(Fault::Program(link.addr));
    }
    if ccw.flags & flag::IDA == 0 && ccw.count != 0 && ccw.cda & 0x8000_0000 != 0 {
        return Err(Fault::Program(link.addr));
    }
    Ok(())
}

/// The guest extents `(iova, len)` of one CCW's data area.
fn extents(orb: &Orb, link: &Link<'_>) -> Result<Vec<(u64, u64)>, Fault> {
    let count = u64::from(link.ccw.count);
    match link.idaws {
        None if link.ccw.flags & flag::IDA != 0 => Err(Fault::Program(link.addr)),
        None => Ok(vec![(u64::from(link.ccw.cda), count)]),
        Some(idaws) => {
            let block = orb.idaw_block();
            let mut out = Vec::with_capacity(idaws.len());
            for (n, &idaw) in idaws.iter().enumerate() {
                let bad_format1 = !orb.h && idaw & 0x8000_0000 != 0;
                if bad_format1 || (n > 0 && idaw % block != 0) {
                    return Err(Fault::Program(link.addr));
                }
                let (at, len) = idaw_extent(idaws[0], idaw, n, count, block);
                if len > 0 {
                    out.push((at, len));
                }
            }
            Ok(out)
        }
    }
}

fn gather(orb: &Orb, dma: &Dma, chain: &[Link<'_>]) -> Result<Vec<u8>, Fault> {
    let mut buf = Vec::new();
    for link in chain {
        for (at, len) in extents(orb, link)? {
            let start = buf.len();
            buf.resize(start + len as usize, 0);
            dma.read(at, &mut buf[start..])
                .map_err(|_| Fault::Protection(link.addr))?;
        }
    }
    Ok(buf)
}

fn scatter(
    orb: &Orb,
    dma: &Dma,
    chain: &[Link<'_>],
    mut data: &[u8],
    stats: &mut Stats,
) -> Result<(), Fault> {
    for link in chain {
        if link.ccw.flags & flag::SKIP != 0 {
            // Skipped data is counted but never stored (nor pinned).
            let n = usize::from(link.ccw.count).min(data.len());
            data = &data[n..];
            continue;
        }
        for (at, len) in extents(orb, link)? {
            if data.is_empty() {
                return Ok(());
            }
            let n = (len as usize).min(data.len());
            dma.write(at, &data[..n])
                .map_err(|_| Fault::Protection(link.addr))?;
            stats.bytes_read += n as u64;
            data = &data[n..];
        }
    }
    Ok(())
}
