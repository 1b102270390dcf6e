# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/bench's workloads: each runs one round of one workload on one
QEMU build under the simulated kernel and returns the figures it saw."""
