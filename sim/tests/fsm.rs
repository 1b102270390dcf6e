// SPDX-License-Identifier: GPL-2.0-or-later
//! The state machine and the I/O and async regions' write semantics
//! (kernel-contract.md 4.1, 4.2, 5, 8).

mod common;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::ccw_device::{CcwDevice, Response, Transfer};
use vfio_ccw_sim::{FaultScript, FsmState, Kernel, SimConfig};
use vfio_ccw_uapi::device_fd::DeviceFd;

fn stalled(r: &Rig) {
    r.kernel
        .set_faults(FaultScript::parse("io-write stall").unwrap());
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, 0x3000)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(r.kernel.fsm_state(), FsmState::CpPending);
}

#[test]
fn a_fresh_mdev_is_standby_and_the_first_open_makes_it_idle() {
    let (dev, _) = TestDevice::new();
    let k = Kernel::new(SimConfig::default(), dev);
    assert_eq!(k.fsm_state(), FsmState::Standby);
    let fd = k.open_device().unwrap();
    assert_eq!(k.fsm_state(), FsmState::Idle);
    let fd2 = k.open_device().unwrap();
    drop(fd);
    assert_eq!(k.fsm_state(), FsmState::Idle, "not the last close");
    drop(fd2);
    assert_eq!(k.fsm_state(), FsmState::Standby);
}

#[test]
fn a_write_without_function_bits_returns_the_callers_own_ret_code() {
    let r = rig();
    let mut b = [0u8; 124];
    assert_eq!(r.fd.write_at(&b, 0), Ok(124));
    b[120..124].copy_from_slice(&(-5i32).to_be_bytes());
    assert_eq!(r.fd.write_at(&b, 0), Err(Errno::EIO));
    assert_eq!(
        r.fd.write_at(&[0; 1], 0),
        Err(Errno::EIO),
        "the stored bytes stay"
    );
}

#[test]
fn user_bytes_overwrite_the_irb_area() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    ssch(&r.fd, orb(0, F | P, 0, 0x1000)).unwrap();
    assert_ne!(irb(&r.fd), [0; 96]);
    r.fd.write_at(&[0; 124], 0).unwrap();
    assert_eq!(irb(&r.fd), [0; 96]);
}

#[test]
fn the_ret_code_is_stored_big_endian() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(
        ssch(&r.fd, orb(0, F | P | 0x04, 0, 0x1000)),
        Err(Errno::EOPNOTSUPP)
    );
    let mut rc = [0u8; 4];
    r.fd.read_at(&mut rc, 120).unwrap();
    assert_eq!(rc, [0xff, 0xff, 0xff, 0xa1]);
}

#[test]
fn halt_or_clear_through_the_io_region_is_eopnotsupp() {
    let r = rig();
    let mut b = [0u8; 124];
    b[14] = 0x20;
    assert_eq!(r.fd.write_at(&b, 0), Err(Errno::EOPNOTSUPP));
    b[14] = 0x10;
    assert_eq!(r.fd.write_at(&b, 0), Err(Errno::EOPNOTSUPP));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn ssch_while_a_program_is_pending_is_ebusy() {
    let r = rig();
    stalled(&r);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EBUSY));
}

#[test]
fn the_schib_shows_an_active_start_function_while_stalled() {
    let r = rig();
    stalled(&r);
    let mut s = [0u8; 52];
    r.fd.read_at(&mut s, 0x800).unwrap();
    assert_eq!((s[30], s[31]), (0x40, 0xc0));
}

#[test]
fn a_stalled_program_completes_on_request() {
    let r = rig();
    stalled(&r);
    assert_eq!(take(&r.io_efd), 0);
    r.kernel.complete_stalled();
    assert_eq!(take(&r.io_efd), 1);
    assert_eq!(scsw(&irb(&r.fd)), (0x40, SC_FINAL, 0x1008, CE_DE, 0, 0));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn hsch_ends_a_running_program_with_halt_status() {
    let r = rig();
    stalled(&r);
    assert_eq!(cmd_write(&r.fd, 1), Ok(8));
    let (fc, sc, ..) = scsw(&irb(&r.fd));
    assert_eq!((fc, sc), (0x60, 0x01));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(r.kernel.stats().hsch, 1);
}

#[test]
fn csch_ends_a_running_program_with_clear_status_and_resets_the_device() {
    let r = rig();
    stalled(&r);
    assert_eq!(cmd_write(&r.fd, 2), Ok(8));
    let (fc, sc, ..) = scsw(&irb(&r.fd));
    assert_eq!((fc, sc), (0x10, 0x01));
    assert_eq!(r.log.lock().unwrap().resets, 1);
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn hsch_on_an_idle_subchannel_interrupts_with_halt_status() {
    let r = rig();
    assert_eq!(cmd_write(&r.fd, 1), Ok(8));
    assert_eq!(take(&r.io_efd), 1);
    let (fc, sc, ..) = scsw(&irb(&r.fd));
    assert_eq!((fc, sc), (0x20, 0x01));
}

#[test]
fn an_unknown_async_command_is_einval_and_ret_code_says_so() {
    let r = rig();
    assert_eq!(cmd_write(&r.fd, 3), Err(Errno::EINVAL));
    let mut b = [0u8; 8];
    r.fd.read_at(&mut b, 0x400).unwrap();
    assert_eq!(b, [0, 0, 0, 3, 0xff, 0xff, 0xff, 0xea]);
}

#[test]
fn a_partial_async_write_reuses_the_stored_command() {
    let r = rig();
    cmd_write(&r.fd, 1).unwrap();
    assert_eq!(r.fd.write_at(&[0; 4], 0x404), Ok(4));
    assert_eq!(r.kernel.stats().hsch, 2);
}

#[test]
fn not_operational_makes_io_and_async_writes_eio_and_schib_reads_enodev() {
    let r = rig();
    let req = new_eventfd();
    set_eventfd(&r.fd, 2, req.as_fd_raw()).unwrap();
    r.kernel.set_not_operational();
    assert_eq!(r.kernel.fsm_state(), FsmState::NotOper);
    assert_eq!(take(&req), 1, "the mdev is being removed");
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EIO));
    assert_eq!(cmd_write(&r.fd, 1), Err(Errno::EIO));
    let mut s = [0u8; 52];
    assert_eq!(r.fd.read_at(&mut s, 0x800), Err(Errno::ENODEV));
    assert_eq!(r.fd.reset(), Err(Errno::EINVAL));
}

#[test]
fn unbind_fires_the_request_irq_and_the_mdev_goes_at_the_last_close() {
    let r = rig();
    let req = new_eventfd();
    set_eventfd(&r.fd, 2, req.as_fd_raw()).unwrap();
    r.kernel.unbind();
    assert_eq!(take(&req), 1);
    assert_eq!(r.kernel.stats().removal_requests, 1);
    let Rig { kernel, fd, .. } = r;
    drop(fd);
    assert_eq!(kernel.open_device().err(), Some(Errno::ENODEV));
}

#[test]
fn get_device_fd_during_a_pending_removal_is_enodev() {
    let r = rig();
    r.kernel.unbind();
    assert_eq!(r.kernel.open_device().err(), Some(Errno::ENODEV));
    assert_eq!(
        r.kernel.fsm_state(),
        FsmState::Idle,
        "the open fd still works"
    );
}

#[test]
fn the_eventfds_stay_connected_across_the_last_close() {
    let Rig {
        kernel,
        fd,
        mem,
        io_efd,
        ..
    } = rig();
    drop(fd);
    let fd = kernel.open_device().unwrap();
    put_ccws(&mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    assert_eq!(ssch(&fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(take(&io_efd), 1, "close_device does not put the eventfds");
}

#[test]
fn a_removed_mdev_created_again_opens_as_a_fresh_one() {
    let r = rig();
    let Rig { kernel, fd, .. } = r;
    assert!(
        !kernel.recreate(),
        "an mdev that exists is not created again"
    );
    kernel.unbind();
    assert!(!kernel.recreate(), "nor one waiting for its last close");
    drop(fd);
    assert_eq!(kernel.open_device().err(), Some(Errno::ENODEV));
    assert!(kernel.recreate());
    let fd = kernel.open_device().expect("the mdev opens again");
    assert_eq!(kernel.fsm_state(), FsmState::Idle);
    drop(fd);
    assert_eq!(kernel.fsm_state(), FsmState::Standby);
}

#[test]
fn reset_returns_to_idle_keeping_regions_and_eventfds() {
    let r = rig();
    stalled(&r);
    assert_eq!(r.fd.reset(), Ok(()));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(
        take(&r.io_efd),
        1,
        "the quiesce halt went through the IRQ path"
    );
    put_ccws(&r.mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    r.kernel.set_faults(FaultScript::empty());
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    assert_eq!(take(&r.io_efd), 1);
}

#[test]
fn an_unsolicited_interrupt_delivers_alert_status_without_a_state_change() {
    let r = rig();
    r.kernel.unsolicited_interrupt(0x80);
    assert_eq!(take(&r.io_efd), 1);
    let (fc, sc, _, ds, ..) = scsw(&irb(&r.fd));
    assert_eq!((fc, sc, ds), (0, 0x11, 0x80));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn interrupts_on_a_closed_device_are_dropped() {
    let (dev, _) = TestDevice::new();
    let k = Kernel::new(SimConfig::default(), dev);
    drop(k.open_device().unwrap());
    k.unsolicited_interrupt(0x80);
    let fd = k.open_device().unwrap();
    assert_eq!(irb(&fd), [0; 96]);
}

/// A device whose Read blocks until the test lets it go.
struct Gate {
    entered: mpsc::Sender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl CcwDevice for Gate {
    fn command(&mut self, _cmd: u8, _data: Transfer<'_>) -> Response {
        self.entered.send(()).unwrap();
        self.release.lock().unwrap().recv().unwrap();
        Response {
            dstat: CE_DE,
            len: 0,
        }
    }
    fn sense(&self) -> [u8; 32] {
        [0; 32]
    }
    fn reset(&mut self) {}
}

#[test]
fn a_write_while_another_region_op_holds_the_io_mutex_is_eagain() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let dev = Box::new(Gate {
        entered: entered_tx,
        release: Arc::new(Mutex::new(release_rx)),
    });
    let k = Kernel::new(SimConfig::default(), dev);
    let mem = GuestMem::new(GUEST_SIZE);
    k.dma_map(0, mem.addr(), GUEST_SIZE as u64, 3).unwrap();
    put_ccws(&mem, 0x1000, &[ccw1(0x03, 0, 0, 0)]);
    let fd = Arc::new(k.open_device().unwrap());
    let fd2 = fd.clone();
    let t = std::thread::spawn(move || ssch(&*fd2, orb(0, F | P, 0, 0x1000)));
    entered.recv().unwrap();
    assert_eq!(cmd_write(&*fd, 1), Err(Errno::EAGAIN));
    assert_eq!(fd.write_at(&[0; 124], 0), Err(Errno::EAGAIN));
    release.send(()).unwrap();
    assert_eq!(t.join().unwrap(), Ok(124));
    assert_eq!(k.stats().errors.get(&(Errno::EAGAIN as i32)), Some(&2));
}
