// SPDX-License-Identifier: GPL-2.0-or-later
//! The library against the simulated kernel with a service time: seeded
//! random interleavings of START, HALT, CLEAR and STORE SUBCHANNEL with
//! the channel's completions. For every seed: no interrupt is lost or
//! duplicated, nothing hangs, and every outcome is one the Linux driver's
//! FSM allows (vfio_ccw_fsm.c; kernel-contract.md 5).
//!
//! The test plays QEMU's css layer as far as it decides which instructions
//! reach the device: START only on a subchannel with no function in
//! progress, HALT unless a halt or clear is in progress, and every
//! interrupt taken (TSCH) as soon as it is seen. CLEAR is issued unless a
//! clear is in progress: QEMU would pass a second one on, but the second
//! restarts the first and their one status cannot tell which of them it
//! ends, so the test could not say whether an interrupt is missing.
//!
//! `QVC_INTERLEAVING_SEED=N` replays one seed; a failure names its seed.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::{Config, Device, ACTION_INJECT_IO_INTERRUPT};
use vfio_ccw_sim::{FsmState, Latency, SimConfig};

const SEEDS: u64 = 40;
const STEPS: usize = 60;
const SERVICE: Duration = Duration::from_micros(300);
/// The longest pause between two instructions: about two service times,
/// so that programs end before, between and after the instructions.
const MAX_PAUSE_US: u64 = 700;
const PATIENCE: Duration = Duration::from_secs(10);

/// xorshift64*: enough to spread the choices; the seed replays them.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A function the guest started and whose interrupt has not been seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Start,
    Halt,
    Clear,
}

struct Run {
    seed: u64,
    device: Device,
    schib: Schib,
    in_flight: VecDeque<Function>,
    /// Interrupts whose status replaced an earlier one in the driver's one
    /// IRB slot before the library read it (Linux allows it).
    coalesced: usize,
    interrupts: usize,
    log: Vec<String>,
}

impl Run {
    fn fail(&self, what: String) -> ! {
        panic!(
            "seed {}: {what}\nsteps:\n  {}",
            self.seed,
            self.log.join("\n  ")
        );
    }

    fn busy_allowed(&self) -> bool {
        // The kernel answers EBUSY, or the library gives up on EAGAIN, only
        // while the channel or the interrupt worker has something to do.
        !self.in_flight.is_empty()
    }

    fn start(&mut self) {
        if !self.in_flight.is_empty() {
            return; // css: cc 2 without asking the device
        }
        let out = self.device.start(&orb(CPA), &started_schib(), CPA);
        self.log.push(format!("SSCH -> {}", out.ret));
        if out.ret != 0 || out.actions != 0 {
            self.fail(format!("SSCH of an idle subchannel: {out:?}"));
        }
        self.in_flight.push_back(Function::Start);
    }

    fn halt(&mut self) {
        if self.in_flight.iter().any(|f| *f != Function::Start) {
            return; // css: cc 2, a halt or clear is in progress
        }
        let out = self.device.halt(&self.schib, CPA);
        self.log.push(format!("HSCH -> {}", out.ret));
        match out.ret {
            0 => self.in_flight.push_back(Function::Halt),
            r if r == -libc::EBUSY && self.busy_allowed() => {}
            _ => self.fail(format!("HSCH: {out:?}")),
        }
    }

    fn clear(&mut self) {
        if self.in_flight.contains(&Function::Clear) {
            return;
        }
        let out = self.device.clear(&self.schib, CPA);
        self.log.push(format!("CSCH -> {}", out.ret));
        match out.ret {
            0 => self.in_flight.push_back(Function::Clear),
            r if r == -libc::EBUSY && self.busy_allowed() => {}
            _ => self.fail(format!("CSCH: {out:?}")),
        }
    }

    fn store(&mut self) {
        let out = self.device.store(&self.schib);
        if out.ret != 0 {
            self.fail(format!("STSCH: {out:?}"));
        }
    }

    /// Takes an interrupt if the eventfd says there is one, and checks it
    /// ends what was in flight.
    fn poll(&mut self) {
        let out = self.device.io_interrupt(&self.schib);
        if out.actions & ACTION_INJECT_IO_INTERRUPT == 0 {
            return;
        }
        self.interrupts += 1;
        let scsw = out.schib.scsw;
        let fc = scsw.ctrl & (SCSW_FCTL_START_FUNC | SCSW_FCTL_HALT_FUNC | SCSW_FCTL_CLEAR_FUNC);
        self.log.push(format!("interrupt fc {fc:#06x}"));
        if scsw.ctrl & SCSW_STCTL_STATUS_PEND == 0 {
            self.fail(format!("an interrupt without status pending: {scsw:?}"));
        }
        let q = &self.in_flight;
        let ended = match fc {
            SCSW_FCTL_START_FUNC if q.front() == Some(&Function::Start) => 1,
            f if f == SCSW_FCTL_START_FUNC | SCSW_FCTL_HALT_FUNC
                && q.len() >= 2
                && q[0] == Function::Start
                && q[1] == Function::Halt =>
            {
                2
            }
            SCSW_FCTL_HALT_FUNC if q.front() == Some(&Function::Halt) => 1,
            SCSW_FCTL_HALT_FUNC
                if q.len() >= 2 && q[0] == Function::Start && q[1] == Function::Halt =>
            {
                self.coalesced += 1;
                2
            }
            SCSW_FCTL_CLEAR_FUNC if q.contains(&Function::Clear) => {
                let n = q.iter().position(|f| *f == Function::Clear).unwrap_or(0) + 1;
                self.coalesced += n - 1;
                n
            }
            _ => self.fail(format!(
                "interrupt with function {fc:#06x} while {:?} was in flight (lost or duplicated)",
                self.in_flight
            )),
        };
        self.in_flight.drain(..ended);
    }
}

fn run(seed: u64) -> (usize, usize) {
    let config = SimConfig {
        latency: Latency::Fixed(SERVICE),
        ..SimConfig::default()
    };
    let mut guest = Guest::new(config);
    guest.ccw1(CPA, CMD_READ, 0, RECORD.len() as u16, DATA);
    let mut run = Run {
        seed,
        device: guest.realize(Config::default()),
        schib: started_schib(),
        in_flight: VecDeque::new(),
        coalesced: 0,
        interrupts: 0,
        log: Vec::new(),
    };
    let mut rng = Rng::new(seed);
    for _ in 0..STEPS {
        match rng.below(10) {
            0..=3 => run.start(),
            4..=5 => run.halt(),
            6 => run.clear(),
            _ => run.store(),
        }
        let pause = Instant::now() + Duration::from_micros(rng.below(MAX_PAUSE_US));
        while Instant::now() < pause {
            run.poll();
        }
        run.poll();
    }
    let end = Instant::now() + PATIENCE;
    while !run.in_flight.is_empty() {
        if Instant::now() > end {
            run.fail(format!("hang: {:?} never ended", run.in_flight));
        }
        run.poll();
        std::thread::sleep(Duration::from_micros(50));
    }
    // Nothing is in flight: an interrupt now would be a duplicate, which
    // `poll` refuses.
    std::thread::sleep(SERVICE * 4);
    run.poll();
    if run.interrupts == 0 {
        run.fail("no interrupt at all".into());
    }
    if guest.kernel.fsm_state() != FsmState::Idle {
        run.fail(format!("the driver ends in {:?}", guest.kernel.fsm_state()));
    }
    (run.interrupts, run.coalesced)
}

#[test]
fn random_interleavings_lose_and_duplicate_no_interrupt() {
    let seeds: Vec<u64> = match std::env::var("QVC_INTERLEAVING_SEED") {
        Ok(s) => vec![s.parse().expect("QVC_INTERLEAVING_SEED: a number")],
        Err(_) => (1..=SEEDS).collect(),
    };
    let (mut interrupts, mut coalesced) = (0, 0);
    for seed in seeds {
        let (i, c) = run(seed);
        interrupts += i;
        coalesced += c;
    }
    eprintln!("{interrupts} interrupts, {coalesced} statuses replaced in the slot");
    assert!(interrupts > 0);
}
