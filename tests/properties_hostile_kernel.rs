// SPDX-License-Identifier: GPL-2.0-or-later
//! Property tests against a hostile kernel: a scriptable device fd that
//! answers with random region info (capability chains included), random
//! errnos (EINTR and EAGAIN forever among them), random byte counts and
//! random region bytes, while a random guest issues random operations with
//! random ORBs and SCHIBs.
//!
//! The properties: realize and every operation return (never panic, never
//! loop), each with a bounded number of device-fd calls; every condition
//! code and errno handed back is one css knows; teardown disconnects
//! every interrupt that was connected.
//! Cases per property: proptest's default (256), or `PROPTEST_CASES`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use proptest::prelude::*;
use qemu_vfio_ccw::css::*;
use qemu_vfio_ccw::device::*;
use qemu_vfio_ccw::irq::Irq;
use qemu_vfio_ccw::kernel::DeviceFd;
use qemu_vfio_ccw::regions::MAX_REGIONS;
use qemu_vfio_ccw::uapi::{self, vfio_device_info, vfio_irq_info};

/// How the hostile kernel answers one region read or write.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// All bytes moved (reads get the next random bytes).
    Whole,
    /// Only this many bytes (mod the length) moved.
    Short(usize),
    /// More bytes than asked: a kernel bug the library must not trust.
    Long,
    /// This errno once.
    Fail(Errno),
    /// This errno from now on.
    Forever(Errno),
}

/// The errnos a kernel may answer with, the retried ones included.
fn errno() -> impl Strategy<Value = Errno> {
    prop::sample::select(vec![
        Errno::EINTR,
        Errno::EAGAIN,
        Errno::EBUSY,
        Errno::ENODEV,
        Errno::EACCES,
        Errno::EFAULT,
        Errno::EINVAL,
        Errno::EIO,
        Errno::ENOMEM,
        Errno::ENOTTY,
    ])
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => Just(Answer::Whole),
        1 => any::<usize>().prop_map(Answer::Short),
        1 => Just(Answer::Long),
        2 => errno().prop_map(Answer::Fail),
        1 => errno().prop_map(Answer::Forever),
    ]
}

/// A region info reply a real kernel would give for `index`: the I/O
/// region at 0, then async, SCHIB and CRW by their CCW type capability.
fn honest_region_info(index: u32) -> Vec<u8> {
    let (subtype, size, flags) = match index {
        0 => (0, uapi::IO_REGION_SIZE, 3),
        1 => (
            uapi::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD,
            uapi::CMD_REGION_SIZE,
            2,
        ),
        2 => (
            uapi::VFIO_REGION_SUBTYPE_CCW_SCHIB,
            uapi::SCHIB_REGION_SIZE,
            1,
        ),
        _ => (uapi::VFIO_REGION_SUBTYPE_CCW_CRW, uapi::CRW_REGION_SIZE, 1),
    };
    let with_cap = index != 0;
    let mut reply = vec![0u8; if with_cap { 48 } else { 32 }];
    let put = |reply: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        reply[at..at + bytes.len()].copy_from_slice(bytes)
    };
    let len = reply.len() as u32;
    put(&mut reply, 0, &len.to_ne_bytes());
    let caps = if with_cap {
        uapi::VFIO_REGION_INFO_FLAG_CAPS
    } else {
        0
    };
    put(&mut reply, 4, &(flags | caps).to_ne_bytes());
    put(&mut reply, 8, &index.to_ne_bytes());
    put(
        &mut reply,
        12,
        &(if with_cap { 32u32 } else { 0 }).to_ne_bytes(),
    );
    put(&mut reply, 16, &(size as u64).to_ne_bytes());
    put(&mut reply, 24, &(u64::from(index) << 40).to_ne_bytes());
    if with_cap {
        put(
            &mut reply,
            32,
            &(uapi::VFIO_REGION_INFO_CAP_TYPE as u16).to_ne_bytes(),
        );
        put(&mut reply, 34, &1u16.to_ne_bytes());
        put(&mut reply, 40, &uapi::VFIO_REGION_TYPE_CCW.to_ne_bytes());
        put(&mut reply, 44, &subtype.to_ne_bytes());
    }
    reply
}

/// What the hostile kernel will say, drawn by proptest.
#[derive(Clone, Debug)]
struct Script {
    device_flags: u32,
    num_regions: u32,
    num_irqs: u32,
    /// Byte changes to the honest region info replies: (index, offset, value).
    region_info_edits: Vec<(u32, usize, u8)>,
    /// Indexes whose GET_REGION_INFO fails.
    region_info_fails: Vec<(u32, Errno)>,
    irq_info: Vec<(u32, u32)>,
    set_irqs: Vec<Option<Errno>>,
    answers: Vec<Answer>,
    region_bytes: Vec<u8>,
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop_oneof![4 => Just(uapi::VFIO_DEVICE_FLAGS_CCW), 1 => any::<u32>()],
        prop_oneof![4 => Just(4u32), 2 => 0u32..8, 1 => any::<u32>()],
        prop_oneof![4 => Just(3u32), 1 => 0u32..5, 1 => any::<u32>()],
        prop::collection::vec((0u32..5, 0usize..64, any::<u8>()), 0..4),
        prop::collection::vec((0u32..5, errno()), 0..2),
        prop::collection::vec(
            prop_oneof![4 => Just((1u32, uapi::VFIO_IRQ_INFO_EVENTFD)), 1 => any::<(u32, u32)>()],
            1..4,
        ),
        prop::collection::vec(
            prop_oneof![6 => Just(None), 1 => errno().prop_map(Some)],
            1..8,
        ),
        prop::collection::vec(answer(), 1..16),
        prop::collection::vec(any::<u8>(), 1..256),
    )
        .prop_map(
            |(
                device_flags,
                num_regions,
                num_irqs,
                region_info_edits,
                region_info_fails,
                irq_info,
                set_irqs,
                answers,
                region_bytes,
            )| Script {
                device_flags,
                num_regions,
                num_irqs,
                region_info_edits,
                region_info_fails,
                irq_info,
                set_irqs,
                answers,
                region_bytes,
            },
        )
}

/// The state the hostile kernel keeps between calls.
#[derive(Default)]
struct State {
    answer: usize,
    forever: Option<Errno>,
    byte: usize,
    irq_info: usize,
    set_irqs: usize,
    /// The eventfds connected now, by irq index.
    eventfds: [Option<i32>; 3],
}

/// A device fd that answers from a [`Script`] and counts its calls.
#[derive(Clone)]
struct Hostile {
    script: Arc<Script>,
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicU64>,
}

impl Hostile {
    fn new(script: Script) -> Hostile {
        Hostile {
            script: Arc::new(script),
            state: Arc::default(),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn next_answer(&self) -> Answer {
        let mut state = self.state.lock().unwrap();
        if let Some(errno) = state.forever {
            return Answer::Fail(errno);
        }
        let answer = self.script.answers[state.answer % self.script.answers.len()];
        state.answer += 1;
        if let Answer::Forever(errno) = answer {
            state.forever = Some(errno);
            return Answer::Fail(errno);
        }
        answer
    }

    fn transfer(&self, len: usize) -> Result<usize, Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.next_answer() {
            Answer::Whole => Ok(len),
            Answer::Short(n) => Ok(n % len.max(1)),
            Answer::Long => Ok(len + 1),
            Answer::Fail(errno) | Answer::Forever(errno) => Err(errno),
        }
    }

    /// Signals the eventfd connected for `irq`, as the kernel would.
    fn signal(&self, irq: usize) {
        let Some(fd) = self.state.lock().unwrap().eventfds[irq] else {
            return;
        };
        let one = 1u64.to_ne_bytes();
        // SAFETY: `fd` is an eventfd the device connected and has not
        // disconnected (it closes only after disconnecting); `one` is 8
        // readable bytes.
        unsafe { libc::write(fd, one.as_ptr().cast(), 8) };
    }
}

impl DeviceFd for Hostile {
    fn read_at(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let n = self.transfer(buf.len())?;
        let mut state = self.state.lock().unwrap();
        for b in buf.iter_mut().take(n) {
            *b = self.script.region_bytes[state.byte % self.script.region_bytes.len()];
            state.byte += 1;
        }
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        self.transfer(buf.len())
    }

    fn get_device_info(&self, info: &mut vfio_device_info) -> Result<(), Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        info.flags = self.script.device_flags;
        info.num_regions = self.script.num_regions;
        info.num_irqs = self.script.num_irqs;
        Ok(())
    }

    fn get_region_info(&self, buf: &mut [u8]) -> Result<(), Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let index = u32::from_ne_bytes(buf[8..12].try_into().unwrap());
        if let Some((_, errno)) = self.script.region_info_fails.iter().find(|f| f.0 == index) {
            return Err(*errno);
        }
        if index >= 5 {
            return Err(Errno::EINVAL);
        }
        let mut reply = honest_region_info(index);
        for &(at_index, offset, value) in &self.script.region_info_edits {
            if at_index == index && offset < reply.len() {
                reply[offset] = value;
            }
        }
        // Like the kernel: the header always; the chain only if it fits,
        // else the size it needs in argsz.
        let argsz = u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize;
        let n = if reply.len() <= argsz.min(buf.len()) {
            reply.len()
        } else {
            32
        };
        buf[..n].copy_from_slice(&reply[..n]);
        Ok(())
    }

    fn get_irq_info(&self, info: &mut vfio_irq_info) -> Result<(), Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap();
        let (count, flags) = self.script.irq_info[state.irq_info % self.script.irq_info.len()];
        state.irq_info += 1;
        info.count = count;
        info.flags = flags;
        Ok(())
    }

    fn set_irqs(&self, buf: &[u8]) -> Result<(), Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap();
        let answer = self.script.set_irqs[state.set_irqs % self.script.set_irqs.len()];
        state.set_irqs += 1;
        if let Some(errno) = answer {
            return Err(errno);
        }
        let field = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap());
        let (index, fd) = (field(8) as usize, field(20) as i32);
        if index < 3 {
            state.eventfds[index] = (fd >= 0).then_some(fd);
        }
        Ok(())
    }

    fn reset(&self) -> Result<(), Errno> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match self.next_answer() {
            Answer::Fail(errno) | Answer::Forever(errno) => Err(errno),
            _ => Ok(()),
        }
    }
}

/// One thing the guest (or the host) does.
#[derive(Clone, Debug)]
enum Op {
    Start([u8; ORB_SIZE], Vec<u8>, u32),
    Halt(Vec<u8>, u32),
    Clear(Vec<u8>, u32),
    Store(Vec<u8>),
    Signal(usize),
    IoInterrupt(Vec<u8>),
    CrwInterrupt(usize),
    ReqInterrupt,
    Reset,
}

fn schib_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), SCHIB_SIZE)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<[u8; ORB_SIZE]>(), schib_bytes(), any::<u32>())
            .prop_map(|(orb, schib, cp)| Op::Start(orb, schib, cp)),
        (schib_bytes(), any::<u32>()).prop_map(|(s, cp)| Op::Halt(s, cp)),
        (schib_bytes(), any::<u32>()).prop_map(|(s, cp)| Op::Clear(s, cp)),
        schib_bytes().prop_map(Op::Store),
        (0usize..3).prop_map(Op::Signal),
        schib_bytes().prop_map(Op::IoInterrupt),
        (0usize..12).prop_map(Op::CrwInterrupt),
        Just(Op::ReqInterrupt),
        Just(Op::Reset),
    ]
}

fn schib(bytes: &[u8]) -> Schib {
    Schib::from_be_bytes(bytes.try_into().unwrap())
}

/// Fd calls one region access may make: the first try and every retry.
const ACCESS_CALLS: u64 = 1 + EINTR_RETRIES as u64 + EAGAIN_RETRIES as u64;
/// Fd calls realize may make: GET_INFO, each walked index queried at most
/// twice plus index 0, and GET_IRQ_INFO + SET_IRQS for three interrupts,
/// plus the disconnects of a realize that fails half way.
const REALIZE_CALLS: u64 = 1 + 2 * (MAX_REGIONS as u64 + 1) + 3 * 2 + 3;

/// SSCH and STSCH hand css an IOInstEnding.
fn css_ending(ret: i32) -> bool {
    (0..=3).contains(&ret)
}

/// HSCH and CSCH hand css 0 or one of the errnos it turns into a cc.
fn css_errno(ret: i32) -> bool {
    ret == 0 || [libc::EBUSY, libc::ENODEV, libc::EACCES, libc::ENOSYS].contains(&-ret)
}

proptest! {
    #[test]
    fn realize_on_a_hostile_kernel_returns_after_bounded_calls(script in script()) {
        let fd = Hostile::new(script);
        let result = Device::realize(Box::new(fd.clone()), "0.0.0313", Config::default());
        prop_assert!(fd.calls() <= REALIZE_CALLS, "{} calls", fd.calls());
        if let Err(error) = result {
            prop_assert!(error.to_string().starts_with("vfio-ccw 0.0.0313: "));
        }
    }

    #[test]
    fn random_operations_on_a_hostile_kernel_each_end_with_a_defined_outcome(
        script in script(),
        ops in prop::collection::vec(op(), 1..24),
    ) {
        let fd = Hostile::new(script);
        // About a third of the scripts let realize succeed; the rest
        // were checked by the property above.
        let Ok(mut device) =
            Device::realize(Box::new(fd.clone()), "0.0.0313", Config { force_orb_pfch: true })
        else {
            return Ok(());
        };
        for op in ops {
            let before = fd.calls();
            match op {
                Op::Start(orb, s, cp) => {
                    let out = device.start(&Orb::from_be_bytes(&orb), &schib(&s), cp);
                    prop_assert!(css_ending(out.ret), "start: {}", out.ret);
                }
                Op::Halt(s, cp) => {
                    let out = device.halt(&schib(&s), cp);
                    prop_assert!(css_errno(out.ret), "halt: {}", out.ret);
                }
                Op::Clear(s, cp) => {
                    let out = device.clear(&schib(&s), cp);
                    prop_assert!(css_errno(out.ret), "clear: {}", out.ret);
                }
                Op::Store(s) => {
                    let out = device.store(&schib(&s));
                    prop_assert_eq!(out.ret, 0, "STSCH has no cc for a host problem");
                }
                Op::Signal(irq) => fd.signal(irq),
                Op::IoInterrupt(s) => {
                    let out = device.io_interrupt(&schib(&s));
                    prop_assert_eq!(out.ret, 0);
                }
                Op::CrwInterrupt(capacity) => {
                    let mut crws = vec![Crw::default(); capacity];
                    let n = device.crw_interrupt(&mut crws);
                    prop_assert!(n <= capacity);
                    prop_assert!(crws[..n].iter().all(|crw| !crw.is_zero()));
                    prop_assert!(fd.calls() - before <= (capacity as u64) * ACCESS_CALLS);
                    continue;
                }
                Op::ReqInterrupt => {
                    device.req_interrupt();
                }
                Op::Reset => {
                    let _ = device.reset();
                }
            }
            prop_assert!(
                fd.calls() - before <= ACCESS_CALLS,
                "{} fd calls for one operation",
                fd.calls() - before
            );
        }
        let connected = Irq::ALL.iter().filter(|&&irq| device.irq_fd(irq).is_some()).count();
        let before = fd.calls();
        drop(device);
        prop_assert_eq!(fd.calls() - before, connected as u64, "one disconnect each");
    }
}
