// SPDX-License-Identifier: GPL-2.0-or-later
//! The one description of a simulated subchannel and its mediated device:
//! bus ids, channel paths, mdev UUID, IOMMU group and device cdev. The
//! kernel model's PMCW ([`crate::Kernel::new`]), the sysfs tree
//! ([`crate::sysfs::build`]), the interposer's configuration and the
//! launcher's options are all made from it, so they cannot disagree.
//!
//! A host has several: [`Description::at`] gives the defaults of the
//! device at a position (the launcher's `--dasd` order), each with its own
//! subchannel, device number, CHPID, UUID, group and cdev.

use std::fmt;
use std::path::{Path, PathBuf};

/// A bus id, `C.S.XXXX` in hex: channel subsystem, subchannel set (0 to
/// 3), number. Subchannels and devices are named so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BusId {
    pub cssid: u8,
    pub ssid: u8,
    pub number: u16,
}

impl BusId {
    pub const fn new(cssid: u8, ssid: u8, number: u16) -> BusId {
        BusId {
            cssid,
            ssid,
            number,
        }
    }

    /// Parses `0.0.0313`; the error says what was expected.
    pub fn parse(text: &str) -> Result<BusId, String> {
        let bad = || format!("'{text}' is not a bus id like 0.0.0313 (hex; subchannel set 0 to 3)");
        let mut parts = text.split('.');
        let (Some(c), Some(s), Some(x), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let c = u8::from_str_radix(c, 16).map_err(|_| bad())?;
        let s = u8::from_str_radix(s, 16).map_err(|_| bad())?;
        let x = u16::from_str_radix(x, 16).map_err(|_| bad())?;
        if s > 3 {
            return Err(bad());
        }
        Ok(BusId::new(c, s, x))
    }
}

impl fmt::Display for BusId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}.{:04x}", self.cssid, self.ssid, self.number)
    }
}

/// The subchannel's eight paths: the CHPID of each and the masks the PMCW
/// and sysfs's `pimpampom` show (bit 0x80 = path 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths {
    /// CHPIDs of paths 0 to 7 (0 where none is installed).
    pub chpids: [u8; 8],
    /// Path installed mask.
    pub pim: u8,
    /// Path available mask.
    pub pam: u8,
    /// Path operational mask.
    pub pom: u8,
}

impl Paths {
    /// Paths 0, 1, ... on these CHPIDs, each installed, available and
    /// operational; at most eight are taken.
    pub fn installed(chpids: &[u8]) -> Paths {
        let mut array = [0u8; 8];
        let mut pim = 0u8;
        for (i, chpid) in chpids.iter().take(8).enumerate() {
            array[i] = *chpid;
            pim |= 0x80 >> i;
        }
        Paths {
            chpids: array,
            pim,
            pam: pim,
            pom: 0xff,
        }
    }

    /// Parses `40,41` (or `40.41`, as inside `--device`): the CHPIDs (hex)
    /// of paths 0, 1, ..., at least one and at most eight, each different.
    pub fn parse(text: &str) -> Result<Paths, String> {
        let mut chpids = Vec::new();
        for part in text.split([',', '.']) {
            let chpid = u8::from_str_radix(part.trim(), 16)
                .map_err(|_| format!("'{part}' is not a hex CHPID (00 to ff)"))?;
            if chpids.contains(&chpid) {
                return Err(format!("CHPID {chpid:02x} given twice"));
            }
            chpids.push(chpid);
        }
        if chpids.len() > 8 {
            return Err(format!("{} CHPIDs: a subchannel has 8 paths", chpids.len()));
        }
        Ok(Paths::installed(&chpids))
    }

    /// The installed paths' CHPIDs, path 0 first.
    pub fn list(&self) -> Vec<u8> {
        (0..8)
            .filter(|i| self.pim & (0x80 >> i) != 0)
            .map(|i| self.chpids[i])
            .collect()
    }

    /// The inverse of [`Paths::parse`] for installed paths: `40,41`.
    pub fn format(&self) -> String {
        let parts: Vec<String> = self.list().iter().map(|c| format!("{c:02x}")).collect();
        parts.join(",")
    }

    /// The mask of the installed paths on `chpid` (0 if none uses it).
    pub fn mask(&self, chpid: u8) -> u8 {
        (0..8)
            .filter(|&i| self.chpids[i] == chpid && self.pim & (0x80 >> i) != 0)
            .fold(0, |m, i| m | (0x80 >> i))
    }
}

/// The first device's subchannel, device number, CHPID, UUID and group;
/// the device at position `i` adds `i` to each number.
pub const FIRST_SCHID: BusId = BusId::new(0, 0, 0x0313);
pub const FIRST_DEVNO: BusId = BusId::new(0, 0, 0x0190);
pub const FIRST_CHPID: u8 = 0x40;
pub const FIRST_GROUP: u32 = 7;
/// The first UUID; the others differ in their last group, which spells the
/// subchannel set and number (`...-0c0ffee00313` for 0.0.0313).
pub const FIRST_UUID: &str = "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313";

/// How many devices one host may have: positions give distinct defaults
/// (CHPIDs 0x40 to 0xff) up to here, and every device costs the program a
/// few fds.
pub const MAX_DEVICES: usize = 192;

/// The device cdevs' character-device major. The vfio core allocates the
/// "vfio-dev" major dynamically; this one is from the range the kernel
/// hands out (384..=511), so it names no real driver. The minor is the
/// cdev's index (`vfio<N>`). QEMU checks that the node it opens has the
/// number sysfs gives (`open_cdev`), which the interposer's `fstat`
/// reports.
pub const CDEV_MAJOR: u32 = 511;

/// One subchannel bound to vfio_ccw with its mdev, as the host has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The host subchannel.
    pub schid: BusId,
    /// The device on it (the PMCW has the number; sysfs's `dev_busid` all
    /// three parts).
    pub devno: BusId,
    pub paths: Paths,
    /// Channel-path type written to each path's `type` (0x1b: FICON).
    pub chp_type: u8,
    /// The mdev's UUID: its name in sysfs and for `VFIO_GROUP_GET_DEVICE_FD`.
    pub uuid: String,
    /// The IOMMU group; none on a kernel without CONFIG_VFIO_GROUP,
    /// whose mdevs have only their device cdev.
    pub group: Option<u32>,
    /// The device cdev's index: `/dev/vfio/devices/vfio<N>`, minor N.
    pub cdev: u32,
}

impl Description {
    /// The defaults of the device at `position` (0 for the first): each
    /// number is the first device's plus the position, the CHPID too
    /// (wrapping within 0x40 to 0xff), so no two share a path unless told.
    pub fn at(position: usize) -> Description {
        let i = position as u32;
        let schid = BusId::new(0, 0, FIRST_SCHID.number.wrapping_add(i as u16));
        let chpid = FIRST_CHPID + (position % (256 - usize::from(FIRST_CHPID))) as u8;
        Description {
            schid,
            devno: BusId::new(0, 0, FIRST_DEVNO.number.wrapping_add(i as u16)),
            paths: Paths::installed(&[chpid]),
            chp_type: 0x1b,
            uuid: uuid_for(schid),
            group: Some(FIRST_GROUP + i),
            cdev: i,
        }
    }

    /// The cdev's name under `/dev/vfio/devices`, `vfio0`.
    pub fn cdev_name(&self) -> String {
        format!("vfio{}", self.cdev)
    }

    /// The path users pass as `sysfsdev=`, relative to the sysfs root.
    pub fn sysfsdev(&self) -> PathBuf {
        Path::new("bus/mdev/devices").join(&self.uuid)
    }

    /// Host intparm the driver puts in the ORB: it names the subchannel.
    pub fn host_intparm(&self) -> u32 {
        crate::kernel::HOST_INTPARM_BASE | u32::from(self.schid.number)
    }
}

impl Default for Description {
    /// Subchannel 0.0.0313 with device 0.0.0190 behind one CHPID (0x40) on
    /// path 0, every mask agreeing; group 7, cdev vfio0.
    fn default() -> Self {
        Description::at(0)
    }
}

/// The UUID [`Description::at`] gives the subchannel of a position: the
/// first one's with the last twelve digits `0c0ffee` + set + number. It
/// stays the position's when the subchannel id is set otherwise.
pub fn uuid_for(schid: BusId) -> String {
    let stem = &FIRST_UUID[..FIRST_UUID.len() - 5];
    format!("{stem}{:x}{:04x}", schid.ssid, schid.number)
}

/// What makes two devices of one host clash: the same subchannel, device
/// number (in a subchannel set), UUID, group or cdev. Names the second
/// device of the first clash found by position (0-based) and the cause.
pub fn check_distinct(devices: &[Description]) -> Result<(), String> {
    for (j, b) in devices.iter().enumerate() {
        for (i, a) in devices[..j].iter().enumerate() {
            let clash = if a.schid == b.schid {
                Some(format!("subchannel {}", b.schid))
            } else if a.devno == b.devno {
                Some(format!("device number {}", b.devno))
            } else if a.uuid == b.uuid {
                Some(format!("UUID {}", b.uuid))
            } else if a.group.is_some() && a.group == b.group {
                Some(format!("IOMMU group {}", b.group.unwrap_or_default()))
            } else if a.cdev == b.cdev {
                Some(format!("device cdev {}", b.cdev_name()))
            } else {
                None
            };
            if let Some(what) = clash {
                return Err(format!("device {j} has the {what} of device {i}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_device_is_the_single_device_hosts_have_always_had() {
        let d = Description::default();
        assert_eq!(d.schid.to_string(), "0.0.0313");
        assert_eq!(d.devno.to_string(), "0.0.0190");
        assert_eq!(d.paths.format(), "40");
        assert_eq!((d.paths.pim, d.paths.pam, d.paths.pom), (0x80, 0x80, 0xff));
        assert_eq!(d.uuid, FIRST_UUID);
        assert_eq!(d.group, Some(7));
        assert_eq!(d.cdev_name(), "vfio0");
    }

    #[test]
    fn positions_give_each_device_its_own_numbers() {
        let d = Description::at(2);
        assert_eq!(d.schid.to_string(), "0.0.0315");
        assert_eq!(d.devno.to_string(), "0.0.0192");
        assert_eq!(d.paths.format(), "42");
        assert_eq!(d.uuid, "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00315");
        assert_eq!(d.group, Some(9));
        assert_eq!(d.cdev_name(), "vfio2");
        let all: Vec<_> = (0..MAX_DEVICES).map(Description::at).collect();
        assert_eq!(check_distinct(&all), Ok(()));
    }

    #[test]
    fn bus_ids_parse_and_print_as_the_kernel_names_them() {
        assert_eq!(BusId::parse("0.1.fe01"), Ok(BusId::new(0, 1, 0xfe01)));
        assert_eq!(BusId::new(0xfe, 0, 1).to_string(), "fe.0.0001");
        for bad in ["0.0", "0.4.0001", "0.0.10000", "x.0.0001", "0.0.0.1"] {
            assert!(BusId::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn chpid_lists_give_consecutive_installed_paths() {
        let paths = Paths::parse("40,4a,5f").unwrap();
        assert_eq!(paths.chpids, [0x40, 0x4a, 0x5f, 0, 0, 0, 0, 0]);
        assert_eq!((paths.pim, paths.pam), (0xe0, 0xe0));
        assert_eq!(paths.format(), "40,4a,5f");
        assert_eq!(Paths::parse("40.41"), Paths::parse("40,41"));
        assert_eq!(paths.mask(0x4a), 0x40);
        assert_eq!(paths.mask(0x41), 0);
    }

    #[test]
    fn chpid_lists_refuse_bad_numbers_repeats_and_more_than_eight() {
        assert!(Paths::parse("40,xz").unwrap_err().contains("'xz'"));
        assert!(Paths::parse("40,40").unwrap_err().contains("twice"));
        assert!(Paths::parse("1,2,3,4,5,6,7,8,9")
            .unwrap_err()
            .contains("8 paths"));
        assert!(Paths::parse("").is_err());
    }

    #[test]
    fn clashing_devices_are_named_with_what_they_share() {
        let mut b = Description::at(1);
        b.devno = Description::at(0).devno;
        assert_eq!(
            check_distinct(&[Description::at(0), b]),
            Err("device 1 has the device number 0.0.0190 of device 0".into())
        );
        let mut c = Description::at(2);
        c.group = Some(7);
        assert_eq!(
            check_distinct(&[Description::at(0), Description::at(1), c]),
            Err("device 2 has the IOMMU group 7 of device 0".into())
        );
    }
}
