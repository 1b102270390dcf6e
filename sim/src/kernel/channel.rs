// SPDX-License-Identifier: GPL-2.0-or-later
//! The subchannel's own thread, under a non-zero [`Latency`]: it ends each
//! function (start, halt, clear) when its service time is over, which is
//! the hardware presenting status and the driver's interrupt handler
//! (`fsm_irq`) storing the IRB in its one slot; then it does the driver's
//! queued work (`vfio_ccw_sch_io_todo`): take `io_mutex` (blocking), copy
//! the IRB into the I/O region, move the FSM back to IDLE after a final
//! solicited status, signal the I/O eventfd.
//!
//! The thread runs while a device fd is open (it holds the kernel alive no
//! longer than the fd does) and ends after the last close, which quiesces
//! the subchannel and flushes the slot itself.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::fsm::idle_function_ending;
use super::{lock, Function, Inner, Kernel, Pending};
use crate::cp::{fctl, ChannelProgram};
use crate::timing::{Latency, Timing};

impl Kernel {
    /// Starts the subchannel's thread if the latency asks for one and it is
    /// not running. If the thread cannot be created, functions end inside
    /// the instruction instead, as under [`Latency::Immediate`].
    pub(super) fn start_channel(self: &Arc<Self>, g: &mut Inner) {
        if g.timing.latency().is_immediate() || g.channel_thread {
            return;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("vfio-ccw-sim-channel".into())
            .spawn(move || me.channel_loop());
        match spawned {
            Ok(_) => g.channel_thread = true,
            Err(e) => {
                log::error!(
                    "vfio-ccw-sim: cannot start the subchannel's thread ({e}): \
                     channel programs complete inside the write that starts them"
                );
                g.timing = Timing::new(Latency::Immediate, 0);
            }
        }
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.wake.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    fn wait_for<'a>(&self, g: MutexGuard<'a, Inner>, time: Duration) -> MutexGuard<'a, Inner> {
        match self.wake.wait_timeout(g, time) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    fn channel_loop(&self) {
        let mut g = lock(&self.inner);
        loop {
            if g.irb_slot.is_some() {
                drop(g);
                self.io_todo();
                g = lock(&self.inner);
                continue;
            }
            match g.function {
                Some(p) => {
                    let now = Instant::now();
                    if p.due <= now {
                        g.function = None;
                        g.end_function(p.function);
                    } else {
                        g = self.wait_for(g, p.due - now);
                    }
                }
                None if g.open_count == 0 => {
                    g.channel_thread = false;
                    return;
                }
                None => g = self.wait(g),
            }
        }
    }

    /// `vfio_ccw_sch_io_todo`: the IRB copy happens under `io_mutex`, so a
    /// region write meeting it fails its trylock with `EAGAIN`.
    fn io_todo(&self) {
        let io = lock(&self.io_mutex);
        let mut g = lock(&self.inner);
        while g.copy_held {
            if !g.copy_waiting {
                g.copy_waiting = true;
                g.wake.notify_all();
            }
            g = self.wait(g);
        }
        g.copy_waiting = false;
        // A close or reset may have flushed the slot while this thread
        // waited for the lock.
        if let Some(irb) = g.irb_slot.take() {
            g.deliver(irb);
            drop(io);
            g.signal_io();
        }
    }

    /// Makes the interrupt worker stop after it has taken `io_mutex` and
    /// before it copies the IRB, until the returned guard is dropped: what
    /// a region write meeting the copy, or a second status arriving before
    /// it, does is then certain. Only meaningful with a non-zero latency.
    pub fn hold_irb_copy(&self) -> IrbCopyHold<'_> {
        lock(&self.inner).copy_held = true;
        IrbCopyHold { kernel: self }
    }

    /// Waits up to `timeout` for the held worker to reach its IRB copy
    /// (holding `io_mutex`); false if it did not.
    pub fn wait_irb_copy_held(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut g = lock(&self.inner);
        while !g.copy_waiting {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            g = self.wait_for(g, end - now);
        }
        true
    }

    /// `io_mutex` for a host event: under [`Latency::Immediate`] its
    /// interrupt is copied into the region at once, as the worker would,
    /// so it takes the lock the worker takes; otherwise the interrupt goes
    /// to the slot and the worker takes the lock itself.
    pub(super) fn host_event_lock(&self) -> Option<MutexGuard<'_, ()>> {
        self.latency.is_immediate().then(|| lock(&self.io_mutex))
    }
}

/// The interrupt worker stays before its IRB copy while this lives.
pub struct IrbCopyHold<'a> {
    kernel: &'a Kernel,
}

impl Drop for IrbCopyHold<'_> {
    fn drop(&mut self) {
        let mut g = lock(&self.kernel.inner);
        g.copy_held = false;
        g.wake.notify_all();
    }
}

impl Inner {
    /// The instruction's side of a function: under [`Latency::Immediate`]
    /// it ends here; otherwise the channel ends it after the service time.
    pub(super) fn begin_function(&mut self, function: Function) {
        if self.timing.latency().is_immediate() {
            self.end_function(function);
            return;
        }
        let time = match function {
            Function::Start => {
                let bytes = self.cp.as_ref().map_or(0, ChannelProgram::data_bytes);
                self.timing.start_time(bytes)
            }
            Function::Halt { .. } | Function::Clear => self.timing.halt_or_clear_time(),
        };
        self.function = Some(Pending {
            function,
            due: Instant::now() + time,
        });
        self.wake.notify_all();
    }

    /// The channel ends a function: a start runs the program (the data
    /// moves now, at the end of the service time), a halt or clear ends
    /// what was running; each presents its status.
    pub(super) fn end_function(&mut self, function: Function) {
        match function {
            Function::Start => self.complete_stalled(),
            Function::Halt { of_start: true } => self.halt_active(),
            Function::Halt { of_start: false } => self.interrupt(idle_function_ending(fctl::HALT)),
            Function::Clear => {
                self.device.reset();
                self.interrupt(idle_function_ending(fctl::CLEAR));
            }
        }
    }

    /// The quiesce of close and reset: a function in progress is ended at
    /// once (a running program by a halt), and the interrupt it presents is
    /// delivered before the subchannel is disabled, as the driver waits for
    /// it and flushes its work queue.
    pub(super) fn quiesce(&mut self) {
        match self.function.take() {
            Some(Pending {
                function: f @ (Function::Clear | Function::Halt { of_start: false }),
                ..
            }) => self.end_function(f),
            _ if self.sch.active => self.halt_active(),
            _ => {}
        }
        if let Some(irb) = self.irb_slot.take() {
            self.deliver(irb);
            self.signal_io();
        }
    }
}
