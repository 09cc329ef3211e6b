"""Shared helpers for the scheduler and runner tests: an in-memory LogSink and job factory.

``MemorySink`` is a real peer of the scheduler (it implements the LogSink protocol in memory), not a
mock: tests read back what the scheduler wrote, parsed with the log line format.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import trio

from jobd_core._model import Job, JobSettings
from jobd_core._scheduler import Scheduler
from jobd_core.schedule import parse

T0 = datetime(2026, 1, 1, 12, 0, 0, 300000, tzinfo=UTC)


def entry_text(line: str) -> str:
    """The text of a formatted entry: after ``date time offset zone:``."""
    return line.split(" ", 3)[3].split(":", 1)[1]


class MemorySink:
    """LogSink in memory: every appended line, per job id, in order."""

    def __init__(self) -> None:
        self.lines: dict[int, list[str]] = {}
        self.changes = 0
        self._event = trio.Event()

    def append(self, job: Job, lines: list[str]) -> None:
        self.lines.setdefault(job.id, []).extend(lines)
        self._poke()

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()

    def job_changed(self, job: Job) -> None:
        self.changes += 1
        self._poke()

    def _poke(self) -> None:
        self._event.set()
        self._event = trio.Event()

    def texts(self, job: Job) -> list[str]:
        return [entry_text(line) for line in self.lines.get(job.id, [])]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate()`` holds, re-checked on every append or runtime change."""
        while not predicate():
            await self._event.wait()


_ids = iter(range(1, 10**9))


def make_job(
    command: str,
    expression: str = "0 0 1 1 * ? 2099",
    *,
    started: bool = False,
    name: str | None = None,
    last_fire: datetime | None = None,
    now: datetime = T0,
    **settings: object,
) -> Job:
    """A real ``Job`` with a schedule parsed in UTC (default: one far-future instant)."""
    job_id = next(_ids)
    return Job(
        id=job_id,
        name=name or f"job{job_id}",
        command=command,
        schedule=parse(expression, default_tz=UTC, now=now),
        started=started,
        settings=JobSettings(**settings),  # type: ignore[arg-type]
        created_at=now,
        last_fire=last_fire,
    )


@asynccontextmanager
async def running(scheduler: Scheduler, grace: float = 5.0) -> AsyncIterator[Scheduler]:
    """Run ``scheduler`` in a nursery for the block; shut it down after."""
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        try:
            yield scheduler
        finally:
            with trio.CancelScope(shield=True):
                await scheduler.shutdown(grace)
            nursery.cancel_scope.cancel()


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process in group ``pgid``, zombies included (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:
            found.append((int(name), fields[0]))
    return found
