// SPDX-License-Identifier: GPL-2.0-or-later
//! The simulated vfio-ccw host kernel.
//!
//! - [`Kernel`]: the driver model behind one mediated device, with the
//!   container's DMA mappings and the host-side events (channel paths,
//!   removal, unsolicited status);
//! - [`SimDeviceFd`]: its device fd, an implementation of the library's
//!   `DeviceFd` seam;
//! - [`cp`]: channel-program translation (the kernel's cp.c) and the
//!   channel that runs programs against a [`ccw_device::CcwDevice`];
//! - [`dasd`]: a 3390 on a 3990 control unit, backed by a Hercules CKD
//!   image ([`ckd`]), with what it reports to Linux in [`eckd`] and its
//!   sense bytes in [`sense`]; [`ipl`]
//!   writes IPL volumes for it, [`cdl`] volumes formatted for Linux;
//! - [`subchannel`]: the one description of a subchannel and its mdev,
//!   from which the model, [`sysfs`] and the launcher are configured;
//! - [`faults`]: fault injection; [`timing`]: how long the channel takes;
//! - [`Stats`]: counters for tests and the launcher's report.

pub mod ccw_device;
pub mod cdl;
pub mod ckd;
pub mod config;
pub mod cp;
pub mod dasd;
mod dma;
pub mod ebcdic;
pub mod eckd;
pub mod faults;
pub mod ipl;
pub mod kernel;
pub mod sense;
pub mod stats;
pub mod subchannel;
pub mod sysfs;
pub mod timing;

pub use config::{Compat, KernelProfile, SimConfig};
pub use dma::{IommuModel, DMA_READ, DMA_WRITE, PAGE_SIZE};
pub use faults::{CapsCorruption, FaultAction, FaultRule, FaultScript};
pub use kernel::{FsmState, Kernel, PathEvent, PathHook, SimDeviceFd};
pub use stats::{IrqCounts, OpCounts, OpKind, Stats};
pub use timing::{Latency, Timing};
