// SPDX-License-Identifier: GPL-2.0-or-later
//! Unrealize racing calls on other threads: it waits for the call in
//! flight, and once it returns no call reaches the device fd (QEMU closes
//! that fd right after).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use nix::errno::Errno;
use qemu_vfio_ccw::css::Schib;
use qemu_vfio_ccw::device::{Config, Device};
use qemu_vfio_ccw::ffi::*;
use qemu_vfio_ccw::kernel::DeviceFd;
use vfio_ccw_sim::SimConfig;

/// The two ends a held call uses: "I am in", and "go on".
type Gate = (mpsc::Sender<()>, mpsc::Receiver<()>);

/// Counts every call that reaches the fd after the test marked it closed,
/// and can hold the SCHIB read until released.
#[derive(Clone, Default)]
struct Watch {
    closed: Arc<AtomicBool>,
    after_close: Arc<AtomicU64>,
    hold: Arc<Mutex<Option<Gate>>>,
}

impl Hook for Watch {
    fn around<R>(&self, call: impl FnOnce() -> R) -> R {
        if self.closed.load(Ordering::SeqCst) {
            self.after_close.fetch_add(1, Ordering::SeqCst);
        }
        call()
    }
    fn read_at(&self, fd: &dyn DeviceFd, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        if let Some((entered, release)) = self.hold.lock().unwrap().take() {
            entered.send(()).unwrap();
            release.recv().unwrap();
        }
        fd.read_at(buf, offset)
    }
}

fn store(handle: QvcHandle) -> QvcStatus {
    let schib = Schib::default();
    let mut out = QvcOutcome {
        ret: 0,
        ..QvcOutcome::new()
    };
    // SAFETY: valid locals.
    unsafe { qvc_device_store(handle, &raw const schib, &raw mut out) }
}

#[test]
fn unrealize_waits_for_a_call_in_flight_and_then_disconnects() {
    let guest = Guest::new(SimConfig::default());
    let watch = Watch::default();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    *watch.hold.lock().unwrap() = Some((entered_tx, release_rx));
    let fd = Hooked::boxed(guest.fd(), watch.clone());
    let handle = register(Device::realize(fd, "0.0.0313", Config::default()).unwrap());

    let in_flight = thread::spawn(move || store(handle));
    entered_rx.recv().unwrap();
    let returned = Arc::new(AtomicBool::new(false));
    let unrealize = {
        let returned = returned.clone();
        thread::spawn(move || {
            let status = qvc_device_unrealize(handle);
            returned.store(true, Ordering::SeqCst);
            status
        })
    };
    thread::sleep(Duration::from_millis(100));
    assert!(
        !returned.load(Ordering::SeqCst),
        "unrealize returned while a call was inside the device"
    );
    let set_irqs_before = guest.kernel.stats().ops.set_irqs;
    release_tx.send(()).unwrap();
    assert_eq!(in_flight.join().unwrap(), QvcStatus::Ok);
    assert_eq!(unrealize.join().unwrap(), QvcStatus::Ok);
    assert_eq!(
        guest.kernel.stats().ops.set_irqs - set_irqs_before,
        3,
        "the teardown ran before unrealize returned"
    );
}

#[test]
fn no_call_reaches_the_fd_after_unrealize_returns_however_calls_race_it() {
    for _ in 0..50 {
        let guest = Guest::new(SimConfig::default());
        let watch = Watch::default();
        let fd = Hooked::boxed(guest.fd(), watch.clone());
        let handle = register(Device::realize(fd, "0.0.0313", Config::default()).unwrap());
        let callers: Vec<_> = (0..4)
            .map(|_| {
                thread::spawn(move || {
                    // Until the handle is refused: each call is done or
                    // refused whole, never half on a torn-down device.
                    let mut calls = 0u32;
                    loop {
                        match store(handle) {
                            QvcStatus::Ok => calls += 1,
                            QvcStatus::InvalidHandle => return calls,
                            other => panic!("{other:?}"),
                        }
                        if calls > 100_000 {
                            panic!("the handle was never refused");
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_micros(200));
        assert_eq!(qvc_device_unrealize(handle), QvcStatus::Ok);
        // QEMU closes the device fd now.
        watch.closed.store(true, Ordering::SeqCst);
        for caller in callers {
            caller.join().unwrap();
        }
        assert_eq!(
            watch.after_close.load(Ordering::SeqCst),
            0,
            "a call reached the fd after unrealize returned"
        );
    }
}
