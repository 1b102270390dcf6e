// SPDX-License-Identifier: GPL-2.0-or-later
//! Fault injection: rules that make the N-th operation of a kind fail or
//! misbehave, written as text (the launcher's `--faults FILE`) or built in
//! Rust tests.
//!
//! # Text format
//!
//! One rule per line; `#` starts a comment (at the start of a line or after
//! whitespace; `#N` right after the kind is the ordinal, see below); blank
//! lines are ignored.
//!
//! ```text
//! KIND [#N] ACTION [ARG] [times K | always]
//! ```
//!
//! - `KIND`: an [`OpKind`] name: `io-write`, `io-read`, `cmd-write`,
//!   `cmd-read`, `schib-read`, `crw-read`, `device-info`, `region-info`,
//!   `irq-info`, `set-irqs`, `reset`, `dma-map`, `dma-unmap`.
//! - `#N`: the rule first applies to the N-th operation of that kind
//!   (counted from 1 since the script was installed); default `#1`.
//! - `times K`: it applies to K consecutive operations from there (default
//!   1); `always`: to every one from there.
//! - `ACTION`:
//!   - `fail ERRNO` (`EAGAIN`, `EBUSY`, ... or a number): the operation fails
//!     with that errno before it has any effect;
//!   - `short N`: a region read or write moves only the first N bytes;
//!   - `stall` (`io-write` only): the channel program starts (the write
//!     succeeds) but does not end until `Kernel::complete_stalled`, a halt,
//!     a clear or a reset;
//!   - `notoper`: the subchannel becomes not operational; on `io-write` after
//!     the start was accepted (the I/O never ends), otherwise before the
//!     operation;
//!   - `chp-offline CHPID`, `chp-online CHPID`: the channel path goes away
//!     (CRW ERC 6) or comes back (ERC 2), before the operation;
//!   - `vary-off CHPID`, `vary-on CHPID`: the path is varied, before the
//!     operation, without a CRW;
//!   - `unbind`: the mdev is being removed (request IRQ), after the operation;
//!   - `unsolicited DSTAT`: an unsolicited interrupt with that device status
//!     (e.g. `0x80` attention), after the operation;
//!   - `corrupt-caps [loop|outside|wrong-id|bad-offset]` (`region-info`
//!     only): the capability chain of the reply is corrupted: its `next`
//!     points at itself (default), past `argsz`, its id is wrong, or
//!     `cap_offset` points past `argsz`.
//!
//! Numbers are decimal or `0x` hexadecimal.

use nix::errno::Errno;

use crate::stats::OpKind;

/// How a capability chain is corrupted by [`FaultAction::CorruptCaps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapsCorruption {
    /// The capability's `next` points at the capability itself.
    Loop,
    /// `next` points past the `argsz` the caller gave.
    Outside,
    /// The header id is not `VFIO_REGION_INFO_CAP_TYPE`.
    WrongId,
    /// `cap_offset` points past the `argsz` the caller gave.
    BadOffset,
}

/// What a matching rule does to the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Fail with this errno, without effect.
    Fail(Errno),
    /// Move only this many bytes (region reads and writes).
    Short(usize),
    /// Start the channel program but do not end it (io-write only).
    Stall,
    /// The subchannel becomes not operational.
    NotOper,
    /// The channel path goes offline (CRW queued).
    ChpOffline(u8),
    /// The channel path comes online (CRW queued).
    ChpOnline(u8),
    /// The channel path is varied offline (no CRW).
    VaryOff(u8),
    /// The channel path is varied online (no CRW).
    VaryOn(u8),
    /// The mdev is being removed: the request IRQ fires.
    Unbind,
    /// An unsolicited interrupt with this device status.
    Unsolicited(u8),
    /// Corrupt the capability chain (region-info only).
    CorruptCaps(CapsCorruption),
}

impl FaultAction {
    fn allowed_for(self, kind: OpKind) -> Result<(), &'static str> {
        let region_rw = matches!(
            kind,
            OpKind::IoWrite
                | OpKind::IoRead
                | OpKind::CmdWrite
                | OpKind::CmdRead
                | OpKind::SchibRead
                | OpKind::CrwRead
        );
        match self {
            FaultAction::Short(_) if !region_rw => {
                Err("`short` applies to region reads and writes only")
            }
            FaultAction::Stall if kind != OpKind::IoWrite => {
                Err("`stall` applies to io-write only")
            }
            FaultAction::CorruptCaps(_) if kind != OpKind::GetRegionInfo => {
                Err("`corrupt-caps` applies to region-info only")
            }
            _ => Ok(()),
        }
    }
}

/// One rule: `action` on operations `first ..` (`times` of them, or all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// The operation kind the rule watches.
    pub kind: OpKind,
    /// The 1-based ordinal of the first operation it applies to.
    pub first: u64,
    /// How many operations it applies to; `None` = all from `first` on.
    pub times: Option<u64>,
    /// What it does.
    pub action: FaultAction,
}

impl FaultRule {
    fn matches(&self, kind: OpKind, ordinal: u64) -> bool {
        kind == self.kind
            && ordinal >= self.first
            && self.times.is_none_or(|t| ordinal - self.first < t)
    }
}

/// A list of fault rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultScript {
    rules: Vec<FaultRule>,
}

impl FaultScript {
    /// No faults.
    pub fn empty() -> Self {
        FaultScript::default()
    }

    /// The rules, in script order.
    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// Adds a rule for the `nth` (1-based) operation of `kind`, applying
    /// once; chain [`FaultScript::times`] or [`FaultScript::always`] to widen
    /// it.
    ///
    /// # Panics
    ///
    /// If the action does not apply to the kind (e.g. `Stall` on a read):
    /// the builder is for tests written in Rust, where that is a bug in the
    /// test; text input goes through [`FaultScript::parse`], which reports it.
    pub fn on(mut self, kind: OpKind, nth: u64, action: FaultAction) -> Self {
        if let Err(e) = action.allowed_for(kind) {
            panic!("fault rule {} #{nth}: {e}", kind.name());
        }
        self.rules.push(FaultRule {
            kind,
            first: nth.max(1),
            times: Some(1),
            action,
        });
        self
    }

    /// Makes the last added rule apply to `k` consecutive operations.
    pub fn times(mut self, k: u64) -> Self {
        if let Some(r) = self.rules.last_mut() {
            r.times = Some(k);
        }
        self
    }

    /// Makes the last added rule apply to every operation from its first on.
    pub fn always(mut self) -> Self {
        if let Some(r) = self.rules.last_mut() {
            r.times = None;
        }
        self
    }

    /// Parses the text format described in the module documentation. Errors
    /// name the line number and the problem.
    pub fn parse(text: &str) -> Result<FaultScript, String> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let rule = parse_rule(line)
                .map_err(|e| format!("fault script line {line_no}: {e}: `{line}`"))?;
            rules.push(rule);
        }
        Ok(FaultScript { rules })
    }

    /// The actions that apply to the operation with this ordinal.
    pub(crate) fn actions(&self, kind: OpKind, ordinal: u64) -> Vec<FaultAction> {
        self.rules
            .iter()
            .filter(|r| r.matches(kind, ordinal))
            .map(|r| r.action)
            .collect()
    }
}

/// A `#` begins a comment unless it directly follows the kind (`#N`).
fn strip_comment(line: &str) -> &str {
    let mut prev_ws = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_ws {
            let after = &line[i + 1..];
            let is_ordinal = !line[..i].trim().is_empty()
                && line[..i].split_whitespace().count() == 1
                && after.starts_with(|c: char| c.is_ascii_digit());
            if !is_ordinal {
                return &line[..i];
            }
        }
        prev_ws = c.is_whitespace();
    }
    line
}

fn parse_rule(line: &str) -> Result<FaultRule, String> {
    let mut words = line.split_whitespace().peekable();
    let kind_word = words.next().ok_or("empty rule")?;
    let kind = OpKind::from_name(kind_word).ok_or_else(|| {
        let names: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "unknown operation kind `{kind_word}` (expected one of {})",
            names.join(", ")
        )
    })?;
    let mut first = 1;
    if let Some(w) = words.peek() {
        if let Some(n) = w.strip_prefix('#') {
            first = parse_number(n).map_err(|e| format!("bad ordinal `{w}`: {e}"))?;
            if first == 0 {
                return Err("ordinals count from #1".into());
            }
            words.next();
        }
    }
    let verb = words.next().ok_or("missing action")?;
    let mut arg = |what: &str| {
        words
            .next()
            .ok_or_else(|| format!("`{verb}` needs {what}"))
            .map(str::to_owned)
    };
    let byte = |s: String| -> Result<u8, String> {
        let v = parse_number(&s).map_err(|e| format!("bad CHPID or status `{s}`: {e}"))?;
        u8::try_from(v).map_err(|_| format!("`{s}` does not fit in a byte"))
    };
    let action = match verb {
        "fail" => FaultAction::Fail(parse_errno(&arg("an errno")?)?),
        "short" => {
            let s = arg("a byte count")?;
            let n = parse_number(&s).map_err(|e| format!("bad byte count `{s}`: {e}"))?;
            FaultAction::Short(usize::try_from(n).map_err(|_| "byte count too large")?)
        }
        "stall" => FaultAction::Stall,
        "notoper" => FaultAction::NotOper,
        "unbind" => FaultAction::Unbind,
        "chp-offline" => FaultAction::ChpOffline(byte(arg("a CHPID")?)?),
        "chp-online" => FaultAction::ChpOnline(byte(arg("a CHPID")?)?),
        "vary-off" => FaultAction::VaryOff(byte(arg("a CHPID")?)?),
        "vary-on" => FaultAction::VaryOn(byte(arg("a CHPID")?)?),
        "unsolicited" => FaultAction::Unsolicited(byte(arg("a device status")?)?),
        "corrupt-caps" => {
            let how = match words.peek().copied() {
                Some("loop") => Some(CapsCorruption::Loop),
                Some("outside") => Some(CapsCorruption::Outside),
                Some("wrong-id") => Some(CapsCorruption::WrongId),
                Some("bad-offset") => Some(CapsCorruption::BadOffset),
                _ => None,
            };
            if how.is_some() {
                words.next();
            }
            FaultAction::CorruptCaps(how.unwrap_or(CapsCorruption::Loop))
        }
        other => return Err(format!("unknown action `{other}`")),
    };
    action.allowed_for(kind).map_err(str::to_owned)?;
    let mut times = Some(1);
    match words.next() {
        None => {}
        Some("always") => times = None,
        Some("times") => {
            let s = words.next().ok_or("`times` needs a count")?;
            let k = parse_number(s).map_err(|e| format!("bad count `{s}`: {e}"))?;
            if k == 0 {
                return Err("`times 0` would never apply".into());
            }
            times = Some(k);
        }
        Some(w) => return Err(format!("unexpected `{w}`")),
    }
    if let Some(w) = words.next() {
        return Err(format!("unexpected `{w}` after the rule"));
    }
    Ok(FaultRule {
        kind,
        first,
        times,
        action,
    })
}

fn parse_number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    };
    r.map_err(|e| e.to_string())
}

const ERRNO_NAMES: &[(&str, Errno)] = &[
    ("EPERM", Errno::EPERM),
    ("ENOENT", Errno::ENOENT),
    ("EINTR", Errno::EINTR),
    ("EIO", Errno::EIO),
    ("ENXIO", Errno::ENXIO),
    ("EBADF", Errno::EBADF),
    ("EAGAIN", Errno::EAGAIN),
    ("ENOMEM", Errno::ENOMEM),
    ("EACCES", Errno::EACCES),
    ("EFAULT", Errno::EFAULT),
    ("EBUSY", Errno::EBUSY),
    ("EEXIST", Errno::EEXIST),
    ("ENODEV", Errno::ENODEV),
    ("EINVAL", Errno::EINVAL),
    ("ENOSPC", Errno::ENOSPC),
    ("ENOTTY", Errno::ENOTTY),
    ("ENOSYS", Errno::ENOSYS),
    ("EOPNOTSUPP", Errno::EOPNOTSUPP),
    ("ETIMEDOUT", Errno::ETIMEDOUT),
];

fn parse_errno(s: &str) -> Result<Errno, String> {
    if let Some((_, e)) = ERRNO_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Ok(*e);
    }
    match parse_number(s) {
        Ok(n) if (1..4096).contains(&n) => Ok(Errno::from_raw(n as i32)),
        _ => {
            let names: Vec<&str> = ERRNO_NAMES.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "unknown errno `{s}` (a number 1-4095 or one of {})",
                names.join(", ")
            ))
        }
    }
}
