# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/bench's runner: every workload of scripts/benchlib on both QEMU
builds, round after round, then a table of medians, spread and ratios.

Each round runs every workload at each latency on one build, then on the
other; the order of the builds alternates from round to round, so neither
always runs first (on a warmer or quieter machine). Each run_once starts
from fresh copies of the workload's volumes. The figures of all rounds
are grouped by their key; the table prints each build's median, its
spread (min-max over the rounds), and the ratio oriented so that above
1.00 means ours (rust) is better: rust/c for higher-is-better figures,
c/rust for lower-is-better ones. The last line is the headline, workload
(a)'s guest-measured I/Os per second at latency 0, as rust/c."""

import argparse
import importlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib.build import Build  # noqa: E402

# Workload modules of benchlib, in the order they run. A module that is
# not there (linux.py before its branch lands) is skipped, and said so.
WORKLOADS = ("program", "linux")
# 0: the simulated kernel completes each channel program inside QEMU's
# write, so the device path is all that differs. 3390: the launcher's
# 3390 timing model (rotation and data rate, from a fixed seed), the
# service time a real disk adds, behind which the device's cost should
# stay hidden.
LATENCIES = (0, 3390)
HEADLINE = "a: 4K read @0 I/Os per second"


def load_workloads(only):
    modules = []
    for name in WORKLOADS:
        if only and name not in only:
            continue
        try:
            modules.append((name, importlib.import_module(f"benchlib.{name}")))
        except ModuleNotFoundError as e:
            if e.name != f"benchlib.{name}":
                raise
            print(f"bench: workload '{name}' (scripts/benchlib/{name}.py) is not in this "
                  "tree: skipped", file=sys.stderr)
    unknown = set(only or ()) - set(WORKLOADS)
    if unknown:
        sys.exit(f"bench: no workload {', '.join(sorted(unknown))} "
                 f"(there are: {', '.join(WORKLOADS)})")
    if not modules:
        sys.exit("bench: no workload to run")
    return modules


def number(value):
    """A figure printed with the digits that mean something here."""
    if value >= 1000:
        return f"{value:.0f}"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cargo_bench_allocations(path):
    """Heap allocations per I/O of the library, from cargo bench's output."""
    for line in Path(path).read_text().splitlines():
        words = line.split()
        if line.strip().startswith("heap allocations") and len(words) >= 3:
            return float(words[2])
    raise RuntimeError(f"{path}: no 'heap allocations' line from cargo bench --bench io_path")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", action="append", metavar="WORKLOAD")
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--stock", required=True, help="upstream qemu-system-s390x")
    p.add_argument("--rust", required=True, help="patched qemu-system-s390x")
    p.add_argument("--firmware", required=True)
    p.add_argument("--cargo-bench", required=True, type=Path,
                   help="the output of cargo bench --bench io_path")
    args = p.parse_args()
    if args.rounds < 1:
        sys.exit("bench: --rounds must be 1 or more")

    builds = [Build("c", args.stock, args.firmware, ("--compat", "qemu-c")),
              Build("rust", args.rust, args.firmware)]
    workloads = load_workloads(args.only)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for name, module in workloads:
        print(f"bench: preparing {name}", file=sys.stderr, flush=True)
        module.prepare(args.work, args.quick)

    values, meta = {}, {}
    for r in range(args.rounds):
        order = builds if r % 2 == 0 else builds[::-1]
        for build in order:
            for latency in LATENCIES:
                for name, module in workloads:
                    t = time.monotonic()
                    try:
                        figures = module.run_once(build, args.work, latency, args.quick)
                    except Exception as e:
                        print(f"bench: FAILED: round {r + 1}, {name} on {build.name} at "
                              f"latency {latency}: {e}", file=sys.stderr)
                        return 1
                    print(f"bench: round {r + 1}/{args.rounds} {build.name:4} {name} "
                          f"@{latency}: {len(figures)} figures, {time.monotonic() - t:.1f} s",
                          file=sys.stderr, flush=True)
                    for f in figures:
                        meta.setdefault(f.key, (f.unit, f.higher_is_better))
                        values.setdefault(f.key, {}).setdefault(build.name, []).append(f.value)

    print()
    print(f"scripts/bench: {args.rounds} round(s){' (--quick)' if args.quick else ''}, "
          f"builds alternating (c first in odd rounds), {time.monotonic() - started:.0f} s")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.quick:
        print("--quick: 1 round, small N; scale with 1 and 8 DASDs only (64 in the full run)")
    print("median of the rounds; spread = min-max over the rounds; ratio >1.00 means rust is "
          "better:")
    print("  rust/c for higher-is-better figures (^), c/rust for lower-is-better ones (v)")
    width = max((len(k) for k in values), default=44) + 4
    print(f"{'figure':{width}} {'unit':6} {'c':>10} {'rust':>10}  {'spread c':>19}  "
          f"{'spread rust':>19}  {'ratio':>6}")
    headline = None
    for key, per_build in values.items():
        unit, higher = meta[key]
        c, rust = per_build.get("c", []), per_build.get("rust", [])
        if not c or not rust:
            # A figure only one build gave: shown, with no ratio.
            only = "c" if c else "rust"
            got = c or rust
            print(f"{key:{width}} {unit:6} {number(statistics.median(got)) if c else 'n/a':>10} "
                  f"{'n/a' if c else number(statistics.median(got)):>10}  (only {only} gave it)")
            continue
        mc, mr = statistics.median(c), statistics.median(rust)
        if higher:
            ratio = mr / mc if mc else float("nan")
        else:
            ratio = mc / mr if mr else float("nan")
        if key == HEADLINE:
            headline = ratio
        spread = lambda v: f"{number(min(v))}-{number(max(v))}"  # noqa: E731
        print(f"{key + (' ^' if higher else ' v'):{width}} {unit:6} {number(mc):>10} "
              f"{number(mr):>10}  {spread(c):>19}  {spread(rust):>19}  {ratio:6.2f}")
    allocations = cargo_bench_allocations(args.cargo_bench)
    print(f"{'heap allocations per I/O (library, cargo bench)':{width}} {'allocs':6} "
          f"{'n/a':>10} {number(allocations):>10}  (stock QEMU has no library of ours)")
    print()
    if headline is None:
        print("ratio rust/c: n/a (workload (a) did not run)")
    else:
        print(f"ratio rust/c: {headline:.2f}")
    return 0


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
