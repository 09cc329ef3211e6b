"""SIGKILL ``jobd`` at random moments during a mixed load, restart it, and check what survived.

Four clients create, edit, start, stop, delete and read the logs of their own jobs (several fire
every second) while the test kills jobd at a random moment, ``KILL9_CYCLES`` times (default and
CI: 200, about 1.3 s each; ``JOBD_KILL9_CYCLES=1000`` for a long run). After each kill:

- ``PRAGMA integrity_check`` on the database file says ``ok`` (the sqlite3 tool, before restart);
- every acknowledged operation is there, an operation in flight at the kill either landed or not,
  and nothing else exists (see ``kill9_ledger``);
- every job directory has its five files, and its cmd, schedule and state are as acknowledged;
- every acknowledged log line (one a client had read) is still there, in order, once.
"""

from __future__ import annotations

import os
import random
from collections.abc import Awaitable
from pathlib import Path

import pytest
import trio
from _jobd_process import JobdProcess
from crash_support import EVERY_SECOND, Session, integrity_check, log_lines, session
from kill9_ledger import JobState, Ledger

from jobd_9p.client import ConnectionClosed

KILL9_CYCLES = int(os.environ.get("JOBD_KILL9_CYCLES", "200"))
WORKERS = 4
MAX_LIVE = 6  # jobs per worker
SCHEDULES = (EVERY_SECOND, EVERY_SECOND, "0/2 * * * * ? *", "@daily")
JOB_FILES = {"ctl", "cmd", "schedule", "log", "status"}

pytestmark = pytest.mark.timeout(60 + 3 * KILL9_CYCLES)


class Worker:
    """One client's stream of operations on its own jobs (``w{k}-{n}``), recorded in the ledger."""

    def __init__(self, k: int, ledger: Ledger, rng: random.Random) -> None:
        self.prefix = f"w{k}-"
        self.ledger = ledger
        self.rng = rng
        self.created = 0
        self.ops = 0

    async def run(self, s: Session) -> None:
        while True:
            await self.step(s)
            self.ops += 1

    async def step(self, s: Session) -> None:
        live = self.ledger.live(self.prefix)
        roll = self.rng.random()
        if not live or (roll < 0.2 and len(live) < MAX_LIVE):
            await self.create(s)
            return
        name = self.rng.choice(live)
        state = self.ledger.jobs[name].certain
        assert state is not None
        if roll < 0.3:
            command = f"echo {name} {self.rng.randrange(10**6)}"
            new = JobState(command, state.schedule, state.started)
            await self.apply(name, new, s.write(f"jobs/{name}/cmd", new.command.encode()))
        elif roll < 0.4:
            new = JobState(state.command, self.rng.choice(SCHEDULES), state.started)
            await self.apply(name, new, s.write(f"jobs/{name}/schedule", new.schedule.encode()))
        elif roll < 0.6:
            started = not state.started
            new = JobState(state.command, state.schedule, started)
            verb = b"start\n" if started else b"stop\n"
            await self.apply(name, new, s.write(f"jobs/{name}/ctl", verb))
        elif roll < 0.67:
            await self.apply(name, None, s.write(f"jobs/{name}/ctl", b"delete"))
        else:
            self.ledger.read_log(name, log_lines(await s.read(f"jobs/{name}/log")))

    async def create(self, s: Session) -> None:
        name = f"{self.prefix}{self.created}"
        self.created += 1
        new = JobState(f"echo {name}", self.rng.choice(SCHEDULES), False)
        message = f"{name}:{new.schedule}:{new.command}".encode()
        await self.apply(name, new, s.write("clone", message))

    async def apply(self, name: str, after: JobState | None, request: Awaitable[None]) -> None:
        self.ledger.begin(name, after)
        await request
        self.ledger.ack(name, after)


async def observe(s: Session, name: str) -> JobState:
    files = set(await s.names(f"jobs/{name}"))
    assert files == JOB_FILES, f"{name}: half-made job directory: {sorted(files)}"
    command = (await s.read(f"jobs/{name}/cmd")).decode().removesuffix("\n")
    schedule = (await s.read(f"jobs/{name}/schedule")).decode().split("\n", 1)[0]
    ctl = (await s.read(f"jobs/{name}/ctl")).decode().strip()
    return JobState(command, schedule, ctl == "started")


async def check(s: Session, ledger: Ledger) -> None:
    """Everything acknowledged is there; resolve what was in flight (see the module docstring)."""
    present = set(await s.names())
    for name in present - set(ledger.jobs):
        ledger.observe(name, None)  # raises: a job nobody created
    for name, entry in ledger.jobs.items():
        if name not in present:
            ledger.observe(name, None)
            continue
        ledger.observe(name, await observe(s, name))
        if entry.possible[0] is not None:
            ledger.check_log(name, log_lines(await s.read(f"jobs/{name}/log")))


async def load_until_killed(
    jobd: JobdProcess, addr: str, workers: list[Worker], seconds: float
) -> None:
    """Run every worker on its own connection; SIGKILL jobd after ``seconds``."""
    async with trio.open_nursery() as nursery:
        for worker in workers:
            nursery.start_soon(_work, addr, worker)
        await trio.sleep(seconds)
        await trio.to_thread.run_sync(jobd.kill9)
        with trio.move_on_after(10) as waiting:
            await trio.testing.wait_all_tasks_blocked(0.2)
        assert not waiting.cancelled_caught
        nursery.cancel_scope.cancel()


async def _work(addr: str, worker: Worker) -> None:
    try:
        async with session(addr) as s:
            await worker.run(s)
    except ConnectionClosed:
        return  # the kill: the operation in flight stays in doubt in the ledger


async def test_kill9_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = int(os.environ.get("JOBD_KILL9_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    ledger = Ledger()
    workers = [Worker(k, ledger, random.Random(rng.random())) for k in range(WORKERS)]
    jobd = JobdProcess(tmp_path / "db", tmp_path / "jobd.log")
    db = tmp_path / "db" / "jobd.sqlite3"
    try:
        for _cycle in range(KILL9_CYCLES):
            addr = await trio.to_thread.run_sync(jobd.start)
            async with session(addr) as s:
                await check(s, ledger)
            # mostly short runs (kills mid-request), sometimes long enough for jobs to fire
            seconds = rng.uniform(0.05, 0.5) if rng.random() < 0.7 else rng.uniform(1.0, 2.5)
            await load_until_killed(jobd, addr, workers, seconds)
            assert integrity_check(db) == ["ok"], f"seed {seed}"
        addr = await trio.to_thread.run_sync(jobd.start)
        async with session(addr) as s:
            await check(s, ledger)
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
    finally:
        await trio.to_thread.run_sync(jobd.kill9)
    ops = sum(w.ops for w in workers)
    print(f"\nkill -9 x{KILL9_CYCLES}: {ops} operations, {ledger.acked} acknowledged, "
          f"{ledger.in_doubt} in flight at a kill, {ledger.lines_checked} acknowledged log lines "
          f"re-checked, {len(ledger.jobs)} jobs made (seed {seed})")  # fmt: skip
    assert ledger.acked > 10 * KILL9_CYCLES
    assert ledger.lines_checked > 0
    assert "Traceback" not in jobd.log_text()
