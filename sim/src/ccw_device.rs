// SPDX-License-Identifier: GPL-2.0-or-later
//! The boundary between the channel (the channel-program engine in `cp`)
//! and a device behind it (the 3390 DASD in `dasd`).
//!
//! The channel fetches CCWs, gathers and scatters data through the DMA
//! mappings, chains, and builds the IRB. The device only sees one command
//! at a time with a byte buffer, and answers with device status.

/// Device-status bits (SCSW byte 8), as the device reports them.
pub mod dstat {
    pub const ATTENTION: u8 = 0x80;
    pub const STATUS_MODIFIER: u8 = 0x40;
    pub const CONTROL_UNIT_END: u8 = 0x20;
    pub const BUSY: u8 = 0x10;
    pub const CHANNEL_END: u8 = 0x08;
    pub const DEVICE_END: u8 = 0x04;
    pub const UNIT_CHECK: u8 = 0x02;
    pub const UNIT_EXCEPTION: u8 = 0x01;
}

/// The data phase of one command, as the channel offers it to the device.
///
/// For a data-chained sequence the channel offers the whole chain at once:
/// the buffer is as long as the counts of all CCWs in the chain added up.
pub enum Transfer<'a> {
    /// Device to memory (read, read backward, sense, sense ID): the device
    /// writes its data at the start of the buffer.
    Read(&'a mut [u8]),
    /// Memory to device (write, search, seek, ...): the bytes the channel
    /// fetched from guest memory.
    Write(&'a [u8]),
    /// No data (no-operation, or a count of zero).
    Control,
}

/// How the device ended one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Device status: normally `CHANNEL_END | DEVICE_END`, plus
    /// `STATUS_MODIFIER` (the channel skips the next CCW), or `UNIT_CHECK`
    /// (the channel ends the program; sense data is then available).
    pub dstat: u8,
    /// Bytes the device had to transfer (for reads: its record length; for
    /// writes: what it wanted). The channel moves `min(len, count)`,
    /// sets the residual count and, unless SLI, incorrect length when
    /// `len != count`.
    pub len: usize,
}

/// A channel-attached device, as the channel sees it.
pub trait CcwDevice: Send {
    /// Executes one command with its data phase.
    fn command(&mut self, cmd: u8, data: Transfer<'_>) -> Response;
    /// The sense bytes of the last unit check (what the sense command
    /// 0x04 returns, and what concurrent sense puts in the IRB's ECW).
    fn sense(&self) -> [u8; 32];
    /// Selective reset, as CLEAR SUBCHANNEL or a subchannel reset causes:
    /// drops positioning and pending sense.
    fn reset(&mut self);
    /// A new channel program starts. A control unit scopes some state to
    /// one chain (a 3990's Define Extent and Locate Record domain), so the
    /// channel tells it where one program ends and the next begins.
    fn begin_program(&mut self) {}
}
