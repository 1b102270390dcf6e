// SPDX-License-Identifier: GPL-2.0-or-later
//! The completion model with a service time: the program runs on the
//! subchannel's thread after the write that starts it has returned, and
//! the driver's busy states are reachable (docs/simulator.md, "Completion
//! model"; vfio_ccw_fsm.c, kernel-contract.md 4 and 5).

mod common;
use std::time::{Duration, Instant};

use common::*;
use nix::errno::Errno;
use vfio_ccw_sim::{FsmState, Latency, SimConfig};
use vfio_ccw_uapi::device_fd::DeviceFd;

/// Long enough that every check made right after an instruction happens
/// before the channel ends its function, even on a loaded machine.
const SERVICE: Duration = Duration::from_millis(500);
/// How long a test waits for an interrupt that must come.
const PATIENCE: Duration = Duration::from_secs(10);

const DATA: u64 = 0x3000;
const HSCH: u32 = 1;
const CSCH: u32 = 2;

fn async_rig() -> Rig {
    rig_with(SimConfig {
        latency: Latency::Fixed(SERVICE),
        ..SimConfig::default()
    })
}

/// Starts a program that reads the test device's 80-byte record to DATA.
fn start_read(r: &Rig) {
    put_ccws(&r.mem, 0x1000, &[ccw1(0x02, 0, 80, DATA as u32)]);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Ok(124));
}

/// Waits for the I/O eventfd; returns its counter (0 after `PATIENCE`).
fn wait_io(r: &Rig) -> u64 {
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        let n = take(&r.io_efd);
        if n > 0 {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

/// Sleeps past one more service time and returns the eventfd counter: 0
/// when nothing else was delivered.
fn later_interrupts(r: &Rig) -> u64 {
    std::thread::sleep(SERVICE * 2);
    take(&r.io_efd)
}

fn schib_fc_ac(r: &Rig) -> (u8, u8) {
    let mut b = [0u8; 52];
    r.fd.read_at(&mut b, 0x800).expect("STSCH");
    (b[30], b[31])
}

#[test]
fn the_write_returns_before_the_program_runs() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(r.kernel.fsm_state(), FsmState::CpPending);
    assert_eq!(take(&r.io_efd), 0, "no interrupt yet");
    assert_eq!(r.mem.read(DATA, 80), vec![0; 80], "no data moved yet");
    assert!(r.log.lock().unwrap().commands.is_empty());
}

#[test]
fn the_program_completes_after_the_service_time_with_its_data() {
    let r = async_rig();
    let started = Instant::now();
    start_read(&r);
    assert_eq!(wait_io(&r), 1);
    assert!(started.elapsed() >= SERVICE, "{:?}", started.elapsed());
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    let (fc_ac, sc, _, dstat, cstat, count) = scsw(&irb(&r.fd));
    assert_eq!(
        (fc_ac, sc, dstat, cstat, count),
        (0x40, SC_FINAL, CE_DE, 0, 0)
    );
    assert_eq!(r.mem.read(DATA, 80), record());
}

#[test]
fn stsch_while_the_program_runs_shows_the_start_function_active() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(schib_fc_ac(&r), (0x40, 0xc0));
    assert_eq!(wait_io(&r), 1);
    assert_eq!(schib_fc_ac(&r), (0, 0));
}

#[test]
fn ssch_while_the_program_runs_answers_ebusy() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EBUSY));
    assert_eq!(wait_io(&r), 1);
    assert_eq!(later_interrupts(&r), 0, "the refused start ran nothing");
    assert_eq!(r.log.lock().unwrap().commands, vec![0x02]);
}

#[test]
fn a_write_meeting_the_irb_copy_answers_eagain() {
    let r = async_rig();
    let hold = r.kernel.hold_irb_copy();
    start_read(&r);
    assert!(
        r.kernel.wait_irb_copy_held(PATIENCE),
        "the worker never came"
    );
    assert_eq!(
        ssch(&r.fd, orb(0, F | P, 0, 0x1000)),
        Err(Errno::EAGAIN),
        "the worker holds io_mutex"
    );
    assert_eq!(cmd_write(&r.fd, HSCH), Err(Errno::EAGAIN));
    drop(hold);
    assert_eq!(wait_io(&r), 1);
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(
        r.kernel.stats().errors.get(&(Errno::EAGAIN as i32)),
        Some(&2)
    );
}

#[test]
fn hsch_of_a_running_program_ends_it_with_halt_status_and_no_data() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(cmd_write(&r.fd, HSCH), Ok(8));
    assert_eq!(
        r.kernel.fsm_state(),
        FsmState::CpPending,
        "CP_PENDING until the halt's status arrives"
    );
    assert_eq!(schib_fc_ac(&r), (0x40 | 0x20 | 0x02, 0xc0));
    assert_eq!(wait_io(&r), 1);
    let (fc_ac, sc, cpa, dstat, _, _) = scsw(&irb(&r.fd));
    assert_eq!((fc_ac, sc, cpa, dstat), (0x60, 0x01, 0x1000, 0));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert!(r.log.lock().unwrap().commands.is_empty());
    assert_eq!(r.mem.read(DATA, 80), vec![0; 80]);
    assert_eq!(later_interrupts(&r), 0, "the halted program never ends");
}

#[test]
fn hsch_while_a_halt_is_in_progress_answers_ebusy() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(cmd_write(&r.fd, HSCH), Ok(8));
    assert_eq!(cmd_write(&r.fd, HSCH), Err(Errno::EBUSY));
    assert_eq!(wait_io(&r), 1);
    assert_eq!(r.kernel.stats().hsch, 1);
}

#[test]
fn csch_of_a_running_program_ends_it_with_clear_status_and_a_device_reset() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(cmd_write(&r.fd, CSCH), Ok(8));
    assert_eq!(schib_fc_ac(&r), (0x10 | 0x01, 0));
    assert_eq!(wait_io(&r), 1);
    let (fc_ac, sc, _, dstat, _, _) = scsw(&irb(&r.fd));
    assert_eq!((fc_ac, sc, dstat), (0x10, 0x01, 0));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    let log = r.log.lock().unwrap();
    assert!(log.commands.is_empty());
    assert_eq!(log.resets, 1);
}

#[test]
fn csch_during_a_halt_replaces_it() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(cmd_write(&r.fd, HSCH), Ok(8));
    assert_eq!(cmd_write(&r.fd, CSCH), Ok(8));
    assert_eq!(wait_io(&r), 1);
    assert_eq!(scsw(&irb(&r.fd)).0, 0x10);
    assert_eq!(later_interrupts(&r), 0, "the halt's status never comes");
}

#[test]
fn a_status_arriving_before_the_worker_copies_overwrites_the_slot() {
    let r = async_rig();
    let hold = r.kernel.hold_irb_copy();
    start_read(&r);
    assert!(r.kernel.wait_irb_copy_held(PATIENCE));
    r.kernel.unsolicited_interrupt(0x80);
    drop(hold);
    assert_eq!(wait_io(&r), 1, "one worker run, one signal");
    let (fc_ac, sc, _, dstat, _, _) = scsw(&irb(&r.fd));
    assert_eq!((fc_ac, sc, dstat), (0, SC_FINAL_ALERT & 0x11, 0x80));
    // As on Linux: the worker only sees the unsolicited status, so the
    // program's final status is lost and the FSM stays CP_PENDING until a
    // reset.
    assert_eq!(r.kernel.fsm_state(), FsmState::CpPending);
    assert_eq!(ssch(&r.fd, orb(0, F | P, 0, 0x1000)), Err(Errno::EBUSY));
    assert_eq!(r.fd.reset(), Ok(()));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
}

#[test]
fn close_while_busy_halts_the_program_and_delivers_its_status() {
    let Rig {
        kernel,
        fd,
        mem,
        io_efd,
        log,
    } = async_rig();
    put_ccws(&mem, 0x1000, &[ccw1(0x02, 0, 80, DATA as u32)]);
    assert_eq!(ssch(&fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    drop(fd);
    assert_eq!(kernel.fsm_state(), FsmState::Standby);
    assert_eq!(take(&io_efd), 1, "the quiesce's halt status");
    std::thread::sleep(SERVICE * 2);
    assert!(
        log.lock().unwrap().commands.is_empty(),
        "the program never ran"
    );
    assert_eq!(mem.read(DATA, 80), vec![0; 80]);
    assert_eq!(take(&io_efd), 0);
}

#[test]
fn reset_while_busy_halts_the_program_and_the_next_one_runs() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(r.fd.reset(), Ok(()));
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(take(&r.io_efd), 1, "the quiesce's halt status");
    assert_eq!(scsw(&irb(&r.fd)).0, 0x60);
    start_read(&r);
    assert_eq!(wait_io(&r), 1);
    assert_eq!(r.mem.read(DATA, 80), record());
    assert_eq!(r.log.lock().unwrap().commands, vec![0x02]);
}

#[test]
fn the_subchannel_thread_survives_close_and_reopen() {
    let Rig {
        kernel,
        fd,
        mem,
        io_efd: _,
        log: _,
    } = async_rig();
    drop(fd);
    let fd = kernel.open_device().unwrap();
    let efd = new_eventfd();
    set_eventfd(&fd, 0, efd.as_fd_raw()).unwrap();
    put_ccws(&mem, 0x1000, &[ccw1(0x02, 0, 80, DATA as u32)]);
    assert_eq!(ssch(&fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    let end = Instant::now() + PATIENCE;
    while take(&efd) == 0 {
        assert!(Instant::now() < end, "no interrupt after reopening");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(mem.read(DATA, 80), record());
}

#[test]
fn a_path_lost_while_the_program_runs_halts_it() {
    let r = async_rig();
    start_read(&r);
    r.kernel.chp_offline(0x40);
    assert_eq!(wait_io(&r), 1);
    assert_eq!(scsw(&irb(&r.fd)).0, 0x60);
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(r.kernel.pending_crws(), 1);
    assert_eq!(later_interrupts(&r), 0, "the program never ends on its own");
}

#[test]
fn unmapping_the_pages_of_a_running_program_resets_the_device() {
    let r = async_rig();
    start_read(&r);
    assert_eq!(
        r.kernel.dma_unmap(0, GUEST_SIZE as u64),
        Ok(GUEST_SIZE as u64)
    );
    assert_eq!(r.kernel.fsm_state(), FsmState::Idle);
    assert_eq!(take(&r.io_efd), 1, "the quiesce's halt status");
    assert_eq!(later_interrupts(&r), 0);
    assert!(r.log.lock().unwrap().commands.is_empty());
}

#[test]
fn removal_while_the_program_runs_asks_for_the_device_and_close_ends_the_program() {
    let Rig {
        kernel,
        fd,
        mem,
        io_efd,
        log,
    } = async_rig();
    let req_efd = new_eventfd();
    set_eventfd(&fd, 2, req_efd.as_fd_raw()).unwrap();
    put_ccws(&mem, 0x1000, &[ccw1(0x02, 0, 80, DATA as u32)]);
    assert_eq!(ssch(&fd, orb(0, F | P, 0, 0x1000)), Ok(124));
    kernel.unbind();
    assert_eq!(take(&req_efd), 1);
    drop(fd);
    assert_eq!(take(&io_efd), 1, "the quiesce's halt status");
    assert!(log.lock().unwrap().commands.is_empty());
    assert_eq!(
        kernel.open_device().err(),
        Some(Errno::ENODEV),
        "the mdev is gone"
    );
}

#[test]
fn a_3390_program_completes_within_a_turn_and_its_transfer() {
    let r = rig_with(SimConfig {
        latency: Latency::Dasd3390,
        seed: 3390,
        ..SimConfig::default()
    });
    let started = Instant::now();
    start_read(&r);
    assert_eq!(wait_io(&r), 1);
    let transfer = vfio_ccw_sim::timing::DASD3390_ROTATION * 80 / 56_664;
    assert!(started.elapsed() >= transfer, "{:?}", started.elapsed());
    assert_eq!(r.mem.read(DATA, 80), record());
}
