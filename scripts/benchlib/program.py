# SPDX-License-Identifier: GPL-2.0-or-later
"""Workload (a), the freestanding guest program, and scale.

sim/payload/bench-io.c, IPLed by QEMU's firmware from a simulated 3390,
reads a 4096-byte record N times, one SSCH, I/O interrupt and TSCH after
the other, timing each read with the TOD clock, and leaves its figures in
a block of guest memory (struct results, docs/performance.md) before it
stops in a disabled wait. QEMU runs with `-action panic=pause`: the wait
is a GUEST_PANICKED event on QMP, after which the block is read with
`pmemsave`.

At latency 0 the same program also runs with 1, 8 and 64 DASDs (1 and 8
in the short form), each read on every subchannel at once: QEMU's start
to QMP ready, its RSS once ready, and the aggregate rate.

Every guest error (a read that did not end cleanly, a record that came
back wrong) fails the round with what the guest recorded."""

import asyncio
import json
import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

from qemu.qmp import QMPClient

from .build import Build, Figure

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "target/release/vfio-ccw-sim"
MKVOL = ROOT / "target/release/vfio-ccw-mkvol"

# struct results of bench-io.c: where, and its big-endian 64-bit words.
RESULTS_ADDRESS = 0x10000
RESULTS_FIELDS = ("magic", "devices", "ios_per_device", "ios", "errors", "first_error",
                  "elapsed", "min", "p50", "p99", "max", "stray")
RESULTS_FORMAT = ">8s" + "Q" * (len(RESULTS_FIELDS) - 1)
# Where a failed read went wrong (bench-io.c's AT_*).
ERROR_PLACES = {1: "SSCH cc", 2: "TSCH cc", 3: "ending status (dstat<<8|cstat)",
                4: "the record's data", 5: "MSCH", 6: "no subchannel found",
                7: "too many subchannels"}
# The TOD clock counts 4096 units per microsecond.
TOD_PER_US = 4096
# The payload's disabled wait when every read ended cleanly.
DONE_ADDRESS = 0xC0FFEE
# The service-time model of the runs with latency: the 3390's rotation
# and data rate (the launcher's --latency 3390), from the same random
# rotational positions for both builds.
SEED = 3390
# How long one QEMU may take in all, on a shared 2-core machine under TCG.
TIMEOUT = 600


def sizes(quick):
    """Reads per device: (a) at latency 0, (a) with service time, each
    device of the scale runs; and the device counts of the scale runs."""
    if quick:
        return 5000, 20, 200, (1, 8)
    return 100000, 500, 2000, (1, 8, 64)


def _payload_with(template, ios, all_subchannels):
    """The payload image with struct params set."""
    image = bytearray(template)
    at = image.find(b"BENCHPRM")
    if at < 0 or image.find(b"BENCHPRM", at + 1) >= 0:
        raise RuntimeError("bench-io.bin: no single 'BENCHPRM' parameter block")
    image[at + 8:at + 24] = struct.pack(">QQ", ios, all_subchannels)
    return bytes(image)


def _volume(work, name, template, ios, all_subchannels):
    image = work / f"{name}.bin"
    image.write_bytes(_payload_with(template, ios, all_subchannels))
    volume = work / f"{name}.3390"
    volume.unlink(missing_ok=True)
    subprocess.run([str(MKVOL), "ipl", "--cylinders", "1", "--payload", str(image),
                    "--load-address", "0x20000", str(volume)],
                   check=True, stdout=subprocess.DEVNULL)
    return volume


def prepare(work, quick):
    for tool in (LAUNCHER, MKVOL):
        if not os.access(tool, os.X_OK):
            raise RuntimeError(f"{tool} is missing: cargo build --release -p vfio-ccw-sim "
                               "-p vfio-ccw-sim-preload")
    built = subprocess.run([str(ROOT / "scripts/build-payload"), "bench-io"], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    template = Path(built).read_bytes()
    ios, ios_latency, ios_scale, _ = sizes(quick)
    here = work / "program"
    here.mkdir(parents=True, exist_ok=True)
    _volume(here, "single", template, ios, 0)
    _volume(here, "latency", template, ios_latency, 0)
    _volume(here, "scale", template, ios_scale, 1)


class Run:
    """One QEMU under the launcher, with `count` fresh copies of `template`,
    driven over QMP."""

    def __init__(self, build, work, template, count, latency_us):
        self.build = build
        self.dir = Path(work) / f"run-{build.name}-{os.getpid()}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        self.volumes = []
        for i in range(count):
            copy = self.dir / f"dasd{i}.3390"
            shutil.copyfile(template, copy)
            self.volumes.append(copy)
        self.latency = latency_us
        self.sock = self.dir / "qmp.sock"
        self.pidfile = self.dir / "qemu.pid"
        self.stats = self.dir / "stats.json"
        self.log = self.dir / "qemu.log"
        self.launched = None
        self.spawned_at = None
        self.proc = None

    def command(self):
        cmd = [str(LAUNCHER), "run"]
        for v in self.volumes:
            cmd += ["--dasd", str(v)]
        cmd += ["--latency", str(self.latency), "--stats-json", str(self.stats)]
        if self.latency == 3390:
            cmd += ["--seed", str(SEED)]
        cmd += list(self.build.launcher_args)
        cmd += ["--", self.build.qemu, "-M", "s390-ccw-virtio", "-accel", "tcg", "-m", "256",
                "-nographic", "-nodefaults", "-L", self.build.firmware,
                "-bios", f"{self.build.firmware}/s390-ccw.img"]
        for i in range(len(self.volumes)):
            boot = ",bootindex=1" if i == 0 else ""
            cmd += ["-device", f"vfio-ccw,sysfsdev=@SYSFSDEV{i}@,devno=fe.0.{i + 1:04x}{boot}"]
        cmd += ["-action", "panic=pause", "-no-reboot", "-serial", "none", "-monitor", "none",
                "-qmp", f"unix:{self.sock}", "-pidfile", str(self.pidfile), "-S"]
        return cmd

    async def _pump(self, stream):
        """Logs the launcher's and QEMU's stderr; notes when the launcher
        says it starts QEMU (its sysfsdev line, printed just before)."""
        with open(self.log, "w") as log:
            while True:
                line = await stream.readline()
                if not line:
                    return
                if self.spawned_at is None and line.startswith(b"vfio-ccw-sim: sysfsdev="):
                    self.spawned_at = time.monotonic()
                log.write(line.decode(errors="replace"))
                log.flush()

    async def _until(self, awaitable, what):
        """`awaitable`'s result, unless QEMU (or the launcher) ends first or
        TIMEOUT passes: then a failure naming `what` it was waiting for."""
        task = asyncio.ensure_future(awaitable)
        ended = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({task, ended}, timeout=TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ended.cancel()
            return task.result()
        task.cancel()
        if ended in done:
            ended.result()
            await asyncio.sleep(0.1)    # the pump's last lines
            raise self.failure(f"QEMU ended (exit status {self.proc.returncode}) "
                               f"while the runner waited for {what}")
        ended.cancel()
        raise self.failure(f"no {what} within {TIMEOUT} s")

    def failure(self, what):
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return RuntimeError(f"{self.build.name} QEMU, {len(self.volumes)} DASD(s), "
                            f"latency {self.latency}: {what}\n--- its log (end) ---\n{tail}")

    async def run(self):
        """Starts QEMU, times it to QMP ready, notes its RSS, runs the guest
        to its disabled wait and reads the results block. Returns
        (seconds to ready, RSS dict in KiB, results dict, stats dict)."""
        qmp = QMPClient(f"bench-{self.build.name}")
        await qmp.start_server(str(self.sock))
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        pump = asyncio.create_task(self._pump(self.proc.stderr))
        try:
            await self._until(qmp.accept(), "QEMU's QMP connection")
            await self._until(qmp.execute("query-status"), "the answer to query-status")
            ready = time.monotonic()
            if self.spawned_at is None:
                raise self.failure("the launcher never said it started QEMU")
            pid = int(self.pidfile.read_text().strip())
            rss = _rss_kib(pid)
            with qmp.listener("GUEST_PANICKED") as events:
                await qmp.execute("cont")
                event = await self._until(events.get(), "the guest's disabled wait")
            info = event.get("data", {}).get("info", {})
            dump = self.dir / "results.bin"
            size = struct.calcsize(RESULTS_FORMAT)
            await qmp.execute("pmemsave", {"val": RESULTS_ADDRESS, "size": size,
                                           "filename": str(dump)})
            results = dict(zip(RESULTS_FIELDS, struct.unpack(RESULTS_FORMAT,
                                                              dump.read_bytes())))
            await qmp.execute("quit")
        finally:
            try:
                await qmp.disconnect()
            except EOFError:
                pass    # QEMU hung up first: it was told to quit
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
            await pump
        self._check(info, results)
        if not self.stats.exists():
            raise self.failure("the launcher wrote no --stats-json file")
        stats = json.loads(self.stats.read_text())
        return ready - self.spawned_at, rss, results, stats

    def _check(self, info, results):
        """A round with any guest error fails, naming it."""
        if results["magic"] != b"BENCHRES":
            raise self.failure(f"the guest stopped (PSW {info}) without finishing its "
                               f"results block (magic {results['magic']!r})")
        if results["errors"]:
            e = results["first_error"]
            where = ERROR_PLACES.get((e >> 16) & 0xFF, "?")
            raise self.failure(
                f"the guest counted {results['errors']} failed read(s) of "
                f"{results['devices'] * results['ios_per_device']}; the first on subchannel "
                f"0x{e >> 32:08x}: {where} {e & 0xFFFF:#x}")
        expected = results["devices"] * results["ios_per_device"]
        if results["ios"] != expected or info.get("psw-addr") != DONE_ADDRESS:
            raise self.failure(f"the guest read {results['ios']} of {expected} records and "
                               f"stopped at {info}")

    def clean(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# Resident memory split the way the kernel accounts it: RssAnon is the
# process's own (heap, guest RAM touched, stacks); RssFile is mapped files
# (QEMU's binary, its libraries, ours among them), page cache that every
# QEMU on the host shares. A shared library is resident where a device
# compiled into QEMU's binary is partly not mapped at all, so the two say
# different things and are shown apart.
RSS_FIELDS = ("VmRSS", "RssAnon", "RssFile")


def _rss_kib(pid):
    """VmRSS, RssAnon and RssFile of PID, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in RSS_FIELDS:
            found[key] = int(rest.split()[0])
    missing = [k for k in RSS_FIELDS if k not in found]
    if missing:
        raise RuntimeError(f"no {', '.join(missing)} in /proc/{pid}/status")
    return found


def _measure(build, work, template, count, latency_us):
    run = Run(build, work, template, count, latency_us)
    try:
        return asyncio.run(run.run())
    finally:
        run.clean()


def _io_figures(prefix, results):
    us = results["elapsed"] / TOD_PER_US
    return [
        Figure(f"{prefix} I/Os per second", "IO/s", results["ios"] / (us / 1e6), True),
        Figure(f"{prefix} latency p50", "us", results["p50"] / TOD_PER_US, False),
        Figure(f"{prefix} latency p99", "us", results["p99"] / TOD_PER_US, False),
    ]


def run_once(build, work, latency_us, quick):
    here = Path(work) / "program"
    _, _, _, counts = sizes(quick)
    if latency_us != 0:
        _, _, results, _ = _measure(build, here, here / "latency.3390", 1, latency_us)
        return _io_figures(f"a: 4K read @{latency_us}", results)

    _, _, results, stats = _measure(build, here, here / "single.3390", 1, 0)
    figures = _io_figures("a: 4K read @0", results)
    total = stats["total"]
    # Realize and the firmware's IPL are in these counts too: a few dozen
    # calls against N reads.
    figures.append(Figure("a: device-fd syscalls per I/O @0", "calls",
                          total["device_fd_syscalls"] / total["ssch"], False))

    ready, rss = {}, {}
    for count in counts:
        seconds, rss_kib, results, _ = _measure(build, here, here / "scale.3390", count, 0)
        ready[count], rss[count] = seconds, rss_kib
        figures += [
            Figure(f"scale: start to QMP ready, {count:2} DASDs", "ms", seconds * 1000, False),
            Figure(f"scale: start to QMP ready per DASD, {count:2} DASDs", "ms",
                   seconds * 1000 / count, False),
            Figure(f"scale: RSS when ready, {count:2} DASDs", "MiB",
                   rss_kib["VmRSS"] / 1024, False),
            Figure(f"scale: RSS anonymous (private) when ready, {count:2} DASDs", "MiB",
                   rss_kib["RssAnon"] / 1024, False),
            Figure(f"scale: RSS file-backed (shared) when ready, {count:2} DASDs", "MiB",
                   rss_kib["RssFile"] / 1024, False),
            Figure(f"scale: aggregate I/Os per second, {count:2} DASDs", "IO/s",
                   results["ios"] / (results["elapsed"] / TOD_PER_US / 1e6), True),
        ]
    first, last = counts[0], counts[-1]
    figures += [
        Figure(f"scale: ready time per added DASD ({first} to {last})", "ms",
               (ready[last] - ready[first]) * 1000 / (last - first), False),
        Figure(f"scale: RSS per added DASD ({first} to {last})", "KiB",
               (rss[last]["VmRSS"] - rss[first]["VmRSS"]) / (last - first), False),
        Figure(f"scale: RSS anonymous per added DASD ({first} to {last})", "KiB",
               (rss[last]["RssAnon"] - rss[first]["RssAnon"]) / (last - first), False),
    ]
    return figures
