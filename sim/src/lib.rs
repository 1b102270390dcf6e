// SPDX-License-Identifier: GPL-2.0-or-later
//! The simulated vfio-ccw host kernel.

pub mod ccw_device;
