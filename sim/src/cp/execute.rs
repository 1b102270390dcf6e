// SPDX-License-Identifier: GPL-2.0-or-later
//! The channel: it runs a translated program against the device, CCW by
//! CCW (command chaining, data chaining, TIC, IDAWs, skip, status
//! modifier), moves the data through the DMA mappings, and says how the
//! program ended.

use super::{
    cstat, fctl, flag, idaw_extent, sctl, Ccw, ChannelProgram, Ending, Orb, CMD_NOOP, CMD_TIC,
    MAX_CCWS_EXECUTED,
};
use crate::ccw_device::{dstat, CcwDevice, Response, Transfer};
use crate::dma::Dma;
use crate::stats::Stats;

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
    let mut channel = Channel {
        cp,
        dma,
        device,
        stats,
        executed: 0,
    };
    match channel.run() {
        Ok(e) => e,
        Err(Fault::Program(at)) => Ending::program_check(at + 8),
        Err(Fault::Protection(at)) => Ending {
            cstat: cstat::PROTECTION_CHECK,
            ..Ending::program_check(at + 8)
        },
    }
}

/// The channel running one program.
struct Channel<'a> {
    cp: &'a ChannelProgram,
    dma: &'a Dma,
    device: &'a mut dyn CcwDevice,
    stats: &'a mut Stats,
    /// CCWs fetched so far, TICs included (bounded by MAX_CCWS_EXECUTED).
    executed: u64,
}

/// What the device did with one command and its data chain.
struct Executed {
    response: Response,
    /// Bytes the chain's CCWs offered (their counts added up).
    offered: usize,
    /// Bytes that moved.
    transferred: usize,
}

impl<'a> Channel<'a> {
    /// Command after command until one ends the program.
    fn run(&mut self) -> Result<Ending, Fault> {
        let mut addr = u64::from(self.cp.orb.cpa);
        loop {
            let first = self.fetch(addr)?;
            check_ccw(&self.cp.orb, &first, true)?;
            let chain = self.data_chain(first)?;
            let done = self.execute(&chain)?;
            match self.next_command(&chain, &done) {
                Some(next) => addr = next,
                None => return Ok(self.ending(&chain, &done)),
            }
        }
    }

    /// Fetches the CCW at `addr`, following a TIC (never one to another).
    fn fetch(&mut self, mut addr: u64) -> Result<Link<'a>, Fault> {
        let mut after_tic = false;
        loop {
            self.executed += 1;
            if self.executed > MAX_CCWS_EXECUTED {
                return Err(Fault::Program(addr));
            }
            let (ccw, idaws) = self.cp.ccw_at(addr).ok_or(Fault::Program(addr))?;
            self.stats.ccws_executed += 1;
            if ccw.cmd & 0x0f != CMD_TIC {
                return Ok(Link { addr, ccw, idaws });
            }
            if after_tic || ccw.cmd != CMD_TIC || ccw.cda % 8 != 0 {
                return Err(Fault::Program(addr));
            }
            after_tic = true;
            addr = u64::from(ccw.cda);
        }
    }

    /// The command CCW and the CCWs it data-chains to.
    fn data_chain(&mut self, first: Link<'a>) -> Result<Vec<Link<'a>>, Fault> {
        let mut chain = vec![first];
        while let Some(last) = chain.last().filter(|l| l.ccw.flags & flag::CD != 0) {
            let link = self.fetch(last.addr + 8)?;
            check_ccw(&self.cp.orb, &link, false)?;
            chain.push(link);
        }
        Ok(chain)
    }

    /// Offers the chain's command and data to the device.
    fn execute(&mut self, chain: &[Link<'_>]) -> Result<Executed, Fault> {
        let orb = &self.cp.orb;
        let cmd = chain[0].ccw.cmd;
        let offered: usize = chain.iter().map(|l| usize::from(l.ccw.count)).sum();
        let is_read = cmd & 0x03 == 0x02 || cmd & 0x0f == 0x04 || cmd & 0x0f == 0x0c;
        if cmd == CMD_NOOP || offered == 0 {
            let response = self.device.command(cmd, Transfer::Control);
            return Ok(Executed {
                response,
                offered,
                transferred: 0,
            });
        }
        let (response, transferred) = if is_read {
            let mut buf = vec![0u8; offered];
            let response = self.device.command(cmd, Transfer::Read(&mut buf));
            let transferred = response.len.min(offered);
            scatter(orb, self.dma, chain, &buf[..transferred], self.stats)?;
            (response, transferred)
        } else {
            let buf = gather(orb, self.dma, chain)?;
            let response = self.device.command(cmd, Transfer::Write(&buf));
            let transferred = response.len.min(offered);
            self.stats.bytes_written += transferred as u64;
            (response, transferred)
        };
        Ok(Executed {
            response,
            offered,
            transferred,
        })
    }

    /// Where command chaining goes on after a normal ending (the next CCW,
    /// or the one after it on status modifier); `None` ends the program.
    fn next_command(&self, chain: &[Link<'_>], done: &Executed) -> Option<u64> {
        let ds = done.response.dstat;
        let end = dstat::CHANNEL_END | dstat::DEVICE_END;
        let normal = ds & !(end | dstat::STATUS_MODIFIER) == 0 && ds & end == end;
        let last = &chain[chain.len() - 1];
        if !normal || incorrect_length(chain, done) || last.ccw.flags & flag::CC == 0 {
            return None;
        }
        let skip = if ds & dstat::STATUS_MODIFIER != 0 {
            16
        } else {
            8
        };
        Some(last.addr + skip)
    }

    /// The program's ending status: CPA and residual count of the CCW the
    /// data ended in.
    fn ending(&self, chain: &[Link<'_>], done: &Executed) -> Ending {
        let (k, residual) = where_data_ended(chain, done);
        let ds = done.response.dstat;
        let cs = if incorrect_length(chain, done) {
            cstat::INCORRECT_LENGTH
        } else {
            0
        };
        let unusual = ds & (dstat::UNIT_CHECK | dstat::UNIT_EXCEPTION) != 0 || cs != 0;
        let mut sc = sctl::PENDING | sctl::PRIMARY | sctl::SECONDARY;
        if unusual {
            sc |= sctl::ALERT;
        }
        Ending {
            fctl: fctl::START,
            sctl: sc,
            cpa: (chain[k].addr + 8) as u32,
            dstat: ds,
            cstat: cs,
            count: residual,
            sense: (ds & dstat::UNIT_CHECK != 0).then(|| self.device.sense()),
        }
    }
}

/// The index of the CCW the transfer ended in, and its residual count.
fn where_data_ended(chain: &[Link<'_>], done: &Executed) -> (usize, u16) {
    if done.transferred < done.offered {
        let mut before = 0usize;
        for (i, l) in chain.iter().enumerate() {
            let c = usize::from(l.ccw.count);
            if before + c > done.transferred {
                return (i, (before + c - done.transferred) as u16);
            }
            before += c;
        }
    }
    (chain.len() - 1, 0)
}

/// Whether the device wanted another length than the chain offered, in a
/// CCW without SLI (a NOP wants what it is offered).
fn incorrect_length(chain: &[Link<'_>], done: &Executed) -> bool {
    let (k, _) = where_data_ended(chain, done);
    let wants = if chain[0].ccw.cmd == CMD_NOOP {
        done.offered
    } else {
        done.response.len
    };
    wants != done.offered && chain[k].ccw.flags & flag::SLI == 0
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
