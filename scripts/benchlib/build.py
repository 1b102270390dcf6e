# SPDX-License-Identifier: GPL-2.0-or-later
"""What every workload of scripts/bench takes and gives back.

A workload module has

    prepare(work: pathlib.Path, quick: bool) -> None
        once per benchmark run, before any round: builds what its rounds
        share (volumes' templates, payloads, a guest's initramfs) under
        work/;
    run_once(build: Build, work: pathlib.Path, latency_us: int,
             quick: bool) -> list[Figure]
        one round on one build, on fresh copies of its volumes: starts
        QEMU under the launcher, waits for it over QMP, and returns what
        the guest (or the host, for start-up and memory) measured.

latency_us is the launcher's --latency (0: the simulated kernel completes
each channel program inside the write, so the device code is what
differs). quick is the test command's short form: small N, figures still
real. The runner alternates builds, round after round, and prints medians,
spread and the ratio rust/c of each figure."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Build:
    """One QEMU: "c" (upstream QEMU with its C device, the launcher in the
    kernel-compatibility mode it needs) or "rust" (patched, the library)."""

    name: str
    qemu: str
    firmware: str
    launcher_args: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class Figure:
    """One measured value of one round. `key` names the workload and the
    quantity, and is the same string for both builds and every round (the
    runner groups by it); `higher_is_better` says which way the ratio
    rust/c reads."""

    key: str
    unit: str
    value: float
    higher_is_better: bool
