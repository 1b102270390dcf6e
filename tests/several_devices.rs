// SPDX-License-Identifier: GPL-2.0-or-later
//! Several devices at once, as a guest with several DASDs has them: each
//! realized on its own simulated subchannel, each with its own eventfds,
//! interrupts and channel reports.

mod common;

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use vfio_ccw_sim::subchannel::{Description, Paths};
use vfio_ccw_sim::SimConfig;

/// The guest of the device at `position` (its subchannel, device number
/// and CHPID from the position), on `chpids` if given.
fn guest_at(position: usize, chpids: Option<&str>) -> Guest {
    let mut subchannel = Description::at(position);
    if let Some(list) = chpids {
        subchannel.paths = Paths::parse(list).expect("CHPIDs");
    }
    Guest::new(SimConfig {
        subchannel,
        ..SimConfig::default()
    })
}

fn realize(guest: &Guest, position: usize) -> Device {
    let name = Description::at(position).schid.to_string();
    Device::realize(guest.fd(), &name, Config::default()).expect("realize")
}

const INJECTED: u32 = ACTION_SET_SCHIB | ACTION_SET_ESW | ACTION_INJECT_IO_INTERRUPT;

#[test]
fn each_device_gets_the_io_interrupt_of_its_own_program_only() {
    let mut first = guest_at(0, None);
    let mut second = guest_at(1, None);
    first.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    second.ccw1(CPA, CMD_NOP, CCW_FLAG_SLI, 0, 0);
    let mut a = realize(&first, 0);
    let mut b = realize(&second, 1);
    assert_ne!(
        a.irq_fd(qemu_vfio_ccw::irq::Irq::Io),
        b.irq_fd(qemu_vfio_ccw::irq::Irq::Io)
    );
    let schib = started_schib();

    assert_eq!(a.start(&orb(CPA), &schib, CPA).ret, 0);
    assert_eq!(b.io_interrupt(&schib).actions, 0, "nothing for the second");
    let out = a.io_interrupt(&schib);
    assert_eq!(out.actions, INJECTED);
    assert_eq!(first.bytes(DATA, RECORD.len()), RECORD);

    assert_eq!(b.start(&orb(CPA), &schib, CPA).ret, 0);
    assert_eq!(
        a.io_interrupt(&schib).actions,
        0,
        "nothing more for the first"
    );
    let out = b.io_interrupt(&schib);
    assert_eq!(out.actions, INJECTED);
    assert_eq!({ out.schib.scsw.dstat }, 0x0c, "channel end + device end");
    assert!(
        second.bytes(DATA, RECORD.len()).iter().all(|&b| b == 0),
        "the first device's data stayed in the first guest's memory"
    );
}

#[test]
fn a_channel_report_reaches_the_devices_on_its_path_only() {
    // The host's path 0x41 goes: each subchannel on it reports, the one
    // without it does not.
    let guests = [
        guest_at(0, Some("40,41")),
        guest_at(1, Some("41")),
        guest_at(2, Some("42")),
    ];
    let mut devices: Vec<Device> = guests
        .iter()
        .enumerate()
        .map(|(i, g)| realize(g, i))
        .collect();
    for guest in &guests {
        guest.kernel.chp_offline(0x41);
    }
    let reports: Vec<Vec<Crw>> = devices
        .iter_mut()
        .map(|d| {
            let mut crws = [Crw::default(); 4];
            let n = d.crw_interrupt(&mut crws);
            crws[..n].to_vec()
        })
        .collect();
    let offline = Crw {
        flags: 0x0406,
        rsid: 0x0041,
    };
    assert_eq!(reports, [vec![offline], vec![offline], vec![]]);
}

#[test]
fn realizing_the_same_devices_twice_over_keeps_them_apart() {
    // Four devices realized, torn down and realized again, as a guest
    // with hot-plugged DASDs does: each keeps working on its own.
    let mut guests: Vec<Guest> = (0..4).map(|i| guest_at(i, None)).collect();
    for guest in &mut guests {
        guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    }
    for _round in 0..2 {
        let mut devices: Vec<Device> = guests
            .iter()
            .enumerate()
            .map(|(i, g)| realize(g, i))
            .collect();
        let schib = started_schib();
        for d in devices.iter_mut() {
            assert_eq!(d.start(&orb(CPA), &schib, CPA).ret, 0);
        }
        for d in devices.iter_mut().rev() {
            assert_eq!(d.io_interrupt(&schib).actions, INJECTED);
        }
        for d in devices.iter_mut() {
            assert_eq!(d.io_interrupt(&schib).actions, 0, "one interrupt each");
        }
    }
    for (i, guest) in guests.iter().enumerate() {
        assert_eq!(guest.kernel.stats().ssch, 2, "device {i}");
    }
}
