// SPDX-License-Identifier: GPL-2.0-or-later
//! LD_PRELOAD interposer for the simulated vfio-ccw kernel.
