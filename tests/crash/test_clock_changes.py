"""Wall-clock steps and suspend/resume through the real scheduler, on trio's MockClock.

The wall clock is a ``MockWallClock`` over trio's clock: ``jump`` steps it without moving trio's
(monotonic) clock, which is also exactly what a suspend looks like from the inside (monotonic
time stands still while the wall clock moves on). Jobs are real processes printing the instant
they were scheduled for (``$JOBD_SCHEDULED``); the sink records each line with the trio time it
arrived, so the tests see both the wall instants and the real (monotonic) pacing. A line arrives
after its run, later still on a busy machine (the mock clock may jump while a process runs),
so only lower bounds are put on arrival times; the instants themselves are exact.

What must hold (``_plan`` rule 5, ``_clock`` rule 4):
- step back 1 h: no instant runs twice in quick succession, and an every-second job goes on
  firing every second at the new wall times (not silent for an hour); a daily job does not repeat
  today's run; an hourly one keeps its pace (next run one real hour after the last);
- step forward 1 h, or a suspend of 1 h: one ``missed N runs`` entry per job, no burst.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from jobd_core._clock import MockWallClock, StepWatch
from jobd_core._model import Job, JobSettings
from jobd_core._plan import first_fire, plan_startup, rewind_watermark
from jobd_core._scheduler import Scheduler
from jobd_core.schedule import parse

T0 = datetime(2026, 1, 1, 12, 59, 50, 300000, tzinfo=UTC)
PRINT = 'echo "$JOBD_SCHEDULED"'
S = timedelta(seconds=1)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # autojump once idle for a few real ms: real processes run in between (see test_scheduler)
    return trio.testing.MockClock(autojump_threshold=0.03)


class RecordingSink:
    """A LogSink in memory: each entry's text with the trio time it arrived."""

    def __init__(self) -> None:
        self.entries: dict[int, list[tuple[float, str]]] = {}
        self._event = trio.Event()

    def append(self, job: Job, lines: list[str]) -> None:
        now = trio.current_time()
        for line in lines:
            text = line.split(" ", 3)[3].split(":", 1)[1]
            self.entries.setdefault(job.id, []).append((now, text))
        self._poke()

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()

    def job_changed(self, job: Job) -> None:
        self._poke()

    def _poke(self) -> None:
        self._event.set()
        self._event = trio.Event()

    def fired(self, job: Job) -> list[tuple[float, datetime]]:
        """(trio time, scheduled instant) of each run's output."""
        return [
            (t, datetime.fromisoformat(text))
            for t, text in self.entries.get(job.id, [])
            if text[:4].isdigit()
        ]

    def texts(self, job: Job) -> list[str]:
        return [text for _, text in self.entries.get(job.id, [])]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._event.wait()


_ids = iter(range(1, 10**6))


def job(expression: str, name: str) -> Job:
    return Job(
        id=next(_ids), name=name, command=PRINT,
        schedule=parse(expression, default_tz=UTC, now=T0), started=True,
        settings=JobSettings(), created_at=T0, last_fire=None,
    )  # fmt: skip


@asynccontextmanager
async def scheduler_with(
    *jobs: Job,
) -> AsyncIterator[tuple[RecordingSink, MockWallClock, Scheduler]]:
    sink = RecordingSink()
    wall = MockWallClock(T0)
    scheduler = Scheduler(sink, clock=wall, log_tz=UTC)
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        for j in jobs:
            scheduler.add(j)
        yield sink, wall, scheduler
        await scheduler.shutdown(1.0)
        nursery.cancel_scope.cancel()


async def run_until(wall: MockWallClock, when: datetime) -> None:
    await wall.sleep_until(when)


def assert_consecutive(
    sink: RecordingSink, j: Job, after: datetime, first: datetime, least: int
) -> None:
    """Every second from ``first`` on was handled once: run (its instant printed), or skipped or
    missed when a busy machine let the autojumping mock clock outrun a process (then logged as
    such); no instant twice, and at least ``least`` of them."""
    instants = [f[1] for f in sink.fired(j) if after < f[1] < after + 1800 * S]
    texts = sink.texts(j)
    excused = sum(t.startswith("skipped") for t in texts) + sum(
        int(t.split()[1]) for t in texts if t.startswith("missed 1 run") or
        (t.startswith("missed ") and t.split()[1].isdigit() and int(t.split()[1]) < 100)
    )  # fmt: skip
    assert instants == sorted(set(instants)), instants  # none twice, in order
    assert first <= instants[0] <= first + excused * S, (instants[:3], excused)
    handled = int((instants[-1] - first).total_seconds()) + 1
    assert handled - len(instants) <= excused, (instants, excused)
    assert handled >= least, instants


async def test_step_back_one_hour(clock: trio.testing.MockClock) -> None:
    every_second = job("* * * * * ? *", "every-second")
    hourly = job("0 * * * *", "hourly")
    daily = job("0 13 * * *", "daily")
    async with scheduler_with(every_second, hourly, daily) as (sink, wall, scheduler):
        await run_until(wall, T0 + 20 * S)  # 13:00:10.3: each job ran at 13:00
        assert [f[1].time().isoformat() for f in sink.fired(hourly)] == ["13:00:00"]
        wall.jump(timedelta(hours=-1))  # 12:00:10.3
        await trio.sleep(20)
        instants = [f[1] for f in sink.fired(every_second)]
        # it went on firing every second at the new wall times, from 12:00:11 (13:00:11 - 1 h,
        # 0.7 s after the step), and no instant of before the step ran twice
        first = T0 - 3600 * S + 20.7 * S
        assert_consecutive(sink, every_second, first - 2 * S, first, 10)
        assert len(set(instants)) == len(instants)
        assert len(set(instants)) == len(instants)
        every_second.started = False  # let the hour pass quickly
        scheduler.stop(every_second)
        wall_then = wall.now()
        await trio.sleep(3600)
        assert wall.now() - wall_then == timedelta(hours=1)
    hourly_runs = sink.fired(hourly)
    # the hourly job kept its pace: its next run came one real hour after the first
    assert [f[1].time().isoformat() for f in hourly_runs] == ["13:00:00", "13:00:00"]
    assert hourly_runs[1][0] >= 3600 + 9.7  # not sooner (arrival times only bound from below)
    # today's daily run did not repeat when the wall clock reached 13:00 again
    assert [f[1].isoformat() for f in sink.fired(daily)] == ["2026-01-01T13:00:00+00:00"]
    assert daily.runtime.next_run == datetime(2026, 1, 2, 13, 0, tzinfo=UTC)
    assert not any(t.startswith("missed") for j in (every_second, hourly, daily)
                   for t in sink.texts(j))  # fmt: skip


@pytest.mark.parametrize("how", ["jump", "suspend"])
async def test_step_forward_or_suspend_one_hour(clock: trio.testing.MockClock, how: str) -> None:
    every_second = job("* * * * * ? *", "every-second")
    hourly = job("0 * * * *", "hourly")
    daily = job("0 13 * * *", "daily")
    async with scheduler_with(every_second, hourly, daily) as (sink, wall, _):
        await run_until(wall, T0 + 12 * S)  # 13:00:02.3
        if how == "jump":
            wall.jump(timedelta(hours=1))  # an NTP step or a manual date change
        else:
            # suspend: let the loop fall asleep, then the machine sleeps an hour: trio's clock
            # (CLOCK_MONOTONIC) stands still while the wall clock moves on; then it resumes
            await trio.testing.wait_all_tasks_blocked()
            wall.jump(timedelta(hours=1))
        await trio.sleep(10)
    # no burst, no silence: from 14:00:03 (0.7 s after the step) on, one run per second
    assert_consecutive(sink, every_second, T0 + 3600 * S, T0 + 3612.7 * S, 5)
    assert max(f[1] for f in sink.fired(every_second)) <= T0 + 3622.7 * S
    for j, missed in ((every_second, "missed at least 100 runs"), (hourly, "missed 1 run")):
        entries = [t for t in sink.texts(j) if t.startswith(missed)]
        assert len(entries) == 1, sink.texts(j)
    # 14:00 was passed by the step: missed (counted above), not run late; the daily job waits
    assert [f[1].time().isoformat() for f in sink.fired(hourly)] == ["13:00:00"]
    assert hourly.runtime.next_run == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert [t for t in sink.texts(daily) if t.startswith("missed")] == []
    assert daily.runtime.next_run == datetime(2026, 1, 2, 13, 0, tzinfo=UTC)


async def test_small_step_back_repeats_nothing(clock: trio.testing.MockClock) -> None:
    # a step back shorter than the period (here 30 s, minute job) must not run 13:00 again
    minutely = job("0 * * * * ? *", "minutely")
    async with scheduler_with(minutely) as (sink, wall, _):
        await run_until(wall, T0 + 20 * S)  # 13:00:10.3
        wall.jump(timedelta(seconds=-30))  # 12:59:40.3
        await trio.sleep(150)
        with trio.fail_after(60):
            await sink.wait_for(lambda: len(sink.fired(minutely)) >= 3)
    runs = sink.fired(minutely)
    assert [f[1].time().isoformat() for f in runs] == ["13:00:00", "13:01:00", "13:02:00"]
    # the run after the step comes up to the step later in real time, never sooner (output
    # arrives after its run: only lower bounds on arrival times are safe on a busy machine)
    assert runs[1][0] >= 20 + 79.7 and runs[2][0] >= 20 + 139.7


def test_step_watch_tells_steps_from_time_passing() -> None:
    watch = StepWatch()
    ns = 10**9
    assert watch.observe(100.0, 1_000 * ns) == 0.0
    assert watch.observe(160.0, 1_060 * ns) == 0.0  # time passing
    assert watch.observe(220.0, 1_120 * ns + ns // 20) == 0.0  # NTP slew: within allowance
    assert watch.observe(221.0, 1_121 * ns - 3600 * ns) == pytest.approx(-3600, abs=0.1)
    assert watch.observe(221.0, 1_121 * ns) == pytest.approx(3600, abs=0.1)  # suspend-like


def test_rewind_watermark_keeps_the_pace() -> None:
    hourly = parse("0 * * * *", default_tz=UTC, now=T0)
    at13 = datetime(2026, 1, 1, 13, tzinfo=UTC)
    # 13:59 -> 12:59 (1 h back): the pending 14:00 becomes 13:00, one real hour after 13:00 ran
    now = datetime(2026, 1, 1, 12, 59, tzinfo=UTC)
    w = rewind_watermark(hourly, at13, at13 + 3600 * S, now, timedelta(hours=1))
    assert first_fire(hourly, now, w) == at13
    # 13:30 -> 13:00 (30 min back): 13:00 ran half an hour ago, it does not run again
    now = at13
    w = rewind_watermark(hourly, at13, at13 + 3600 * S, now, timedelta(minutes=30))
    assert first_fire(hourly, now, w) == at13 + 3600 * S
    # nothing handled ahead of the new now: the watermark is kept
    assert rewind_watermark(hourly, at13, None, at13 + 7200 * S, timedelta(minutes=1)) == at13
    # a restart with the clock (at least) 50 min behind the watermark: the same rule
    plan = plan_startup(hourly, at13, datetime(2026, 1, 1, 12, 10, tzinfo=UTC))
    assert plan.next_fire == at13 + 3600 * S and not plan.missed
    plan = plan_startup(hourly, at13, datetime(2026, 1, 1, 10, 10, tzinfo=UTC))
    assert plan.next_fire == datetime(2026, 1, 1, 12, tzinfo=UTC) and not plan.missed
