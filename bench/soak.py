"""The soak: many jobs firing every second for a long time while clients read and list.

``python3 bench/soak.py`` (defaults: 1,000 jobs, 10 minutes, 8 clients) starts a real ``jobd``
on a temporary dbdir, creates and starts the jobs over 9P, lets clients list ``jobs/`` and read
logs and status files in a loop, and samples the daemon every few seconds: RSS, open fds
(``/proc/PID/fd``), threads, zombie children (state Z), live children. It then stops every job,
counts each job's fires against the seconds it was started, and prints a table and a verdict.
Before jobd starts, the same run measures a reference: the command spawned the way jobd spawns it
by threads doing nothing else (``spawn_rate``); jobd's runs per second are reported against it.

Checks (``SoakReport.problems``; behaviour, not speed):
- fds and threads flat: after the warm-up, the per-window minimum does not grow (runs in flight
  hold pipes and threads for a moment, so a single sample says little; every sample is taken
  at the same phase of the second, when the second's runs are usually done);
- RSS flat: growth after the warm-up within ``rss_growth_kib``;
- no zombies: after the warm-up, no zombie child seen in two samples in a row (a child is
  reaped within a sample interval), none left after the stop;
- no fire missed beyond the overlap policy: for each job, runs + skipped + missed (as its status
  reports) equals the instants between its ``started`` and ``stopped`` log entries (+/- 1 at
  each edge); and the instants reported missed stay below ``missed_ratio`` of all.

The CI version is ``tests/soak/test_soak_short.py`` (200 jobs, 60 s, 2 clients), which loads this
file by path. Nothing here is imported by jobd.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import trio

from jobd_9p.client import Client
from jobd_9p.wire import Dialect

EVERY_SECOND = "0/1 * * * * ? *"
SAMPLE_PHASE = 0.8  # fraction of the wall second at which samples are taken


@dataclass(slots=True)
class Sample:
    """One look at the daemon."""

    t: float  # seconds since the jobs were started
    rss_kib: int
    fds: int
    threads: int
    zombies: int
    children: int
    zombie_pids: frozenset[int] = field(default_factory=frozenset)


@dataclass
class SoakReport:
    jobs: int
    seconds: float
    clients: int
    samples: list[Sample]
    client_ops: int
    expected_fires: int
    runs: int
    skipped: int
    missed: int
    unexplained: int  # sum over jobs of |expected - (runs + skipped + missed)| beyond the edges
    worst_job: str
    final: Sample | None
    problems: list[str]
    reference_rate: float = 0.0  # runs/s of a bare spawner of the same command (``spawn_rate``)

    def table(self) -> str:
        """The samples as a Markdown table, then the fire counts and the verdict."""
        rows = ["| t (s) | RSS (MiB) | fds | threads | zombies | children |",
                "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for s in self.samples + ([self.final] if self.final else []):
            rows.append(f"| {s.t:.0f} | {s.rss_kib / 1024:.1f} | {s.fds} | {s.threads} | "
                        f"{s.zombies} | {s.children} |")  # fmt: skip
        rows.append("")
        rows.append(
            f"{self.jobs} jobs x {self.seconds:.0f} s, {self.clients} clients ({self.client_ops} "
            f"requests): {self.expected_fires} instants, {self.runs} runs, {self.skipped} "
            f"skipped, {self.missed} missed, {self.unexplained} unexplained"
        )
        if self.reference_rate:
            rate = self.runs / max(self.seconds, 1e-9)
            rows.append(
                f"runs per second: {rate:.0f} of {self.jobs} due; a bare spawner of the same "
                f"command, measured in the same run: {self.reference_rate:.0f}/s (ratio "
                f"{rate / self.reference_rate:.2f})"
            )
        rows.append("verdict: " + ("ok" if not self.problems else "; ".join(self.problems)))
        return "\n".join(rows)


# -- the reference ---------------------------------------------------------------------------


def _bare_run(shell: str) -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        child = subprocess.Popen(
            [shell, "-c", "echo tick"], stdin=subprocess.DEVNULL, stdout=write_fd,
            stderr=write_fd, start_new_session=True, close_fds=True, env=dict(os.environ),
        )  # fmt: skip
    finally:
        os.close(write_fd)
    try:
        while os.read(read_fd, 4096):
            pass
    finally:
        os.close(read_fd)
    child.wait()


def spawn_rate(seconds: float = 5.0, threads: int = 8) -> float:
    """Runs per second of the soak's command started the way jobd starts it (own session, one
    pipe for stdout and stderr, close_fds, a copied environment) by ``threads`` threads doing
    nothing else: the machine's ceiling for the soak, measured side by side with it."""
    from concurrent.futures import ThreadPoolExecutor

    shell = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"
    deadline = time.monotonic() + seconds
    done = [0] * threads

    def worker(i: int) -> None:
        while time.monotonic() < deadline:
            _bare_run(shell)
            done[i] += 1

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return sum(done) / (time.monotonic() - start)


# -- the daemon ------------------------------------------------------------------------------


def _jobd_command() -> list[str]:
    script = shutil.which("jobd")
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from jobd_9p.cli import main; sys.exit(main())"]


def start_jobd(workdir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``jobd`` on 127.0.0.1 (a free port) with its dbdir under ``workdir``; (process, address).

    Raises:
        RuntimeError: it exited or did not announce its address within 30 s.
    """
    port_file = workdir / "jobd.port"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*_jobd_command(), "--dbdir", str(workdir / "db"), "--fsaddr", "127.0.0.1:0",
             "--port-file", str(port_file), "--shutdown-grace", "5"],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"jobd did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)  # a real process starting: polling its port file
    return proc, port_file.read_text().split()[0]


def sample(pid: int, t: float) -> Sample:
    """RSS, fds, threads of ``pid`` and the states of its children, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    zombies, children = set(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        state, ppid = stat.rpartition(")")[2].split()[:2]
        if int(ppid) == pid:
            children += 1
            if state == "Z":
                zombies.add(int(entry))
    return Sample(t, rss, fds, threads, len(zombies), children, frozenset(zombies))


# -- the clients -----------------------------------------------------------------------------


class Conn:
    """One attached 9P connection with whole-file helpers."""

    def __init__(self, client: Client, root: int) -> None:
        self.client = client
        self.root = root

    @classmethod
    async def open(cls, addr: str) -> Conn:
        client = await Client.connect(addr, dialect=Dialect.L)
        root, _ = await client.attach(uname="soak")
        return cls(client, root)

    async def read(self, path: str) -> bytes:
        fid, _ = await self.client.walk(self.root, path.split("/"))
        try:
            await self.client.open_for(fid, read=True)
            return await self.client.read_all(fid)
        finally:
            await self.client.clunk(fid)

    async def write(self, path: str, data: bytes) -> None:
        fid, _ = await self.client.walk(self.root, path.split("/"))
        try:
            await self.client.open_for(fid, read=False, write=True, truncate=True)
            await self.client.write(fid, 0, data)
        finally:
            await self.client.clunk(fid)

    async def list(self, path: str) -> list[str]:
        fid, _ = await self.client.walk(self.root, path.split("/"))
        try:
            await self.client.open_for(fid, read=True)
            return [e.name for e in await self.client.readdir_all(fid) if e.name not in (".", "..")]
        finally:
            await self.client.clunk(fid)


async def _each(names: list[str], parallel: int, action) -> None:  # type: ignore[no-untyped-def]
    """``await action(name)`` for every name, ``parallel`` at a time."""
    limiter = trio.CapacityLimiter(parallel)

    async def one(name: str) -> None:
        async with limiter:
            await action(name)

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(one, name)


async def _reader(conn: Conn, names: list[str], rng: random.Random, counter: list[int]) -> None:
    while True:
        listed = await conn.list("jobs")
        assert len(listed) >= len(names), f"listing lost jobs: {len(listed)}"
        name = rng.choice(names)
        await conn.read(f"jobs/{name}/log")
        await conn.read(f"jobs/{name}/status")
        counter[0] += 3


def _entry_time(line: str) -> datetime:
    """The instant of a log entry ``2026-01-01 12:00:00.123456789 +0000 UTC:text``."""
    date, clock, offset = line.split(" ", 3)[:3]
    whole, _, frac = clock.partition(".")
    return datetime.strptime(f"{date} {whole}.{frac[:6]:0<6} {offset}", "%Y-%m-%d %H:%M:%S.%f %z")


def _fires_of(log: str, status: str) -> tuple[int, int, int, int]:
    """(instants expected, runs, skipped, missed) of one job from its log and status."""
    lines = log.splitlines()
    started = next(_entry_time(x) for x in lines if x.endswith(":started"))
    stopped = next(_entry_time(x) for x in reversed(lines) if x.endswith(":stopped"))
    expected = int(stopped.timestamp()) - int(started.timestamp())
    fields = dict(line.split(": ", 1) for line in status.splitlines() if ": " in line)
    return expected, int(fields["runs"]), int(fields["skipped"]), int(fields["missed"])


# -- the soak --------------------------------------------------------------------------------


@dataclass
class SoakConfig:
    jobs: int = 1000
    seconds: float = 600.0
    clients: int = 8
    sample_every: float = 5.0
    warmup: float = 60.0
    rss_growth_kib: int = 64 * 1024
    fd_growth: int = 16
    thread_growth: int = 4
    missed_ratio: float = 0.01
    seed: int = 1
    reference_seconds: float = 5.0  # the bare spawner's measurement before jobd starts


async def _sampler(pid: int, t0: float, every: float, out: list[Sample]) -> None:
    while True:
        now = time.time()
        # the same phase of every second: the runs fired at its start are usually done by then
        wait = every - (now % 1.0) + SAMPLE_PHASE
        await trio.sleep(wait % every if wait > every else wait)
        out.append(sample(pid, time.monotonic() - t0))


async def run_soak(config: SoakConfig, workdir: Path) -> SoakReport:
    """Run one soak under ``workdir`` (see the module docstring).

    Raises:
        RuntimeError: jobd could not start.
    """
    reference = await trio.to_thread.run_sync(spawn_rate, config.reference_seconds)
    proc, addr = await trio.to_thread.run_sync(start_jobd, workdir, workdir / "jobd.log")
    try:
        report = await _drive(config, proc.pid, addr)
        report.reference_rate = reference
        return report
    finally:
        proc.terminate()
        await trio.to_thread.run_sync(proc.wait)


async def _drive(config: SoakConfig, pid: int, addr: str) -> SoakReport:
    rng = random.Random(config.seed)
    ctl = await Conn.open(addr)
    names = [f"soak{i:05d}" for i in range(config.jobs)]
    await _each(names, 32, lambda n: ctl.write("clone", f"{n}:{EVERY_SECOND}:echo tick".encode()))
    await _each(names, 32, lambda n: ctl.write(f"jobs/{n}/ctl", b"start"))
    t0 = time.monotonic()
    samples: list[Sample] = []
    counter = [0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sampler, pid, t0, config.sample_every, samples)
        for _ in range(config.clients):
            conn = await Conn.open(addr)
            nursery.start_soon(_reader, conn, names, random.Random(rng.random()), counter)
        await trio.sleep(config.seconds)
        nursery.cancel_scope.cancel()
    await _each(names, 32, lambda n: ctl.write(f"jobs/{n}/ctl", b"stop"))
    await trio.sleep(3)  # the last runs end and are reaped
    final = sample(pid, time.monotonic() - t0)
    totals = [0, 0, 0, 0]
    unexplained, worst, worst_gap = 0, "-", 0

    async def count(name: str) -> None:
        nonlocal unexplained, worst, worst_gap
        log = (await ctl.read(f"jobs/{name}/log")).decode()
        status = (await ctl.read(f"jobs/{name}/status")).decode()
        fires = _fires_of(log, status)
        for i, value in enumerate(fires):
            totals[i] += value
        gap = abs(fires[0] - sum(fires[1:]))
        unexplained += max(0, gap - 1)  # one instant may fall either side of start/stop
        if gap > worst_gap:
            worst, worst_gap = name, gap

    await _each(names, 16, count)
    await ctl.client.aclose()
    report = SoakReport(
        config.jobs, config.seconds, config.clients, samples, counter[0], totals[0], totals[1],
        totals[2], totals[3], unexplained, f"{worst} ({worst_gap})", final, [],
    )  # fmt: skip
    report.problems = judge(report, config)
    return report


def judge(report: SoakReport, config: SoakConfig) -> list[str]:
    """The checks of the module docstring; an empty list means the soak passed."""
    problems = []
    steady = [s for s in report.samples if s.t >= config.warmup]
    if len(steady) >= 4:
        half = len(steady) // 2
        first, last = steady[:half], steady[half:]
        for what, bound in (("fds", config.fd_growth), ("threads", config.thread_growth)):
            grew = min(getattr(s, what) for s in last) - min(getattr(s, what) for s in first)
            if grew > bound:
                problems.append(f"{what} grew by {grew} after the warm-up (bound {bound})")
        rss_grew = max(s.rss_kib for s in last) - max(s.rss_kib for s in first)
        if rss_grew > config.rss_growth_kib:
            problems.append(f"RSS grew by {rss_grew} KiB after the warm-up")
    else:
        problems.append(f"too few samples after the warm-up ({len(steady)})")
    for a, b in itertools.pairwise(steady):  # the start-up burst is warm-up too
        if a.zombie_pids & b.zombie_pids:
            problems.append(f"zombie children persisted: {sorted(a.zombie_pids & b.zombie_pids)}")
            break
    if report.final is not None and (report.final.zombies or report.final.children):
        problems.append(f"after stopping: {report.final.zombies} zombies, "
                        f"{report.final.children} children")  # fmt: skip
    if report.unexplained:
        problems.append(f"{report.unexplained} fires unexplained (worst job {report.worst_job})")
    if report.missed > config.missed_ratio * max(1, report.expected_fires):
        problems.append(f"{report.missed} of {report.expected_fires} instants missed")
    return problems


def _markdown(report: SoakReport, args: argparse.Namespace) -> str:
    load = os.getloadavg()
    return (
        "# Soak figures (`nox -s soak`, last run)\n\n"
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}; load average at the end {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (the soak's own). `python3 bench/soak.py --jobs {args.jobs} --seconds "
        f"{args.seconds:g} --clients {args.clients}`: every job `echo tick` at `{EVERY_SECOND}`, "
        "overlap skip (the default).\n\n" + report.table() + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    """``python3 bench/soak.py [--jobs N] [--seconds S] [--clients K] [--json FILE]``: exit 0 when
    the checks pass."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--sample-every", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=None, help="default: a tenth, at most 60 s")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument("--markdown", type=Path, help="also write the table here, with the machine")
    args = p.parse_args(argv)
    config = SoakConfig(
        jobs=args.jobs, seconds=args.seconds, clients=args.clients,
        sample_every=args.sample_every,
        warmup=args.warmup if args.warmup is not None else min(60.0, args.seconds / 10),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="jobd-soak-") as tmp:
        report = trio.run(run_soak, config, Path(tmp))
    print(report.table())
    if args.markdown:
        args.markdown.write_text(_markdown(report, args))
    if args.json:
        data = asdict(report)
        for s in data["samples"] + ([data["final"]] if data["final"] else []):
            s["zombie_pids"] = sorted(s["zombie_pids"])
        args.json.write_text(json.dumps(data, indent=1))
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
