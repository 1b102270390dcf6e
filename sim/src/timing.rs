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

/// The timing of one subchannel's functions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Latency {
    /// The program runs inside the write that starts it.
    #[default]
    Immediate,
    /// Every start, halt and clear function takes this long on the device
    /// before its status is presented.
    Fixed(Duration),
}

impl Latency {
    /// The launcher's `--latency` text: microseconds, `0` for
    /// [`Latency::Immediate`].
    pub fn parse(text: &str) -> Result<Latency, String> {
        let us: u64 = text.parse().map_err(|_| {
            format!("latency {text}: expected a service time in microseconds (0 for none)")
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

    /// How long a start, halt or clear function runs on the device.
    pub fn service_time(self) -> Duration {
        match self {
            Latency::Immediate => Duration::ZERO,
            Latency::Fixed(d) => d,
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.service_time().as_micros())
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
    fn text_that_is_not_a_number_is_refused_with_the_reason() {
        let e = Latency::parse("fast").unwrap_err();
        assert!(e.contains("microseconds"), "{e}");
    }
}
