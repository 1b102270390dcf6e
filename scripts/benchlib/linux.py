# SPDX-License-Identifier: GPL-2.0-or-later
"""Workload (b) of scripts/bench: Debian's s390x Linux under TCG, its DASD
a -device vfio-ccw on the simulated kernel, reading and writing the DASD
with O_DIRECT in 4 KiB and 64 KiB requests and timing itself.

prepare() downloads the kernel and busybox with apt (scripts/linux-kernel.sh),
cross-compiles the guest's timing program (linux-guest/bench.c), packs the
initramfs (busybox, the DASD modules, linux-guest/init, the program) and
makes the volume's template; each is kept under work/linux/ and made again
only when what it is made from changes. run_once() boots the guest on a
fresh copy of the volume under vfio-ccw-sim, watches it over QMP (qemu.qmp)
until it powers off, and turns the guest's BENCH-LINUX lines into Figures:
MB/s (10^6 bytes a second), I/Os per second and the median and 99th
percentile of the requests' times of each test, and the device-fd calls
per channel program. latency_us is the launcher's --latency: 3390 is its
3390 model, given a fixed seed. docs/performance-linux.md
says what the figures include.

Run alone (before or without the runner): scripts/bench-linux."""

import asyncio
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from .build import Build, Figure

ROOT = Path(__file__).resolve().parents[2]
GUEST = Path(__file__).resolve().parent / "linux-guest"
LAUNCHER = ROOT / "target" / "release" / "vfio-ccw-sim"
MKVOL = ROOT / "target" / "release" / "vfio-ccw-mkvol"

# The tests, in the order the guest runs them: the writes first, as they
# stamp the blocks the reads then check (linux-guest/bench.c).
TESTS = (("write", 4096), ("write", 65536), ("read", 4096), ("read", 65536))
KIB = 1024
MIB = 1024 * KIB
# Bytes per test by request size, for (quick, with a service time): a
# few seconds each under TCG at latency 0 on the machine of
# docs/performance-linux.md (the 64 KiB requests move several times more
# data in the same time); with a service time (the 3390 model's is about
# 8 ms for 4 KiB, 22 ms for 64 KiB) as many seconds from fewer requests.
# quick: a fraction of a second each.
BYTES = {
    (False, False): {4096: 32 * MIB, 65536: 384 * MIB},
    (False, True): {4096: 2 * MIB, 65536: 16 * MIB},
    (True, False): {4096: 1 * MIB, 65536: 4 * MIB},
    (True, True): {4096: 256 * KIB, 65536: 1 * MIB},
}
# Where the tests' region starts: track 4 (12 blocks of 4 KiB a track),
# clear of the CDL's keyed records on tracks 0 and 1 (which Linux reads
# and writes short) and 64 KiB aligned.
START = 4 * 12 * 4096
# A 3390 cylinder: 15 tracks of 12 blocks.
CYLINDER_BYTES = 15 * 12 * 4096
DEVNO = "fe.0.0001"
# The launcher's 3390 timing model draws rotational positions from this
# seed, the same for both builds (scripts/bench.py's latency 3390).
MODEL_3390 = 3390
SEED = 3390
# How long a step may take before the round counts as hung: the guest
# boots under TCG on a machine shared with other work.
BOOT_TIMEOUT = 300
TEST_TIMEOUT = {False: 600, True: 120}

# The launcher's counters (--stats FILE), for the device-fd calls per
# channel program.
STATS_CALLS = re.compile(r"^\s*device fd syscalls: (\d+)\s*$", re.M)
STATS_SSCH = re.compile(r"^\s*channel: ssch (\d+) ", re.M)
RESULT = re.compile(r"^BENCH-LINUX: (read|write) bs=(\d+) bytes=(\d+) ios=(\d+) ns=(\d+) "
                    r"p50=(\d+) p99=(\d+)\s*$")


class RoundFailed(RuntimeError):
    """A round (or its preparation) that gave no figures, naming the
    build and what went wrong."""


def _dir(work):
    return Path(work) / "linux"


def _sizes(quick, latency_us):
    """Bytes per test by request size, and the region every test covers:
    the smallest test's bytes, so each test touches every block of it at
    least once."""
    per_bs = BYTES[(quick, latency_us != 0)]
    return per_bs, min(per_bs.values())


def _digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def _fresh(stamp, key, *outputs):
    """True when STAMP holds KEY and every output exists: made before
    from the same inputs."""
    try:
        return stamp.read_text() == key and all(o.exists() for o in outputs)
    except FileNotFoundError:
        return False


def _kernel(d):
    """Debian's s390x kernel and busybox, downloaded once by
    scripts/linux-kernel.sh; returns (vmlinuz, moddir, modules, busybox).
    The answer is kept in kernel.txt, so a later run neither updates
    apt's lists nor asks apt again; remove it to take a newer kernel."""
    record = d / "kernel.txt"
    if record.exists():
        found = _kernel_record(record.read_text())
        if found:
            return found
    # kmod for depmod (linux-kernel.sh), cpio for _initramfs.
    script = r"""
set -euo pipefail
. "$1/scripts/lib.sh"
work=$2
apt_install kmod cpio
. "$QVC_ROOT/scripts/linux-kernel.sh"
add_module dasd_mod
add_module dasd_eckd_mod
printf 'vmlinuz=%s\nmoddir=%s\nmodules=%s\n' "$vmlinuz" "$moddir" "${modules[*]}"
"""
    out = subprocess.run(["bash", "-c", script, "linux-kernel", str(ROOT), str(d)],
                         stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RoundFailed(f"linux workload: getting Debian's s390x kernel and busybox into {d} "
                          f"failed (status {out.returncode}; apt's messages above)")
    found = _kernel_record(out.stdout)
    if not found:
        raise RoundFailed(f"linux workload: scripts/linux-kernel.sh left no kernel, modules "
                          f"dasd_mod and dasd_eckd_mod or busybox in {d}: it said {out.stdout!r}")
    record.write_text(out.stdout)
    return found


def _kernel_record(text):
    """(vmlinuz, moddir, modules, busybox) from linux-kernel.sh's answer,
    if the files it names and busybox (in the same root) are all there;
    else None."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    vmlinuz, moddir = Path(fields.get("vmlinuz", "")), Path(fields.get("moddir", ""))
    modules = fields.get("modules", "").split()
    busybox = moddir.parents[2] / "bin" / "busybox" if len(moddir.parents) > 2 else None
    if (vmlinuz.is_file() and modules and all((moddir / m).is_file() for m in modules)
            and busybox and busybox.is_file()):
        return vmlinuz, moddir, modules, busybox
    return None


def _bench_program(d):
    """linux-guest/bench.c, static for s390x; compiled again only when
    the source or the flags change."""
    src = GUEST / "bench.c"
    out = d / "bench"
    flags = ["-static", "-O2", "-Wall", "-Wextra", "-Werror"]
    key = _digest(src.read_bytes(), *flags)
    stamp = d / "bench.key"
    if _fresh(stamp, key, out):
        return out
    # apt_install leaves recommendations out, and the cross compiler only
    # recommends the s390x C library a static program links.
    subprocess.run(["bash", "-c", '. "$1/scripts/lib.sh"; '
                    'apt_install gcc-s390x-linux-gnu libc6-dev-s390x-cross', "apt", str(ROOT)],
                   check=True)
    subprocess.run(["s390x-linux-gnu-gcc", *flags, "-o", str(out), str(src)], check=True)
    stamp.write_text(key)
    return out


def _initramfs(d, busybox, moddir, modules, program):
    """The guest's initramfs: busybox, the DASD modules in load order,
    /init and /bench; packed again only when one of them changes."""
    init = GUEST / "init"
    parts = [init.read_bytes(), busybox.read_bytes(), program.read_bytes()]
    for m in modules:
        parts += [m, (moddir / m).read_bytes()]
    key = _digest(*parts)
    out = d / "initrd.gz"
    stamp = d / "initrd.key"
    if _fresh(stamp, key, out):
        return out
    tree = d / "initramfs"
    shutil.rmtree(tree, ignore_errors=True)
    for sub in ("bin", "dev", "proc", "sys", "tmp", "lib/modules"):
        (tree / sub).mkdir(parents=True)
    shutil.copy(busybox, tree / "bin" / "busybox")
    for m in modules:
        (tree / "lib" / "modules" / m).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(moddir / m, tree / "lib" / "modules" / m)
    (tree / "modules.load").write_text("".join(m + "\n" for m in modules))
    shutil.copy(init, tree / "init")
    shutil.copy(program, tree / "bench")
    os.chmod(tree / "init", 0o755)
    os.chmod(tree / "bench", 0o755)
    # The kernel starts /init with the console as its stdio only if the
    # node is there before devtmpfs is mounted.
    os.mknod(tree / "dev" / "console", 0o20600, os.makedev(5, 1))
    names = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--reproducible", "--quiet"], cwd=tree,
                          input="".join(n + "\n" for n in names).encode(),
                          stdout=subprocess.PIPE, check=True)
    with gzip.GzipFile(out, "wb", mtime=0) as f:
        f.write(cpio.stdout)
    stamp.write_text(key)
    return out


def _volume(d, quick):
    """The template every round copies: a CDL 3390 large enough for the
    largest region of the form, made by vfio-ccw-mkvol."""
    region = max(_sizes(quick, latency)[1] for latency in (0, 1))
    cylinders = -(-(START + region) // CYLINDER_BYTES) + 1
    out = d / f"template-{cylinders}cyl.3390"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        subprocess.run([str(MKVOL), "cdl", "--cylinders", str(cylinders), "--volser", "BENCHL",
                        str(tmp)], check=True)
        tmp.rename(out)
    return out


def prepare(work, quick):
    d = _dir(work)
    d.mkdir(parents=True, exist_ok=True)
    # Through cargo every time (a no-op when fresh): the simulated kernel
    # is part of what is measured.
    path = f"{Path.home()}/.cargo/bin:{os.environ.get('PATH', '')}"
    subprocess.run(["cargo", "build", "--release", "--locked", "-q", "--manifest-path",
                    str(ROOT / "Cargo.toml"), "-p", "vfio-ccw-sim", "-p", "vfio-ccw-sim-preload"],
                   check=True, env={**os.environ, "PATH": path})
    vmlinuz, moddir, modules, busybox = _kernel(d)
    program = _bench_program(d)
    initrd = _initramfs(d, busybox, moddir, modules, program)
    volume = _volume(d, quick)
    (d / ("prepared-quick" if quick else "prepared-full")).write_text(
        f"vmlinuz={vmlinuz}\ninitrd={initrd}\nvolume={volume}\n")


def _prepared(d, quick):
    record = d / ("prepared-quick" if quick else "prepared-full")
    if not record.exists():
        raise RoundFailed(f"linux workload: {d} is not prepared for the "
                          f"{'quick' if quick else 'full'} form; prepare() comes first")
    fields = dict(line.split("=", 1) for line in record.read_text().splitlines() if "=" in line)
    paths = [Path(fields.get(k, "")) for k in ("vmlinuz", "initrd", "volume")]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RoundFailed(f"linux workload: {record} names files that are not there "
                          f"({', '.join(missing)}); prepare() makes them again")
    return paths


def _tests(quick, latency_us):
    per_bs, region = _sizes(quick, latency_us)
    return [(mode, bs, per_bs[bs]) for mode, bs in TESTS], region


def run_once(build, work, latency_us, quick):
    d = _dir(work)
    vmlinuz, initrd, template = _prepared(d, quick)
    tests, region = _tests(quick, latency_us)
    tag = f"{build.name}-{'quick' if quick else 'full'}-lat{latency_us}"
    volume = d / f"round-{build.name}.3390"
    shutil.copyfile(template, volume)
    logs = [d / f"{what}-{tag}.{ext}"
            for what, ext in (("console", "log"), ("stderr", "log"), ("stats", "txt"))]
    for log in logs:
        log.unlink(missing_ok=True)
    try:
        results = asyncio.run(_round(build, d, vmlinuz, initrd, volume, logs, latency_us,
                                     tests, region, quick))
        calls = _calls_per_ssch(logs[2], build.name)
    finally:
        volume.unlink(missing_ok=True)
    # Kept only when the round failed: its error names them.
    for log in logs:
        log.unlink(missing_ok=True)
    # As scripts/bench.py's keys: the workload, the test, the latency.
    figures = []
    for mode, bs, _ in tests:
        nbytes, ios, ns, p50, p99 = results[(mode, bs)]
        test = f"b: {bs // 1024}K {mode} @{latency_us}"
        figures += [
            Figure(f"{test} MB/s", "MB/s", nbytes / ns * 1000.0, True),
            Figure(f"{test} I/Os per second", "IO/s", ios / ns * 1e9, True),
            Figure(f"{test} latency p50", "us", p50 / 1000.0, False),
            Figure(f"{test} latency p99", "us", p99 / 1000.0, False),
        ]
    figures.append(Figure(f"b: device-fd syscalls per I/O @{latency_us}", "calls", calls, False))
    return figures


def _calls_per_ssch(stats, name):
    """The launcher's device-fd syscalls over its SSCHs, for the whole
    run: the guest's boot and setting the DASD online (a few dozen
    programs) are in it beside the tests' thousands."""
    try:
        text = stats.read_text()
    except FileNotFoundError:
        raise RoundFailed(f"linux workload on {name}: the launcher wrote no counters to "
                          f"{stats}") from None
    calls, ssch = STATS_CALLS.search(text), STATS_SSCH.search(text)
    if not calls or not ssch or int(ssch.group(1)) == 0:
        raise RoundFailed(f"linux workload on {name}: no device-fd syscalls or SSCH count in "
                          f"{stats}")
    return int(calls.group(1)) / int(ssch.group(1))


def _qemu_command(build, vmlinuz, initrd, qmp, tests, region):
    spec = ",".join(f"{mode}:{bs}:{nbytes}" for mode, bs, nbytes in tests)
    append = (f"console=ttysclp0 loglevel=4 bench_start={START} bench_region={region} "
              f"bench_tests={spec}")
    return [build.qemu, "-M", "s390-ccw-virtio", "-accel", "tcg", "-m", "512", "-nographic",
            "-nodefaults", "-L", build.firmware, "-kernel", str(vmlinuz), "-initrd", str(initrd),
            "-append", append,
            "-device", f"vfio-ccw,id=dasd0,sysfsdev=@SYSFSDEV@,devno={DEVNO}",
            "-qmp", f"unix:{qmp},server=on,wait=off", "-action", "panic=shutdown", "-no-reboot",
            "-serial", "none", "-monitor", "none", "-chardev", "stdio,id=con",
            "-device", "sclpconsole,chardev=con"]


def _parse(line, want, name):
    """A result line's (bytes, ios, ns, p50, p99), checked against the test it
    answers; raises naming the build and the test if it does not add up."""
    wmode, wbs, wbytes = want
    what = f"the {wmode} test with {wbs}-byte requests"
    m = RESULT.match(line)
    if not m:
        raise RoundFailed(f"linux workload on {name}: malformed result line for {what}: '{line}'")
    mode, bs, nbytes, ios, ns, p50, p99 = m.group(1), *map(int, m.groups()[1:])
    if (mode, bs) != (wmode, wbs):
        raise RoundFailed(f"linux workload on {name}: expected the result of {what}, got '{line}'")
    if nbytes != wbytes or ios != wbytes // wbs or ns <= 0:
        raise RoundFailed(f"linux workload on {name}: {what} reported bytes={nbytes} ios={ios} "
                          f"ns={ns}, not bytes={wbytes} ios={wbytes // wbs} in a positive time")
    # Each request's time is part of the whole: a median or a tail
    # outside it is a broken line, not a figure.
    if not 0 < p50 <= p99 <= ns:
        raise RoundFailed(f"linux workload on {name}: {what} reported p50={p50} p99={p99} "
                          f"ns={ns}: want 0 < p50 <= p99 <= ns")
    return nbytes, ios, ns, p50, p99


async def _round(build, d, vmlinuz, initrd, volume, logs, latency_us, tests, region, quick):
    try:
        from qemu.qmp import EventListener, QMPClient
    except ImportError as e:
        raise RoundFailed(f"linux workload: no qemu.qmp ({e}); scripts/bench-linux installs it "
                          f"into build/venv") from e
    name = build.name
    if not LAUNCHER.exists():
        raise RoundFailed(f"linux workload on {name}: no launcher at {LAUNCHER}; prepare() "
                          f"builds it")
    qmp_path = d / f"qmp-{name}.sock"
    qmp_path.unlink(missing_ok=True)
    console_path, stderr_path, stats = logs
    seed = ["--seed", str(SEED)] if latency_us == MODEL_3390 else []
    cmd = [str(LAUNCHER), "run", "--dasd", str(volume), "--latency", str(latency_us), *seed,
           "--stats", str(stats), *build.launcher_args, "--",
           *_qemu_command(build, vmlinuz, initrd, qmp_path, tests, region)]
    where = f"(console {console_path}, launcher and QEMU messages {stderr_path})"
    with open(console_path, "w") as console, open(stderr_path, "w") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr)
        lines = asyncio.Queue()

        async def pump():
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    await lines.put(None)
                    return
                line = raw.decode(errors="replace").rstrip("\r\n")
                console.write(line + "\n")
                if line.startswith("BENCH-LINUX:"):
                    await lines.put(line)

        pumping = asyncio.create_task(pump())
        qmp = QMPClient(f"bench-linux-{name}")
        shutdown = EventListener(("SHUTDOWN",))
        try:
            return await _drive(proc, lines, qmp, qmp_path, shutdown, name, tests, quick, where)
        except RoundFailed as e:
            raise RoundFailed(f"{e}{_tail(stderr_path)}") from None
        finally:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(qmp.execute("quit"), 10)
                except Exception:
                    pass
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
            try:
                await qmp.disconnect()
            except Exception:
                pass
            await asyncio.wait_for(pumping, 30)
            qmp_path.unlink(missing_ok=True)


def _tail(path, count=6):
    """The last lines the launcher and QEMU wrote, for a failure's
    message: QEMU's own error is usually among them."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return ""
    if not lines:
        return ""
    return "\n--- launcher and QEMU, last lines ---\n" + "\n".join(lines[-count:])


async def _drive(proc, lines, qmp, qmp_path, shutdown, name, tests, quick, where):
    """Connects to QMP, takes the guest's lines test by test, waits for
    its SHUTDOWN and QEMU's exit; returns {(mode, bs): _parse's answer}."""
    from qemu.qmp import ConnectError

    # QEMU binds the socket before it listens on it: until then a
    # connection is refused, which is no failure yet.
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RoundFailed(f"linux workload on {name}: QEMU never answered on its QMP socket "
                              f"(exit status {proc.returncode}) {where}")
        if qmp_path.exists():
            try:
                await asyncio.wait_for(qmp.connect(str(qmp_path)), BOOT_TIMEOUT)
                break
            except ConnectError:
                pass
        await asyncio.sleep(0.05)
    qmp.register_listener(shutdown)

    async def next_line(what, timeout):
        try:
            line = await asyncio.wait_for(lines.get(), timeout)
        except asyncio.TimeoutError:
            raise RoundFailed(f"linux workload on {name}: no word from the guest in {timeout} s "
                              f"while waiting for {what} {where}") from None
        if line is None:
            raise RoundFailed(f"linux workload on {name}: the console closed while waiting for "
                              f"{what} (QEMU exit status {await proc.wait()}) {where}")
        if line.startswith("BENCH-LINUX: error"):
            raise RoundFailed(f"linux workload on {name}: the guest, waiting for {what}: "
                              f"{line[len('BENCH-LINUX: '):]} {where}")
        return line

    line = await next_line("the DASD online", BOOT_TIMEOUT)
    if line != "BENCH-LINUX: ready":
        raise RoundFailed(f"linux workload on {name}: expected 'ready', got '{line}' {where}")
    results = {}
    for want in tests:
        what = f"the {want[0]} test with {want[1]}-byte requests"
        line = await next_line(what, TEST_TIMEOUT[quick])
        results[want[:2]] = _parse(line, want, name)
    line = await next_line("the guest's end", 60)
    if line != "BENCH-LINUX: done":
        raise RoundFailed(f"linux workload on {name}: expected 'done', got '{line}' {where}")
    try:
        await asyncio.wait_for(shutdown.get(), 60)
        status = await asyncio.wait_for(proc.wait(), 60)
    except asyncio.TimeoutError:
        raise RoundFailed(f"linux workload on {name}: the guest said 'done' but QEMU neither "
                          f"reported SHUTDOWN nor exited within 60 s {where}") from None
    if status != 0:
        raise RoundFailed(f"linux workload on {name}: QEMU exited {status} after the guest "
                          f"powered off {where}")
    return results


def main():
    import argparse

    p = argparse.ArgumentParser(
        prog="bench-linux",
        description="One round of scripts/bench's Linux workload on each QEMU given.")
    p.add_argument("--quick", action="store_true", help="the short form")
    p.add_argument("--latency", type=int, default=0, metavar="US",
                   help="the simulated kernel's service time per channel program (3390: "
                        "the 3390 model)")
    p.add_argument("--work", default=str(ROOT / "build" / "bench"), help="the work directory")
    p.add_argument("--firmware", default=str(ROOT / "build" / "qemu" / "firmware"))
    p.add_argument("builds", nargs="+", metavar="NAME=QEMU",
                   help="c=... (stock QEMU: the launcher gets --compat qemu-c) or rust=...")
    a = p.parse_args()
    builds = []
    for spec in a.builds:
        name, sep, qemu = spec.partition("=")
        if not sep or name not in ("c", "rust"):
            p.error(f"'{spec}': want c=QEMU or rust=QEMU")
        builds.append(Build(name, os.path.abspath(qemu), os.path.abspath(a.firmware),
                            ("--compat", "qemu-c") if name == "c" else ()))
    work = Path(a.work).resolve()
    started = time.monotonic()
    prepare(work, a.quick)
    print(f"bench-linux: prepared in {time.monotonic() - started:.1f} s", flush=True)
    for b in builds:
        started = time.monotonic()
        figures = run_once(b, work, a.latency, a.quick)
        print(f"bench-linux: {b.name} ({b.qemu}), latency {a.latency} us, "
              f"{'quick' if a.quick else 'full'}: round in {time.monotonic() - started:.1f} s")
        for f in figures:
            print(f"  {f.key:36} {f.value:12.2f} {f.unit}")


if __name__ == "__main__":
    main()
