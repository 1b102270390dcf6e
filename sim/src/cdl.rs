// SPDX-License-Identifier: GPL-2.0-or-later
//! Volumes in the compatible disk layout (CDL) that Linux's DASD driver
//! reads, formatted the way `dasdfmt -b 4096 -d cdl` leaves a 3390:
//!
//! - track 0: IPL1 (key 4, data 24), IPL2 (key 4, data 144) and the VOL1
//!   label (key 4, data 80), then nine 4096-byte blocks;
//! - track 1, the VTOC track: twelve records of key 44 and data 96, left
//!   blank (`fdasd` writes the VTOC into them);
//! - every other track: twelve 4096-byte records, R1 to R12.
//!
//! dasd_eckd_end_analysis recognises the layout from the counts of track
//! 0's first four records and takes the block size from the fourth;
//! blocks 0-2 are the keyed records, 3-11 the rest of track 0, 12-23 the
//! VTOC track, 24 the first record of track 2.

use std::path::Path;

use crate::ckd::{append, empty_track, CkdError, CkdImage, Count};
use crate::ipl::{volume_label, EBCDIC_IPL1, EBCDIC_IPL2, EBCDIC_VOL1};

pub const BLOCK_SIZE: u16 = 4096;
/// 4096-byte records per 3390 track (Linux's recs_per_track).
pub const BLOCKS_PER_TRACK: u8 = 12;
/// The VTOC track's records: a 44-byte key and 96 bytes of data (a DSCB).
pub const DSCB_KEY: u8 = 44;
pub const DSCB_DATA: u16 = 96;

/// Creates `path` as a `cylinders`-cylinder 3390 in the compatible disk
/// layout, labelled `volser`, every block zero.
pub fn make_cdl_volume(path: &Path, cylinders: u32, volser: &str) -> Result<(), CkdError> {
    let mut image = CkdImage::create(path, cylinders)?;
    let bad = |why: String| CkdError::Format(path.to_owned(), why);
    let label = volume_label(volser);
    let block = [0u8; BLOCK_SIZE as usize];
    let dscb = [0u8; DSCB_DATA as usize];
    let dscb_key = [0u8; DSCB_KEY as usize];
    for cyl in 0..cylinders as u16 {
        for head in 0..image.heads as u16 {
            let mut track = empty_track(cyl, head);
            let mut put = |record: u8, key: &[u8], data: &[u8]| {
                let count = Count {
                    cyl,
                    head,
                    record,
                    key_len: key.len() as u8,
                    data_len: data.len() as u16,
                };
                append(&mut track, count, key, data).map_err(bad)
            };
            match (cyl, head) {
                (0, 0) => {
                    put(1, &EBCDIC_IPL1, &[0; 24])?;
                    put(2, &EBCDIC_IPL2, &[0; 144])?;
                    put(3, &EBCDIC_VOL1, &label)?;
                    for record in 4..=BLOCKS_PER_TRACK {
                        put(record, &[], &block)?;
                    }
                }
                (0, 1) => {
                    for record in 1..=BLOCKS_PER_TRACK {
                        put(record, &dscb_key, &dscb)?;
                    }
                }
                _ => {
                    for record in 1..=BLOCKS_PER_TRACK {
                        put(record, &[], &block)?;
                    }
                }
            }
            image.write_track(cyl, head, &track)?;
        }
    }
    Ok(())
}
