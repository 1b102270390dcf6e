// SPDX-License-Identifier: GPL-2.0-or-later
//! How long the simulated channel takes: the service time of a channel
//! program, and of the halt or clear function that ends one.
//!
//! With [`Latency::Immediate`] the channel runs a program inside the
//! I/O-region write that starts it (the interrupt is delivered before
//! `pwrite` returns). With any other latency the subchannel's own thread
//! runs it after the service time and delivers the interrupt as the Linux
//! driver's work queue does (`docs/simulator.md`, "Completion model").

use std::time::Duration;

/// One turn of a 3390's disks: twice its average rotational delay of
/// 7.1 ms (IBM's figure for the first 3390 models, as CERN's IT heritage
/// collection records it for its 3390 platter, item CERN-OBJ-IT-012).
pub const DASD3390_ROTATION: Duration = Duration::from_micros(14_200);
/// The bytes of one 3390 track, which pass under the head in one turn:
/// the track capacity of the 3390 (56,664 bytes, as the EMC Symmetrix
/// DMX-3 Product Guide gives it for its 3390 emulation).
pub const DASD3390_TRACK_BYTES: u64 = 56_664;

/// The timing of one subchannel's functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Latency {
    /// The program runs inside the write that starts it.
    #[default]
    Immediate,
    /// Every start, halt and clear function takes this long on the device
    /// before its status is presented.
    Fixed(Duration),
    /// A 3390 without cache: a start waits for its first record to come
    /// round (a random part of [`DASD3390_ROTATION`], from the seed), then
    /// moves its data at one track per turn. Seeks are not modelled (the
    /// volumes are small); a halt or clear ends at once.
    Dasd3390,
}

impl Latency {
    /// The launcher's `--latency` text: microseconds (`0` for
    /// [`Latency::Immediate`]) or `3390`.
    ///
    /// `3390` is the disk model, not 3390 microseconds: a fixed time of
    /// that length is `3391` or `3389` away.
    pub fn parse(text: &str) -> Result<Latency, String> {
        if text == "3390" {
            return Ok(Latency::Dasd3390);
        }
        let us: u64 = text.parse().map_err(|_| {
            format!("latency {text}: expected a service time in microseconds (0 for none) or 3390")
        })?;
        // An hour is far beyond any channel program; the bound keeps a typo
        // from looking like a hang.
        if us > 3_600_000_000 {
            return Err(format!("latency {text}: more than an hour"));
        }
        Ok(match us {
            0 => Latency::Immediate,
            us => Latency::Fixed(Duration::from_micros(us)),
        })
    }

    /// Whether programs complete inside the write that starts them.
    pub fn is_immediate(self) -> bool {
        self == Latency::Immediate
    }

    /// Whether the timing draws on the seed.
    pub fn is_random(self) -> bool {
        self == Latency::Dasd3390
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Latency::Immediate => write!(f, "0"),
            Latency::Fixed(d) => write!(f, "{}", d.as_micros()),
            Latency::Dasd3390 => write!(f, "3390"),
        }
    }
}

/// A subchannel's timing: its [`Latency`] and the random source the
/// 3390 model draws its rotational positions from.
#[derive(Clone, Debug)]
pub struct Timing {
    latency: Latency,
    /// xorshift64* state; never 0.
    state: u64,
}

impl Timing {
    /// The same `seed` gives the same sequence of service times.
    pub fn new(latency: Latency, seed: u64) -> Timing {
        Timing {
            latency,
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    pub fn latency(&self) -> Latency {
        self.latency
    }

    /// How long a start function runs whose program moves `data_bytes`.
    pub fn start_time(&mut self, data_bytes: u64) -> Duration {
        match self.latency {
            Latency::Immediate => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Dasd3390 => {
                let turn = DASD3390_ROTATION.as_nanos() as u64;
                let waiting = self.next() % turn;
                let passing = data_bytes.saturating_mul(turn) / DASD3390_TRACK_BYTES;
                Duration::from_nanos(waiting.saturating_add(passing))
            }
        }
    }

    /// How long a halt or clear function runs.
    pub fn halt_or_clear_time(&self) -> Duration {
        match self.latency {
            Latency::Fixed(d) => d,
            Latency::Immediate | Latency::Dasd3390 => Duration::ZERO,
        }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_microseconds_is_immediate_completion() {
        assert_eq!(Latency::parse("0"), Ok(Latency::Immediate));
    }

    #[test]
    fn a_number_is_a_fixed_service_time_in_microseconds() {
        assert_eq!(
            Latency::parse("250"),
            Ok(Latency::Fixed(Duration::from_micros(250)))
        );
    }

    #[test]
    fn the_text_3390_is_the_disk_model() {
        assert_eq!(Latency::parse("3390"), Ok(Latency::Dasd3390));
        assert_eq!(Latency::Dasd3390.to_string(), "3390");
    }

    #[test]
    fn text_that_is_not_a_number_is_refused_with_the_reason() {
        let e = Latency::parse("fast").unwrap_err();
        assert!(e.contains("microseconds"), "{e}");
    }

    #[test]
    fn a_fixed_latency_times_every_function_alike() {
        let d = Duration::from_micros(700);
        let mut t = Timing::new(Latency::Fixed(d), 1);
        assert_eq!(t.start_time(0), d);
        assert_eq!(t.start_time(1 << 20), d);
        assert_eq!(t.halt_or_clear_time(), d);
    }

    #[test]
    fn a_3390_start_waits_less_than_a_turn_plus_the_passing_of_its_data() {
        let mut t = Timing::new(Latency::Dasd3390, 7);
        for _ in 0..1000 {
            let d = t.start_time(DASD3390_TRACK_BYTES);
            assert!(d >= DASD3390_ROTATION && d < 2 * DASD3390_ROTATION, "{d:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_3390_times_and_another_seed_others() {
        let times = |seed| {
            let mut t = Timing::new(Latency::Dasd3390, seed);
            (0..8).map(|_| t.start_time(4096)).collect::<Vec<_>>()
        };
        assert_eq!(times(42), times(42));
        assert_ne!(times(42), times(43));
    }
}
