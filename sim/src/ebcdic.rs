// SPDX-License-Identifier: GPL-2.0-or-later
//! EBCDIC for the few texts a volume and its control unit carry (volume
//! serials, labels, the type and model fields of configuration data):
//! digits, capitals and blanks.

/// One character; lower case as upper case, anything else a blank.
pub fn from_ascii(ch: u8) -> u8 {
    match ch {
        b'0'..=b'9' => 0xf0 + (ch - b'0'),
        b'A'..=b'I' => 0xc1 + (ch - b'A'),
        b'J'..=b'R' => 0xd1 + (ch - b'J'),
        b'S'..=b'Z' => 0xe2 + (ch - b'S'),
        b'a'..=b'z' => from_ascii(ch.to_ascii_uppercase()),
        _ => 0x40,
    }
}

/// `text` in a field of `N` bytes, padded with blanks, cut at `N`.
pub fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0x40u8; N];
    for (o, c) in out.iter_mut().zip(text.bytes()) {
        *o = from_ascii(c);
    }
    out
}
