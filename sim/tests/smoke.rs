// SPDX-License-Identifier: GPL-2.0-or-later
//! The simplest end-to-end path: Sense ID through the I/O region.

mod common;
use common::*;

#[test]
fn sense_id_completes_with_the_device_answer_and_an_interrupt() {
    let r = rig();
    put_ccws(&r.mem, 0x1000, &[ccw1(0xe4, 0x20, 256, 0x2000)]);
    assert_eq!(ssch(&r.fd, orb(0x1234, F | P, 0x80, 0x1000)), Ok(124));
    assert_eq!(take(&r.io_efd), 1);
    let irb = irb(&r.fd);
    assert_eq!(scsw(&irb), (0x40, SC_FINAL, 0x1008, CE_DE, 0, 256 - 7));
    assert_eq!(r.mem.read(0x2000, 7), SENSE_ID);
    assert_eq!(r.kernel.fsm_state(), vfio_ccw_sim::FsmState::Idle);
}
