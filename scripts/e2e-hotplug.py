# SPDX-License-Identifier: GPL-2.0-or-later
"""e2e-hotplug's host side: runs QEMU under the launcher with a Linux guest
that keeps I/O going on its DASD, and unplugs and replugs the DASD over QMP
(qemu.qmp, which waits for each reply and event) cycle after cycle, some
cycles by a host-side removal request (the mdev's request IRQ, which QEMU
answers by unplugging the device itself), some with the channel path lost
and restored in the middle of the guest's I/O. Prints "ok: ..." /
"FAILED: ..." lines and "check: N passed, M failed" (scripts/e2e-hotplug
says what it checks)."""

import argparse
import asyncio
import hashlib
import os
import re
import sys
import time

from qemu.qmp import EventListener, QMPClient

# How long one step may take before it counts as a hang: the guest runs
# under TCG on a shared machine.
STEP_TIMEOUT = 180
REPORT = re.compile(r"^E2E-HOTPLUG: (\w+)(?: (\d+))?(.*)$")
# What the guest's DASD driver says on the console when its device goes.
DASD_LOST = re.compile(r"dasd-eckd 0\.0\.0001: No operational channel path is left")


def fields(rest):
    """KEY=VALUE words of a report line."""
    return dict(w.split("=", 1) for w in rest.split() if "=" in w)


def num(report, key, what):
    """The number KEY of a report's fields; a missing or malformed one
    names the report."""
    text = report.get(key, "")
    if not text.isdigit():
        raise RuntimeError(f"the guest's '{what}' line has {key}='{text}', not a number")
    return int(text)


class Guest:
    """The console: every line logged, the guest's reports queued."""

    def __init__(self, stream, log):
        self.stream = stream
        self.log = log
        self.reports = asyncio.Queue()
        self.dasd_lines = []

    async def pump(self):
        while True:
            raw = await self.stream.readline()
            if not raw:
                await self.reports.put(("eof", None, {}))
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(line + "\n")
            self.log.flush()
            m = REPORT.match(line)
            if m:
                word, cycle, rest = m.groups()
                await self.reports.put((word, int(cycle) if cycle else None, fields(rest)))
            elif DASD_LOST.search(line):
                self.dasd_lines.append(line)

    async def expect(self, word, cycle=None):
        """The next report, which must be WORD (for CYCLE); returns its
        fields, or raises with what came instead."""
        got = await asyncio.wait_for(self.reports.get(), STEP_TIMEOUT)
        if got[0] != word or (cycle is not None and got[1] != cycle):
            raise RuntimeError(f"expected the guest's '{word} {cycle}', got {got}")
        return got[2]


# Mappings this large (KiB) are the guest's RAM (512 MiB): the guest
# touching more of its memory grows its resident part up to its size,
# which says nothing about a leak in QEMU. TCG's code buffer is smaller
# (scripts/e2e-hotplug gives it 64 MiB), so it and the metadata of the
# code in it, freed at each flush, are counted.
LARGE_MAPPING_KIB = 256 * 1024


def proc_figures(pid):
    """QEMU's open fds, its resident set (KiB) and the part of it outside
    the large mappings, from /proc."""
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    large = 0
    size = 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            word = line.split(None, 1)[0]
            if word == "Size:":
                size = int(line.split()[1])
            elif word == "Rss:" and size >= LARGE_MAPPING_KIB:
                large += int(line.split()[1])
    return fds, rss, rss - large


class Verdict:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, why=""):
        if ok:
            print(f"ok: {what}")
            self.passed += 1
        else:
            print(f"FAILED: {what}{' (' + why + ')' if why else ''}")
            self.failed += 1


def expected_md5(pattern, cycle):
    return hashlib.md5(pattern.replace(b"CYCLE", b"%05d" % cycle)).hexdigest()


def cycle_kind(c):
    """Every fifth cycle the host removes the mdev; every fifth, offset by
    two, the channel path goes and comes back while the guest's I/O runs;
    the others are plain device_del. All end with device_add."""
    if c % 5 == 0:
        return "removal"
    if c % 5 == 3:
        return "path"
    return "del"


async def run(a):
    pattern = open(a.pattern, "rb").read()
    device_args = {"driver": "vfio-ccw", "id": "dasd0", "sysfsdev": a.sysfsdev, "devno": "fe.0.0001"}
    for kv in a.device_opt:
        k, v = kv.split("=", 1)
        device_args[k] = v
    v = Verdict()
    log = open(a.console, "w")
    cmd = a.command
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    guest = Guest(proc.stdout, log)
    pump = asyncio.create_task(guest.pump())
    qmp = QMPClient("e2e-hotplug")
    for _ in range(600):
        if os.path.exists(a.qmp) or proc.returncode is not None:
            break
        await asyncio.sleep(0.1)
    try:
        await asyncio.wait_for(qmp.connect(a.qmp), STEP_TIMEOUT)
    except Exception as e:
        if proc.returncode is None:
            proc.kill()
        status = await proc.wait()
        await asyncio.wait_for(pump, 30)
        v.check(False, "QEMU starts and answers QMP", f"{e}; exit status {status}, see {a.console}")
        return v
    events = EventListener(("DEVICE_DELETED",))
    qmp.register_listener(events)
    pid = int(open(a.pidfile).read().split()[0])

    async def execute(name, args=None):
        return await asyncio.wait_for(qmp.execute(name, args), STEP_TIMEOUT)

    async def deleted():
        """Waits for DEVICE_DELETED of dasd0 (a first one of its child
        objects may come before it)."""
        while True:
            ev = await asyncio.wait_for(events.get(), STEP_TIMEOUT)
            if ev["data"].get("device") == "dasd0":
                return ev

    # Opened for reading too, so that the open never waits for the
    # interposer's reader: the lines wait in the FIFO until it reads them
    # (it opens the FIFO at QEMU's first /dev/vfio open, before QMP's
    # greeting).
    fifo_fd = os.open(a.control, os.O_RDWR)

    def host(line):
        os.write(fifo_fd, (line + "\n").encode())

    counts = {"deleted": 0, "added": 0, "gone": 0, "back": 0, "intact": 0,
              "removal_deleted": 0, "path_seen": 0, "driver_said": 0, "io_moved": 0}
    bad = []
    figures = []
    io_errors = None
    done = 0
    try:
        ready = await guest.expect("ready")
        v.check(True, f"the guest set 0.0.0001 online and started its I/O (io={ready.get('io')})")
        figures.append(proc_figures(pid))
        for c in range(1, a.cycles + 1):
            kind = cycle_kind(c)
            synced = await guest.expect("synced", c)
            # The driver's messages from here to the guest's "back": this
            # cycle's, as the host unplugs nothing before that.
            said = len(guest.dasd_lines)
            want = expected_md5(pattern, c)
            if synced.get("md5") != want:
                bad.append(f"cycle {c}: the guest wrote md5 {synced.get('md5')}, not {want}")
            if kind == "path":
                host(f"chp-offline {a.chpid}")
                await asyncio.sleep(1.5)
                host(f"chp-online {a.chpid}")
                await asyncio.sleep(1.5)
            if kind == "removal":
                host("mdev-remove 0")
            else:
                await execute("device_del", {"id": "dasd0"})
            await deleted()
            counts["deleted"] += 1
            if kind == "removal":
                counts["removal_deleted"] += 1
                host("mdev-create 0")
            gone = await guest.expect("gone", c)
            counts["gone"] += 1
            if kind == "path" and num(gone, "paths_lost", f"gone {c}") >= 1:
                counts["path_seen"] += 1
            await execute("device_add", device_args)
            counts["added"] += 1
            back = await guest.expect("back", c)
            counts["back"] += 1
            if len(guest.dasd_lines) > said:
                counts["driver_said"] += 1
            rb = await guest.expect("readback", c)
            if rb.get("md5") == want:
                counts["intact"] += 1
            else:
                bad.append(f"cycle {c}: read back md5 {rb.get('md5')}, wrote {want}")
            if num(rb, "io", f"readback {c}") > num(synced, "io", f"synced {c}"):
                counts["io_moved"] += 1
            figures.append(proc_figures(pid))
            done = c
            if a.verbose:
                print(f"e2e-hotplug: cycle {c} ({kind}) gone avail={gone.get('avail')} "
                      f"io={rb.get('io')} fds={figures[-1][0]} rss={figures[-1][1]} KiB "
                      f"(outside guest RAM {figures[-1][2]} KiB)", flush=True)
        io = await guest.expect("io")
        io_errors = io.get("errors")
        await guest.expect("done")
    except Exception as e:
        bad.append(f"stopped after cycle {done}: {type(e).__name__}: {e}")
    # QEMU still answers, whatever happened to the guest.
    try:
        st = await execute("query-status")
        alive = True
    except Exception as e:
        st, alive = str(e), False
    try:
        status = await asyncio.wait_for(proc.wait(), 60)
    except asyncio.TimeoutError:
        if alive:
            try:
                await execute("quit")
            except Exception:
                pass
        try:
            status = await asyncio.wait_for(proc.wait(), 30)
        except asyncio.TimeoutError:
            proc.kill()
            status = await proc.wait()
    os.close(fifo_fd)
    try:
        await qmp.disconnect()
    except Exception:
        pass
    await asyncio.wait_for(pump, 30)
    elapsed = time.monotonic() - started
    n = a.cycles
    removals = sum(1 for c in range(1, n + 1) if cycle_kind(c) == "removal")
    paths = sum(1 for c in range(1, n + 1) if cycle_kind(c) == "path")
    print(f"e2e-hotplug: {done} of {n} cycles in {elapsed:.0f} s, QEMU exit status {status}; "
          f"console log {a.console}")
    for b in bad:
        print(f"e2e-hotplug: {b}")
    v.check(done == n, f"all {n} cycles ran ({done})")
    v.check(alive, "QEMU still answered QMP at the end (query-status)", str(st))
    v.check(status == 0, "QEMU exited 0 when the guest powered off (no crash)", f"status {status}")
    v.check(counts["deleted"] == n, f"DEVICE_DELETED arrived after each of the {n} unplugs "
            f"({counts['deleted']})")
    v.check(counts["removal_deleted"] == removals,
            f"QEMU unplugged the device on each of the {removals} host removal requests "
            f"({counts['removal_deleted']})")
    v.check(counts["added"] == n, f"device_add succeeded each time ({counts['added']} of {n})")
    v.check(counts["gone"] == n, f"the guest's cio saw the DASD go each time ({counts['gone']} of {n})")
    v.check(counts["driver_said"] == n, f"the guest's DASD driver logged the loss of its device in "
            f"each cycle ({counts['driver_said']} of {n}; {len(guest.dasd_lines)} messages)")
    v.check(counts["back"] == n, f"the guest saw it come back and set it online each time "
            f"({counts['back']} of {n})")
    v.check(counts["intact"] == n, f"the blocks written and synced before each unplug read back "
            f"intact ({counts['intact']} of {n})")
    v.check(counts["path_seen"] == paths, f"the guest's cio saw the path go in each of the {paths} "
            f"path-loss cycles ({counts['path_seen']})")
    v.check(counts["io_moved"] == n, f"the guest's continuous I/O went on across every cycle "
            f"({counts['io_moved']} of {n}; passes that failed: {io_errors})")
    if len(figures) >= 2:
        fds = [f[0] for f in figures]
        total = [f[1] for f in figures]
        rss = [f[2] for f in figures]
        print(f"e2e-hotplug: QEMU's open fds per cycle {fds[0]} .. {fds[-1]} (max {max(fds)}), "
              f"RSS {total[0] // 1024} .. {total[-1] // 1024} MiB (max {max(total) // 1024}), "
              f"of which outside guest RAM {rss[0] // 1024} .. {rss[-1] // 1024} MiB "
              f"(max {max(rss) // 1024})")
        # After the first cycle the fds are what one plugged device needs:
        # no cycle may leave one more behind.
        v.check(max(fds[1:]) <= fds[1], f"QEMU's open fds stay bounded ({fds[1]} after cycle 1, "
                f"max {max(fds[1:])}, {fds[-1]} at the end)")
        # RSS outside the guest's RAM: the second half of the cycles may
        # not grow it by more than the slack (TCG's buffer fills and is
        # flushed, the allocator's arenas settle).
        half = rss[len(rss) // 2]
        v.check(rss[-1] - half <= a.rss_slack_kib and max(rss) - half <= a.rss_slack_kib * 2,
                f"QEMU's RSS outside guest RAM stays bounded "
                f"({half // 1024} MiB at mid-run, "
                f"{rss[-1] // 1024} MiB at the end, max {max(rss) // 1024} MiB, "
                f"slack {a.rss_slack_kib // 1024} MiB)")
    else:
        v.check(False, "QEMU's open fds and RSS stay bounded", "no cycle ran")
    if guest.dasd_lines:
        print("e2e-hotplug: the guest's DASD driver, first messages:")
        for line in guest.dasd_lines[:4]:
            print(f"   {line}")
    return v


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, required=True)
    p.add_argument("--pattern", required=True)
    p.add_argument("--qmp", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--control", required=True)
    p.add_argument("--console", required=True)
    p.add_argument("--sysfsdev", required=True)
    p.add_argument("--chpid", default="40")
    p.add_argument("--device-opt", action="append", default=[])
    p.add_argument("--rss-slack-kib", type=int, default=24576)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args()
    if a.command and a.command[0] == "--":
        a.command = a.command[1:]
    v = asyncio.run(run(a))
    print(f"check: {v.passed} passed, {v.failed} failed")
    sys.exit(0 if v.failed == 0 else 1)


if __name__ == "__main__":
    main()
