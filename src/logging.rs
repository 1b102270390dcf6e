// SPDX-License-Identifier: GPL-2.0-or-later
//! Routes the library's `log` records to one sink: QEMU's error_report /
//! warn_report through a callback the shim registers, or stderr.
//!
//! The threshold comes from `QVC_LOG` (`error`, `warn`, `info`, `debug`;
//! default `info`), read once.

use std::sync::{Mutex, Once};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where messages go; `None` means stderr.
pub type Sink = Box<dyn Fn(Level, &str) + Send + Sync>;

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

struct Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let sink = SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match sink.as_ref() {
            Some(sink) => sink(record.level(), &message),
            None => eprintln!("{}: {message}", record.level().as_str().to_lowercase()),
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the library's logger, once. Another logger already installed
/// by the host program (a Rust test harness, say) is left alone.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            let level = match std::env::var("QVC_LOG").as_deref() {
                Ok("error") => LevelFilter::Error,
                Ok("warn") => LevelFilter::Warn,
                Ok("debug") => LevelFilter::Debug,
                Ok("off") => LevelFilter::Off,
                _ => LevelFilter::Info,
            };
            log::set_max_level(level);
        }
    });
}

/// Replaces the sink; `None` goes back to stderr.
pub fn set_sink(sink: Option<Sink>) {
    install();
    *SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = sink;
}
