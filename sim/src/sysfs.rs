// SPDX-License-Identifier: GPL-2.0-or-later
//! The sysfs a vfio-ccw mediated device has, as far as QEMU reads it,
//! built under a root directory: the subchannel with its attributes, the
//! mdev below it with its `iommu_group` link and its device cdev
//! (`vfio-dev/vfio<N>/dev`, for iommufd), the channel paths, and the bus
//! links. The launcher builds it on tmpfs over `/sys` in a private
//! mount namespace; tests build it in a temporary directory.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::subchannel::{Description, CDEV_MAJOR};

fn write(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Builds the tree of every device under `sys` (the directory that
/// stands for `/sys`: `devices` and `bus` must be writable there). Paths
/// several subchannels share appear once.
pub fn build_all(sys: &Path, devices: &[Description]) -> io::Result<()> {
    devices.iter().try_for_each(|d| build(sys, d))
}

/// Builds one device's tree under `sys`.
pub fn build(sys: &Path, device: &Description) -> io::Result<()> {
    let schid = device.schid.to_string();
    let css = sys.join(format!("devices/css{:x}", device.schid.cssid));
    let subchannel = css.join(&schid);
    let mdev = subchannel.join(&device.uuid);
    fs::create_dir_all(&mdev)?;

    // Attribute formats as drivers/s390/cio/css.c writes them.
    write(&subchannel.join("type"), "0\n")?;
    write(
        &subchannel.join("pimpampom"),
        &format!(
            "{:02x} {:02x} {:02x}\n",
            device.paths.pim, device.paths.pam, device.paths.pom
        ),
    )?;
    let mut chpids = String::new();
    for (i, chpid) in device.paths.chpids.iter().enumerate() {
        let installed = device.paths.pim & (0x80 >> i) != 0;
        chpids.push_str(&format!("{:02x} ", if installed { *chpid } else { 0 }));
    }
    chpids.push('\n');
    write(&subchannel.join("chpids"), &chpids)?;
    write(
        &subchannel.join("dev_busid"),
        &format!("{}\n", device.devno),
    )?;
    write(&subchannel.join("driver_override"), "vfio_ccw\n")?;

    // QEMU names the paths css<c>/chp0.<xx> whatever the css id.
    for chpid in device.paths.list() {
        let chp = css.join(format!("chp0.{chpid:02x}"));
        fs::create_dir_all(&chp)?;
        write(&chp.join("type"), &format!("{:x}\n", device.chp_type))?;
    }

    // The group link dangles, as QEMU only reads its name.
    if let Some(group) = device.group {
        symlink(
            format!("../../../../kernel/iommu_groups/{group}"),
            mdev.join("iommu_group"),
        )?;
    }

    let cdev = mdev.join("vfio-dev").join(device.cdev_name());
    fs::create_dir_all(&cdev)?;
    write(
        &cdev.join("dev"),
        &format!("{CDEV_MAJOR}:{}\n", device.cdev),
    )?;

    let css_bus = sys.join("bus/css/devices");
    fs::create_dir_all(&css_bus)?;
    symlink(
        format!("../../../devices/css{:x}/{schid}", device.schid.cssid),
        css_bus.join(&schid),
    )?;
    let mdev_bus = sys.join("bus/mdev/devices");
    fs::create_dir_all(&mdev_bus)?;
    symlink(
        format!(
            "../../../devices/css{:x}/{schid}/{}",
            device.schid.cssid, device.uuid
        ),
        mdev_bus.join(&device.uuid),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subchannel::Paths;
    use std::path::PathBuf;

    fn layout() -> Description {
        Description::default()
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
        let layout = Description {
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
            fs::read_to_string(sch.join("dev_busid")).unwrap(),
            "0.0.0190\n"
        );
        assert_eq!(
            fs::read_to_string(sys.join("devices/css0/chp0.40/type")).unwrap(),
            "1b\n"
        );
        assert!(!sys.join("devices/css0/chp0.41").exists());
        fs::remove_dir_all(sys).unwrap();
    }

    #[test]
    fn several_devices_each_have_their_subchannel_mdev_group_and_cdev() {
        let sys = scratch("several");
        let mut devices: Vec<_> = (0..3).map(Description::at).collect();
        // The last two share CHPID 0x41, which then appears once.
        devices[1].paths = Paths::parse("41").unwrap();
        devices[2].paths = Paths::parse("41,42").unwrap();
        build_all(&sys, &devices).unwrap();
        for (i, d) in devices.iter().enumerate() {
            let mdev = fs::canonicalize(sys.join(d.sysfsdev())).unwrap();
            assert_eq!(
                mdev.parent().unwrap().file_name().unwrap().to_str(),
                Some(d.schid.to_string().as_str())
            );
            let group = fs::read_link(mdev.join("iommu_group")).unwrap();
            assert_eq!(
                group.file_name().unwrap().to_str(),
                Some(&*(7 + i).to_string())
            );
            assert_eq!(
                fs::read_to_string(mdev.join(format!("vfio-dev/vfio{i}/dev"))).unwrap(),
                format!("511:{i}\n")
            );
        }
        assert_eq!(
            fs::read_to_string(sys.join("bus/css/devices/0.0.0315/chpids")).unwrap(),
            "41 42 00 00 00 00 00 00 \n"
        );
        let chps: Vec<_> = fs::read_dir(sys.join("devices/css0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("chp"))
            .collect();
        assert_eq!(chps.len(), 3, "{chps:?}");
        fs::remove_dir_all(sys).unwrap();
    }
}
