// SPDX-License-Identifier: GPL-2.0-or-later
//! One vfio-ccw device: realize, the four I/O instructions, the three
//! interrupts, reset and teardown.
//!
//! Every operation takes QEMU's host-order state and returns an
//! [`Outcome`]: what QEMU must do. Nothing here calls QEMU. The I/O path
//! (start, I/O interrupt) allocates nothing and makes three syscalls: the
//! region write, the eventfd read and the region read.

use log::{debug, error, warn};
use nix::errno::Errno;

use crate::css::{Crw, Esw, Irb, Orb, Schib, ORB_CTRL0_MASK_PFCH, PMCW_CHARS_MASK_CSENSE};
use crate::css::{SCSW_DSTAT_UNIT_CHECK, SCSW_FLAGS_MASK_PNO};
use crate::ending::{self, Ending, HostError, Instruction, IoInstEnding};
use crate::error::{DeviceError, Error};
use crate::irq::{self, EventFd, Irq};
use crate::kernel::DeviceFd;
use crate::regions::{self, Regions};
use crate::uapi;

/// Copy [`Outcome::schib`] into the subchannel (`sch->curr_status`).
/// cbindgen:ignore
pub const ACTION_SET_SCHIB: u32 = 1 << 0;
/// Copy [`Outcome::esw`] into the subchannel (`sch->esw`).
/// cbindgen:ignore
pub const ACTION_SET_ESW: u32 = 1 << 1;
/// Copy [`Outcome::sense`] into the subchannel (`sch->sense_data`).
/// cbindgen:ignore
pub const ACTION_SET_SENSE: u32 = 1 << 2;
/// Make the subchannel's status pending to the guest
/// (`css_inject_io_interrupt`), after the copies.
/// cbindgen:ignore
pub const ACTION_INJECT_IO_INTERRUPT: u32 = 1 << 3;

/// How many times a region write that finds the driver's lock held
/// (EAGAIN) is retried before the instruction is reported busy. Upstream
/// retries forever, which hangs the vCPU, holding QEMU's big lock, if the
/// kernel never lets go.
/// cbindgen:ignore
pub const EAGAIN_RETRIES: u32 = 1000;

/// How many times a region access interrupted by a signal (EINTR) is
/// retried before it counts as failed, like any other errno (upstream
/// treats EINTR as a failed access at once). A few retries ride out a
/// stray signal; a kernel that answers EINTR forever must not spin the
/// vCPU, which holds QEMU's big lock.
/// cbindgen:ignore
pub const EINTR_RETRIES: u32 = 8;

/// What QEMU must do after an operation: return `ret`, then apply
/// `actions` in the order of their bits. The C ABI hands it to QEMU as a
/// `QvcOutcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// start/store: the `IOInstEnding` (condition code 0..3);
    /// halt/clear: 0 or a negative errno for css (-ENOSYS: emulate).
    pub ret: i32,
    /// `ACTION_*` bits.
    pub actions: u32,
    /// The subchannel's new SCHIB, with `ACTION_SET_SCHIB`.
    pub schib: Schib,
    /// The subchannel's new ESW, with `ACTION_SET_ESW`.
    pub esw: Esw,
    /// The subchannel's new sense data, with `ACTION_SET_SENSE`.
    pub sense: [u8; 32],
}

impl Outcome {
    /// Just a return value, nothing to apply.
    pub fn ret(ret: i32) -> Self {
        Outcome {
            ret,
            actions: 0,
            schib: Schib::default(),
            esw: Esw::default(),
            sense: [0; 32],
        }
    }

    fn cc(ending: IoInstEnding) -> Self {
        Self::ret(ending as i32)
    }

    /// A new SCHIB and an I/O interrupt.
    fn interrupt(schib: Schib) -> Self {
        Outcome {
            actions: ACTION_SET_SCHIB | ACTION_INJECT_IO_INTERRUPT,
            schib,
            ..Self::ret(0)
        }
    }
}

/// Device properties that change the library's behaviour (from the C
/// ABI's `QvcConfig`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `force-orb-pfch`: set the ORB's prefetch bit on every start, for
    /// kernels before 5.8 that refuse ORBs without it.
    pub force_orb_pfch: bool,
}

/// A realized vfio-ccw device.
pub struct Device {
    name: String,
    fd: Box<dyn DeviceFd>,
    regions: Regions,
    io_irq: EventFd,
    crw_irq: Option<EventFd>,
    req_irq: Option<EventFd>,
    config: Config,
    pfch_warned: bool,
}

impl Device {
    /// Checks the device, finds its regions and connects its interrupts.
    ///
    /// `name` names the device in every message (QEMU's shim passes the
    /// host subchannel id). The I/O interrupt is required, and so is the
    /// CRW interrupt where the CRW region exists; a missing request
    /// interrupt only warns, since it only matters on hot unplug.
    pub fn realize(
        fd: Box<dyn DeviceFd>,
        name: &str,
        config: Config,
    ) -> Result<Device, DeviceError> {
        let fail = |error| DeviceError {
            device: name.to_owned(),
            error,
        };
        let info = regions::device_info(&*fd).map_err(fail)?;
        let regions = regions::discover(&*fd, &info, name).map_err(fail)?;
        let io_irq = irq::connect(&*fd, Irq::Io, info.num_irqs).map_err(fail)?;
        let mut device = Device {
            name: name.to_owned(),
            fd,
            regions,
            io_irq,
            crw_irq: None,
            req_irq: None,
            config,
            pfch_warned: false,
        };
        if device.regions.crw.is_some() {
            // On failure, dropping `device` disconnects the I/O interrupt.
            device.crw_irq =
                Some(irq::connect(&*device.fd, Irq::Crw, info.num_irqs).map_err(fail)?);
        }
        match irq::connect(&*device.fd, Irq::Req, info.num_irqs) {
            Ok(eventfd) => device.req_irq = Some(eventfd),
            Err(error) => warn!(
                "{}; the device cannot be unplugged on the host's request",
                fail(error)
            ),
        }
        Ok(device)
    }

    /// The name messages use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The regions found at realize.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The eventfd QEMU must watch for `irq`, if that interrupt is set up.
    pub fn irq_fd(&self, irq: Irq) -> Option<i32> {
        match irq {
            Irq::Io => Some(&self.io_irq),
            Irq::Crw => self.crw_irq.as_ref(),
            Irq::Req => self.req_irq.as_ref(),
        }
        .map(EventFd::raw_fd)
    }

    /// START SUBCHANNEL (`handle_request`): hands the ORB and the
    /// subchannel's SCSW (function control: start) to the kernel.
    #[doc(alias = "vfio_ccw_handle_request")]
    pub fn start(&mut self, orb: &Orb, current: &Schib, channel_prog: u32) -> Outcome {
        let mut orb = *orb;
        if orb.ctrl0 & ORB_CTRL0_MASK_PFCH == 0 && self.config.force_orb_pfch {
            orb.ctrl0 |= ORB_CTRL0_MASK_PFCH;
            if !self.pfch_warned {
                self.pfch_warned = true;
                warn!(
                    "vfio-ccw {}: PFCH flag forced (force-orb-pfch=on): the channel program is prefetched",
                    self.name
                );
            }
        }
        let mut region = [0u8; uapi::IO_REGION_SIZE];
        region[uapi::IO_ORB_OFFSET..uapi::IO_SCSW_OFFSET].copy_from_slice(&orb.to_be_bytes());
        let scsw = current.scsw;
        region[uapi::IO_SCSW_OFFSET..uapi::IO_IRB_OFFSET].copy_from_slice(&scsw.to_be_bytes());
        match self.write_region(&region, self.regions.io.offset) {
            Ok(()) => Outcome::cc(IoInstEnding::Expected),
            Err(error) => self.failed(Instruction::Start, error, current, channel_prog),
        }
    }

    /// HALT SUBCHANNEL (`handle_halt`).
    #[doc(alias = "vfio_ccw_handle_halt")]
    pub fn halt(&mut self, current: &Schib, channel_prog: u32) -> Outcome {
        self.async_command(
            Instruction::Halt,
            uapi::VFIO_CCW_ASYNC_CMD_HSCH,
            current,
            channel_prog,
        )
    }

    /// CLEAR SUBCHANNEL (`handle_clear`).
    #[doc(alias = "vfio_ccw_handle_clear")]
    pub fn clear(&mut self, current: &Schib, channel_prog: u32) -> Outcome {
        self.async_command(
            Instruction::Clear,
            uapi::VFIO_CCW_ASYNC_CMD_CSCH,
            current,
            channel_prog,
        )
    }

    fn async_command(
        &mut self,
        instruction: Instruction,
        command: u32,
        current: &Schib,
        channel_prog: u32,
    ) -> Outcome {
        let Some(region) = self.regions.async_cmd else {
            // Kernels before 5.2 have no async region: css emulates.
            return Outcome::ret(-(Errno::ENOSYS as i32));
        };
        let mut bytes = [0u8; uapi::CMD_REGION_SIZE];
        bytes[..4].copy_from_slice(&command.to_be_bytes());
        match self.write_region(&bytes, region.offset) {
            Ok(()) => Outcome::ret(0),
            Err(error) => self.failed(instruction, error, current, channel_prog),
        }
    }

    fn failed(
        &self,
        instruction: Instruction,
        error: HostError,
        current: &Schib,
        channel_prog: u32,
    ) -> Outcome {
        let what = match instruction {
            Instruction::Start => "START SUBCHANNEL",
            Instruction::Halt => "HALT SUBCHANNEL",
            Instruction::Clear => "CLEAR SUBCHANNEL",
        };
        match error {
            HostError::Errno(Errno::EAGAIN) => warn!(
                "vfio-ccw {}: {what}: the host driver stayed busy (EAGAIN) through {EAGAIN_RETRIES} retries",
                self.name
            ),
            HostError::Errno(Errno::EINTR) => error!(
                "vfio-ccw {}: {what}: the region write was interrupted (EINTR) {} times in a row; given up",
                self.name,
                EINTR_RETRIES + 1
            ),
            HostError::Errno(e @ (Errno::EBUSY | Errno::ENODEV | Errno::EACCES)) => {
                debug!("vfio-ccw {}: {what}: {}", self.name, e.desc())
            }
            HostError::Errno(e) => error!(
                "vfio-ccw {}: {what}: writing the region failed: {}",
                self.name,
                e.desc()
            ),
            HostError::Short => error!("vfio-ccw {}: {what}: the region write was cut short", self.name),
        }
        let errno_ret = |e: Errno| -(e as i32);
        match (instruction, ending::ending(instruction, error)) {
            (Instruction::Start, Ending::Busy) => Outcome::cc(IoInstEnding::Busy),
            (Instruction::Start, Ending::NotOperational(_)) => {
                Outcome::cc(IoInstEnding::NotOperational)
            }
            (_, Ending::Busy) => Outcome::ret(errno_ret(Errno::EBUSY)),
            (_, Ending::NotOperational(e)) => Outcome::ret(errno_ret(e)),
            (_, Ending::UnitException) => {
                let mut schib = *current;
                let mut scsw = schib.scsw;
                ending::set_unit_exception(&mut scsw, channel_prog);
                schib.scsw = scsw;
                Outcome::interrupt(schib)
            }
        }
    }

    /// STORE SUBCHANNEL (`handle_store`): refreshes the path masks from
    /// the host's SCHIB. STSCH has no condition code for a host failure,
    /// so a failed read is logged and the SCHIB left as it is.
    #[doc(alias = "vfio_ccw_handle_store")]
    pub fn store(&mut self, current: &Schib) -> Outcome {
        let Some(region) = self.regions.schib else {
            return Outcome::cc(IoInstEnding::Expected);
        };
        let mut bytes = [0u8; uapi::SCHIB_REGION_SIZE];
        if let Err(error) = self.read_region(&mut bytes, region.offset) {
            error!(
                "vfio-ccw {}: STORE SUBCHANNEL: {}",
                self.name,
                read_error("SCHIB", error)
            );
            return Outcome::cc(IoInstEnding::Expected);
        }
        let host = Schib::from_be_bytes(&bytes);
        let (host_pmcw, host_scsw) = (host.pmcw, host.scsw);
        let mut schib = *current;
        let (mut pmcw, mut scsw) = (schib.pmcw, schib.scsw);
        pmcw.pnom = host_pmcw.pnom;
        pmcw.lpum = host_pmcw.lpum;
        pmcw.pam = host_pmcw.pam;
        pmcw.pom = host_pmcw.pom;
        scsw.flags |= host_scsw.flags & SCSW_FLAGS_MASK_PNO;
        schib.pmcw = pmcw;
        schib.scsw = scsw;
        Outcome {
            actions: ACTION_SET_SCHIB,
            schib,
            ..Outcome::cc(IoInstEnding::Expected)
        }
    }

    /// The I/O interrupt: the kernel stored an IRB. Returns no actions if
    /// the eventfd was not signalled.
    pub fn io_interrupt(&mut self, current: &Schib) -> Outcome {
        if !self.io_irq.test_and_clear() {
            return Outcome::ret(0);
        }
        let mut region = [0u8; uapi::IO_REGION_SIZE];
        let mut schib = *current;
        if let Err(error) = self.read_region(&mut region, self.regions.io.offset) {
            error!(
                "vfio-ccw {}: I/O interrupt: {}",
                self.name,
                read_error("I/O", error)
            );
            let mut scsw = schib.scsw;
            ending::set_irb_status(&mut scsw, ending::row(error).irb_read);
            schib.scsw = scsw;
            return Outcome::interrupt(schib);
        }
        let mut irb_bytes = [0u8; crate::css::IRB_SIZE];
        irb_bytes.copy_from_slice(&region[uapi::IO_IRB_OFFSET..uapi::IO_RET_CODE_OFFSET]);
        let irb = Irb::from_be_bytes(&irb_bytes);
        schib.scsw = irb.scsw;
        let mut outcome = Outcome::interrupt(schib);
        outcome.esw = irb.esw;
        outcome.actions |= ACTION_SET_ESW;
        let chars = current.pmcw.chars;
        if irb.scsw.dstat & SCSW_DSTAT_UNIT_CHECK != 0 && chars & PMCW_CHARS_MASK_CSENSE != 0 {
            outcome.sense = irb.ecw;
            outcome.actions |= ACTION_SET_SENSE;
        }
        outcome
    }

    /// The CRW interrupt: moves queued channel reports into `out` until
    /// the kernel answers with a zero CRW or `out` is full. Returns how
    /// many were stored. When `out` fills first, the kernel signals the
    /// eventfd again for the rest.
    pub fn crw_interrupt(&mut self, out: &mut [Crw]) -> usize {
        let (Some(eventfd), Some(region)) = (&self.crw_irq, self.regions.crw) else {
            return 0;
        };
        if out.is_empty() || !eventfd.test_and_clear() {
            return 0;
        }
        let mut count = 0;
        while count < out.len() {
            let mut bytes = [0u8; uapi::CRW_REGION_SIZE];
            if let Err(error) = self.read_region(&mut bytes, region.offset) {
                error!(
                    "vfio-ccw {}: CRW interrupt: {}",
                    self.name,
                    read_error("CRW", error)
                );
                break;
            }
            let crw = Crw::from_be_bytes(&[bytes[0], bytes[1], bytes[2], bytes[3]]);
            if crw.is_zero() {
                break;
            }
            out[count] = crw;
            count += 1;
        }
        count
    }

    /// The request interrupt: true when the host asks for the device back
    /// and QEMU should unplug it.
    pub fn req_interrupt(&mut self) -> bool {
        self.req_irq.as_ref().is_some_and(EventFd::test_and_clear)
    }

    /// Device reset: VFIO_DEVICE_RESET. Upstream ignores a failure; it is
    /// worth a message, since any I/O the guest had running is now lost.
    pub fn reset(&mut self) -> Result<(), Errno> {
        self.fd.reset().inspect_err(|e| {
            error!("vfio-ccw {}: device reset failed: {}", self.name, e.desc());
        })
    }

    fn write_region(&self, bytes: &[u8], offset: u64) -> Result<(), HostError> {
        retrying(bytes.len(), EAGAIN_RETRIES, || {
            self.fd.write_at(bytes, offset)
        })
    }

    fn read_region(&self, bytes: &mut [u8], offset: u64) -> Result<(), HostError> {
        // A read is never refused with EAGAIN by the driver's lock; if a
        // kernel says so anyway, it is a failure like any other.
        let len = bytes.len();
        retrying(len, 0, || self.fd.read_at(bytes, offset))
    }
}

/// Runs one region access until it moves all `len` bytes or fails for
/// good: EINTR is retried [`EINTR_RETRIES`] times and EAGAIN
/// `eagain_retries` times (with a yield, to let the holder of the
/// driver's lock run), so a kernel answering either forever ends the loop
/// with that errno. Every other errno and any short count end it at once.
fn retrying(
    len: usize,
    eagain_retries: u32,
    mut access: impl FnMut() -> Result<usize, Errno>,
) -> Result<(), HostError> {
    let (mut eintr, mut eagain) = (0, 0);
    loop {
        match access() {
            Ok(n) if n == len => return Ok(()),
            Ok(_) => return Err(HostError::Short),
            Err(Errno::EINTR) if eintr < EINTR_RETRIES => eintr += 1,
            Err(Errno::EAGAIN) if eagain < eagain_retries => {
                eagain += 1;
                std::thread::yield_now();
            }
            Err(e) => return Err(HostError::Errno(e)),
        }
    }
}

fn read_error(region: &str, error: HostError) -> String {
    match error {
        HostError::Errno(Errno::EINTR) => format!(
            "the {region} region read was interrupted (EINTR) {} times in a row; given up",
            EINTR_RETRIES + 1
        ),
        HostError::Errno(e) => format!("reading the {region} region failed: {}", e.desc()),
        HostError::Short => format!("the {region} region read was cut short"),
    }
}

impl Drop for Device {
    /// Disconnects the interrupts in upstream's order (request, CRW, I/O),
    /// only those that were connected. The eventfds close after.
    fn drop(&mut self) {
        let connected = [
            (Irq::Req, self.req_irq.is_some()),
            (Irq::Crw, self.crw_irq.is_some()),
            (Irq::Io, true),
        ];
        for (irq, is_connected) in connected {
            if !is_connected {
                continue;
            }
            if let Err(e) = irq::disconnect(&*self.fd, irq) {
                warn!(
                    "vfio-ccw {}: {}",
                    self.name,
                    Error::SetIrqs {
                        irq: irq.name(),
                        errno: e
                    }
                );
            }
        }
    }
}
