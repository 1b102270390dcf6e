// SPDX-License-Identifier: GPL-2.0-or-later
//! What the simulated host looks like: the subchannel, its paths, the
//! kernel version whose uAPI it offers, and compatibility with the stock C
//! device.

use crate::faults::FaultScript;
use crate::subchannel::Description;
use crate::timing::Latency;

/// Byte order of the fields the stock QEMU C device gets wrong on a
/// little-endian host.
///
/// The kernel copies region bytes raw and reads them through big-endian
/// structures, so on the only real host (s390x) every multi-byte field is
/// big-endian. Upstream QEMU's `hw/vfio/ccw.c` builds its structures in
/// host order and copies them in, which only works on s390x.
///
/// Under [`Compat::QemuC`] the model reads and writes these fields in the
/// *host's* order instead (little-endian on x86; on a big-endian host both
/// modes are identical):
///
/// | region | field | bytes | direction |
/// |---|---|---|---|
/// | I/O | ORB intparm (u32), ctrl0 (u16: key/S/M/Y/F/P/I/A/U/b/H/T), CPA (u32); LPM and byte 7 are single bytes | 0-3, 4-5, 8-11 | read by the model |
/// | I/O | SCSW flags (u16), ctrl (u16: FC/AC/SC), CPA (u32), count (u16); dstat and cstat are single bytes | 12-13, 14-15, 16-19, 22-23 | read by the model |
/// | async command | `command` (u32) | 0-3 | read by the model |
/// | SCHIB | SCSW flags halfword (u16, holds the N flag) | 28-29 | written by the model |
/// | CRW | `crw` as QEMU's `CRW` struct: `flags` (u16), `rsid` (u16) | 0-1, 2-3 | written by the model |
///
/// Everything else stays big-endian: the IRB (the C device decodes it as
/// big-endian), both `ret_code`s (it only looks at the `pwrite` result), and
/// the rest of the SCHIB (it only reads single bytes from it). The async
/// `command` is not in the list the C device's authors would expect, but the
/// C device stores it as a host `uint32_t`, so a big-endian reading of `1`
/// would be `0x01000000` and every HSCH would fail with `EINVAL`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compat {
    /// Every multi-byte region field big-endian, as on s390x.
    #[default]
    Architecture,
    /// The fields listed above in host byte order, for stock upstream QEMU.
    QemuC,
}

/// Which kernel's uAPI the model offers: regions, IRQ indexes and the few
/// behaviours that changed on the way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelProfile {
    /// Linux 6.3 and later: I/O, async, SCHIB, CRW regions; I/O, CRW and
    /// request IRQs; ORB key passed through; any IDAW format accepted.
    #[default]
    Current,
    /// Linux 5.12 to 6.2: as `Current`, but the ORB key is forced to 0 and an
    /// IDA CCW under ORB H = 0 or T = 1 is refused with `EOPNOTSUPP`.
    V5_12,
    /// Linux 5.8 to 5.11: as `V5_12` without the request IRQ (2 IRQs).
    V5_8,
    /// Linux 5.2 to 5.7: I/O and async regions, the I/O IRQ only; an ORB
    /// without the prefetch bit is refused with `EOPNOTSUPP`.
    V5_2,
    /// Linux 4.12 to 5.1: the I/O region and the I/O IRQ only.
    V4_12,
}

impl KernelProfile {
    /// `num_regions` while the device fd is open.
    pub fn num_regions(self) -> u32 {
        match self {
            KernelProfile::Current | KernelProfile::V5_12 | KernelProfile::V5_8 => 4,
            KernelProfile::V5_2 => 2,
            KernelProfile::V4_12 => 1,
        }
    }

    /// `num_irqs`.
    pub fn num_irqs(self) -> u32 {
        match self {
            KernelProfile::Current | KernelProfile::V5_12 => 3,
            KernelProfile::V5_8 => 2,
            KernelProfile::V5_2 | KernelProfile::V4_12 => 1,
        }
    }

    /// Whether an ORB without the prefetch bit is accepted (5.8+).
    pub fn accepts_non_prefetch(self) -> bool {
        !matches!(self, KernelProfile::V5_2 | KernelProfile::V4_12)
    }

    /// Whether the ORB key reaches the hardware (6.3+; before, forced to 0).
    pub fn passes_key(self) -> bool {
        self == KernelProfile::Current
    }

    /// Whether IDA CCWs are accepted with format-1 or 2K IDAWs (6.3+).
    pub fn accepts_any_idaw_format(self) -> bool {
        self == KernelProfile::Current
    }
}

/// The simulated subchannel and its environment.
#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// The subchannel, its device number and paths (the rest of the
    /// description, UUID, group and cdev, is for the interposer and sysfs).
    pub subchannel: Description,
    /// Byte order of the fields the stock C device writes in host order.
    pub compat: Compat,
    /// Which kernel's uAPI to offer.
    pub profile: KernelProfile,
    /// Faults to inject (see [`FaultScript`]).
    pub faults: FaultScript,
    /// When channel programs complete (see [`Latency`]).
    pub latency: Latency,
    /// Where a random timing ([`Latency::Dasd3390`]) starts: the same seed
    /// replays the same service times.
    pub seed: u64,
}
