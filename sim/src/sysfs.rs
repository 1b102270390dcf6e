// SPDX-License-Identifier: GPL-2.0-or-later
//! The sysfs a vfio-ccw mediated device has, as far as QEMU reads it,
//! built under a root directory: the subchannel with its attributes, the
//! mdev below it with its `iommu_group` link and its device cdev
//! (`vfio-dev/vfio0/dev`, for iommufd), the channel paths, and the bus
//! links. The launcher builds it on tmpfs over `/sys` in a private
//! mount namespace; tests build it in a temporary directory.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// What the tree describes.
#[derive(Clone, Debug)]
pub struct Layout {
    pub cssid: u8,
    pub ssid: u8,
    pub schno: u16,
    pub devno: u16,
    pub chpids: [u8; 8],
    pub pim: u8,
    pub pam: u8,
    pub pom: u8,
    /// Channel-path type written to each path's `type` (0x1b: FICON).
    pub chp_type: u8,
    pub uuid: String,
    /// The IOMMU group; none on a kernel without CONFIG_VFIO_GROUP,
    /// whose mdevs have only their device cdev.
    pub group: Option<u32>,
}

impl Layout {
    /// The subchannel's bus id, `0.0.0313`.
    pub fn schid(&self) -> String {
        format!("{:x}.{:x}.{:04x}", self.cssid, self.ssid, self.schno)
    }

    /// The path users pass as `sysfsdev=`, relative to the sysfs root.
    pub fn sysfsdev(&self) -> PathBuf {
        Path::new("bus/mdev/devices").join(&self.uuid)
    }
}

/// Parses `40,41,...`: the CHPIDs (hex) of paths 0, 1, ..., at least one
/// and at most eight, each different.
pub fn parse_chpids(text: &str) -> Result<Vec<u8>, String> {
    let mut chpids = Vec::new();
    for part in text.split(',') {
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
    Ok(chpids)
}

/// The inverse of [`parse_chpids`].
pub fn format_chpids(chpids: &[u8]) -> String {
    let parts: Vec<String> = chpids.iter().map(|c| format!("{c:02x}")).collect();
    parts.join(",")
}

/// The PMCW's CHPID array and path-installed mask for paths 0, 1, ...
pub fn installed_paths(chpids: &[u8]) -> ([u8; 8], u8) {
    let mut array = [0u8; 8];
    let mut pim = 0u8;
    for (i, chpid) in chpids.iter().take(8).enumerate() {
        array[i] = *chpid;
        pim |= 0x80 >> i;
    }
    (array, pim)
}

/// The device cdev, `/dev/vfio/devices/vfio0`, as the vfio core names
/// the first one (kernels with CONFIG_VFIO_DEVICE_CDEV, 6.6 on).
pub const CDEV_NAME: &str = "vfio0";

/// Its device number. The vfio core allocates the "vfio-dev" major
/// dynamically; this is one from the range the kernel hands out
/// (384..=511), so it names no real driver. QEMU checks that the node it
/// opens has this number (`open_cdev`), which the interposer's `fstat`
/// reports.
pub const CDEV_MAJOR: u32 = 511;
pub const CDEV_MINOR: u32 = 0;

fn write(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Builds the tree under `sys` (the directory that stands for `/sys`:
/// `devices` and `bus` must be writable there).
pub fn build(sys: &Path, layout: &Layout) -> io::Result<()> {
    let css = sys.join(format!("devices/css{:x}", layout.cssid));
    let subchannel = css.join(layout.schid());
    let mdev = subchannel.join(&layout.uuid);
    fs::create_dir_all(&mdev)?;

    // Attribute formats as drivers/s390/cio/css.c writes them.
    write(&subchannel.join("type"), "0\n")?;
    write(
        &subchannel.join("pimpampom"),
        &format!("{:02x} {:02x} {:02x}\n", layout.pim, layout.pam, layout.pom),
    )?;
    let mut chpids = String::new();
    for (i, chpid) in layout.chpids.iter().enumerate() {
        let installed = layout.pim & (0x80 >> i) != 0;
        chpids.push_str(&format!("{:02x} ", if installed { *chpid } else { 0 }));
    }
    chpids.push('\n');
    write(&subchannel.join("chpids"), &chpids)?;
    write(
        &subchannel.join("dev_busid"),
        &format!(
            "{:x}.{:x}.{:04x}\n",
            layout.cssid, layout.ssid, layout.devno
        ),
    )?;
    write(&subchannel.join("driver_override"), "vfio_ccw\n")?;

    // QEMU names the paths css<c>/chp0.<xx> whatever the css id.
    for (i, chpid) in layout.chpids.iter().enumerate() {
        if layout.pim & (0x80 >> i) == 0 {
            continue;
        }
        let chp = css.join(format!("chp0.{chpid:02x}"));
        fs::create_dir_all(&chp)?;
        write(&chp.join("type"), &format!("{:x}\n", layout.chp_type))?;
    }

    // The group link dangles, as QEMU only reads its name.
    if let Some(group) = layout.group {
        symlink(
            format!("../../../../kernel/iommu_groups/{group}"),
            mdev.join("iommu_group"),
        )?;
    }

    let cdev = mdev.join("vfio-dev").join(CDEV_NAME);
    fs::create_dir_all(&cdev)?;
    write(&cdev.join("dev"), &format!("{CDEV_MAJOR}:{CDEV_MINOR}\n"))?;

    let css_bus = sys.join("bus/css/devices");
    fs::create_dir_all(&css_bus)?;
    symlink(
        format!("../../../devices/css{:x}/{}", layout.cssid, layout.schid()),
        css_bus.join(layout.schid()),
    )?;
    let mdev_bus = sys.join("bus/mdev/devices");
    fs::create_dir_all(&mdev_bus)?;
    symlink(
        format!(
            "../../../devices/css{:x}/{}/{}",
            layout.cssid,
            layout.schid(),
            layout.uuid
        ),
        mdev_bus.join(&layout.uuid),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            cssid: 0,
            ssid: 0,
            schno: 0x313,
            devno: 0x190,
            chpids: [0x40, 0x41, 0, 0, 0, 0, 0, 0],
            pim: 0x80,
            pam: 0x80,
            pom: 0xff,
            chp_type: 0x1b,
            uuid: "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313".into(),
            group: Some(7),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vfio-ccw-sysfs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sysfsdev_resolves_to_the_mdev_below_its_subchannel() {
        let sys = scratch("resolve");
        build(&sys, &layout()).unwrap();
        let real = fs::canonicalize(sys.join(layout().sysfsdev())).unwrap();
        assert_eq!(
            real.file_name().unwrap(),
            "6f3b6c1e-4f0a-4d8e-9a51-0c0ffee00313"
        );
        assert_eq!(real.parent().unwrap().file_name().unwrap(), "0.0.0313");
        let group = fs::read_link(real.join("iommu_group")).unwrap();
        assert_eq!(group.file_name().unwrap(), "7");
        fs::remove_dir_all(sys).unwrap();
    }

    #[test]
    fn the_mdev_names_its_device_cdev_and_its_number() {
        let sys = scratch("cdev");
        build(&sys, &layout()).unwrap();
        let vfio_dev = sys.join(layout().sysfsdev()).join("vfio-dev");
        let names: Vec<_> = fs::read_dir(&vfio_dev)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["vfio0"]);
        assert_eq!(
            fs::read_to_string(vfio_dev.join("vfio0/dev")).unwrap(),
            "511:0\n"
        );
        fs::remove_dir_all(sys).unwrap();
    }

    #[test]
    fn without_groups_the_mdev_has_only_its_cdev() {
        let sys = scratch("no-group");
        let layout = Layout {
            group: None,
            ..layout()
        };
        build(&sys, &layout).unwrap();
        let mdev = sys.join(layout.sysfsdev());
        assert!(fs::symlink_metadata(mdev.join("iommu_group")).is_err());
        assert!(mdev.join("vfio-dev/vfio0/dev").is_file());
        fs::remove_dir_all(sys).unwrap();
    }

    #[test]
    fn chpid_lists_give_consecutive_installed_paths() {
        let chpids = parse_chpids("40,4a,5f").unwrap();
        assert_eq!(
            installed_paths(&chpids),
            ([0x40, 0x4a, 0x5f, 0, 0, 0, 0, 0], 0xe0)
        );
        assert_eq!(format_chpids(&chpids), "40,4a,5f");
    }

    #[test]
    fn chpid_lists_refuse_bad_numbers_repeats_and_more_than_eight() {
        assert!(parse_chpids("40,xz").unwrap_err().contains("'xz'"));
        assert!(parse_chpids("40,40").unwrap_err().contains("twice"));
        assert!(parse_chpids("1,2,3,4,5,6,7,8,9")
            .unwrap_err()
            .contains("8 paths"));
        assert!(parse_chpids("").is_err());
    }

    #[test]
    fn attributes_use_the_kernels_formats() {
        let sys = scratch("attrs");
        build(&sys, &layout()).unwrap();
        let sch = sys.join("bus/css/devices/0.0.0313");
        assert_eq!(
            fs::read_to_string(sch.join("pimpampom")).unwrap(),
            "80 80 ff\n"
        );
        assert_eq!(
            fs::read_to_string(sch.join("chpids")).unwrap(),
            "40 00 00 00 00 00 00 00 \n",
            "paths outside the PIM read 00"
        );
        assert_eq!(
            fs::read_to_string(sys.join("devices/css0/chp0.40/type")).unwrap(),
            "1b\n"
        );
        assert!(!sys.join("devices/css0/chp0.41").exists());
        fs::remove_dir_all(sys).unwrap();
    }
}
