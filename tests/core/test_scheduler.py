"""The scheduler on a mock clock with real processes: firing, env, overlap, stop/start, run, kill,
missed runs after downtime, clock jumps.

The trio clock is a ``MockClock`` that jumps ahead once the loop has been idle for a few real
milliseconds (``autojump_threshold=0`` would race the mock clock past real processes while they
run); wall time is a ``MockWallClock`` on top of it, so scheduled minutes and hours pass at once.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing
from sched_support import T0, MemorySink, group_members, make_job, running

from jobd_core._clock import MockWallClock
from jobd_core._scheduler import Scheduler

S = timedelta(seconds=1)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.03)


def make_scheduler(sink: MemorySink, start: datetime = T0) -> tuple[Scheduler, MockWallClock]:
    wall = MockWallClock(start)
    return Scheduler(sink, clock=wall, log_tz=UTC), wall


async def test_fires_on_schedule_with_env_and_merged_output(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, wall = make_scheduler(sink)
    job = make_job(
        'echo "$JOBD_JOB $JOBD_SCHEDULED"; echo to-stderr >&2; read x; echo "stdin:$?"',
        "0 * * * *",
        name="hello",
    )
    async with running(scheduler):
        # mock time is moved by hand to the fire and then stands still while the real process
        # starts (an autojump meanwhile would show as lateness)
        clock.autojump_threshold = math.inf
        scheduler.add(job)
        job.started = True
        scheduler.start(job)
        assert job.runtime.next_run == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
        clock.jump((job.runtime.next_run - wall.now()).total_seconds())
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        assert sink.texts(job) == ["hello 2026-01-01T13:00:00+00:00", "to-stderr", "stdin:1"]
        rt = job.runtime
        assert rt.last_result == "exit 0" and rt.run_count == 1 and rt.running_pid is None
        assert rt.last_start is not None and rt.last_lateness is not None
        assert 0 <= rt.last_lateness < 5
        assert job.last_fire == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
        assert rt.next_run is not None and rt.next_run > job.last_fire
        assert sink.lines[job.id][0].startswith("2026-01-01 13:00:0")
        assert sink.lines[job.id][0].endswith(" +0000 UTC:hello 2026-01-01T13:00:00+00:00")


async def test_stop_cancels_future_runs_and_start_resumes(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, wall = make_scheduler(sink)
    job = make_job("echo tick", "0/5 * * * * ? *", started=True)
    async with running(scheduler):
        scheduler.add(job)
        await sink.wait_for(lambda: job.runtime.run_count >= 2 and job.runtime.running_pid is None)
        job.started = False
        scheduler.stop(job)
        assert job.runtime.next_run is None
        runs = job.runtime.run_count
        await trio.sleep(60)
        assert job.runtime.run_count == runs
        job.started = True
        scheduler.start(job)
        assert job.runtime.next_run is not None and job.runtime.next_run > wall.now()
        await sink.wait_for(lambda: job.runtime.run_count > runs)


async def test_overlap_is_skipped_and_stop_does_not_kill(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    job = make_job("echo begin; sleep 30", "* * * * * ? *", started=True, kill_grace=1.0)
    async with running(scheduler):
        scheduler.add(job)
        await sink.wait_for(lambda: job.runtime.skipped >= 3)
        assert job.runtime.run_count == 1
        assert sink.texts(job).count("skipped: previous run still going") == job.runtime.skipped
        pid = job.runtime.running_pid
        assert pid is not None
        job.started = False
        scheduler.stop(job)  # synchronous: never blocks
        await trio.sleep(5)
        assert job.runtime.running_pid == pid and group_members(pid)  # still running
        assert await scheduler.kill(job) is True
        assert job.runtime.last_result == "killed by SIGTERM"
        assert sink.texts(job)[-1] == "killed by SIGTERM"
        assert group_members(pid) == []
        assert await scheduler.kill(job) is False


async def test_run_now_and_run_while_running(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    job = make_job('echo "now $JOBD_SCHEDULED"; sleep 30')
    async with running(scheduler):
        scheduler.add(job)
        assert job.runtime.next_run is None
        scheduler.run_now(job)
        await sink.wait_for(lambda: len(sink.texts(job)) >= 2)
        assert sink.texts(job)[0] == "run requested"
        assert sink.texts(job)[1] == f"now {T0.isoformat()}"
        scheduler.run_now(job)
        assert sink.texts(job)[2:] == ["run requested", "skipped: previous run still going"]
        assert job.runtime.skipped == 1
        assert await scheduler.kill(job)


@pytest.mark.parametrize(
    ("command", "result", "logged"),
    [
        ("exit 0", "exit 0", None),
        ("exit 3", "exit 3", "exit 3"),
        ("kill -USR1 $$", "killed by SIGUSR1", "killed by SIGUSR1"),
        ("kill -9 $$", "killed by SIGKILL", "killed by SIGKILL"),
    ],
)
async def test_exit_status_and_signals(
    clock: trio.testing.MockClock, command: str, result: str, logged: str | None
) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    job = make_job(command)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert job.runtime.last_result == result
    assert sink.texts(job) == ["run requested"] + ([logged] if logged else [])


async def test_failure_to_start_is_logged(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=MockWallClock(T0), shell="/nonexistent/shell", log_tz=UTC)
    job = make_job("echo never")
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert job.runtime.last_result == "failed to start"
    texts = sink.texts(job)
    assert texts[0] == "run requested"
    assert texts[1].startswith("failed to start: ") and "/nonexistent/shell" in texts[1]
    assert job.runtime.run_count == 0 and job.runtime.running_pid is None


async def test_output_cap_on_endless_output(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    job = make_job("yes", output_limit=1000)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: "output truncated after 1000 bytes" in sink.texts(job))
        await trio.sleep(0.2)  # keeps draining; nothing more is logged
        texts = sink.texts(job)
        assert texts == ["run requested", *["y"] * 500, "output truncated after 1000 bytes"]
        assert await scheduler.kill(job)
    assert sink.texts(job)[-1] == "killed by SIGTERM"


async def test_missed_runs_after_downtime_catchup_off(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    now = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    scheduler, _wall = make_scheduler(sink, now)
    job = make_job(
        "echo ran",
        "0 * * * *",
        started=True,
        last_fire=datetime(2026, 1, 1, 7, 0, tzinfo=UTC),
        now=now,
    )
    async with running(scheduler):
        scheduler.add(job)
        assert sink.texts(job) == ["missed 5 runs while jobd was down"]
        assert job.runtime.missed == 5
        assert job.runtime.next_run == datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
        assert job.last_fire == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        await trio.sleep(10)
        assert job.runtime.run_count == 0


async def test_missed_runs_after_downtime_catchup_latest(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    now = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    scheduler, _wall = make_scheduler(sink, now)
    job = make_job(
        'echo "ran $JOBD_SCHEDULED"',
        "0 * * * *",
        started=True,
        catchup="latest",
        last_fire=datetime(2026, 1, 1, 7, 0, tzinfo=UTC),
        now=now,
    )
    scheduler.add(job)  # before run(): the catch-up run starts with the loop
    async with running(scheduler):
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert sink.texts(job) == [
        "missed 4 runs while jobd was down",
        "ran 2026-01-01T12:00:00+00:00",
    ]
    assert job.runtime.missed == 4 and job.runtime.run_count == 1
    assert job.runtime.last_lateness is not None and job.runtime.last_lateness >= 1800


async def test_every_second_job_down_for_a_year_does_not_hang(
    clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink()
    now = datetime(2027, 1, 1, 12, 30, 0, 500000, tzinfo=UTC)
    scheduler, _wall = make_scheduler(sink, now)
    job = make_job("true", "* * * * * ? *", started=True, last_fire=T0, now=now)
    with trio.fail_after(1):  # mock seconds: add() itself takes no trio time at all
        scheduler.add(job)
    assert sink.texts(job) == ["missed at least 100 runs while jobd was down"]
    assert job.runtime.next_run == datetime(2027, 1, 1, 12, 30, 1, tzinfo=UTC)


async def test_clock_jump_forward_counts_misses_once(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, wall = make_scheduler(sink)
    job = make_job('echo "$JOBD_SCHEDULED"', "0 * * * * ? *", started=True)  # every minute
    async with running(scheduler):
        # Mock time stands still while the first run's real shell works (an autojump to 12:02
        # meanwhile would make it overlap the next fire); it is moved by hand to the first fire.
        clock.autojump_threshold = math.inf
        scheduler.add(job)
        await trio.sleep(0)
        assert job.runtime.next_run == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
        clock.jump((job.runtime.next_run - wall.now()).total_seconds())
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        assert sink.texts(job) == ["2026-01-01T12:01:00+00:00"]
        clock.autojump_threshold = 0.03
        wall.jump(timedelta(hours=1))  # the loop is asleep until 12:02 wall time
        await sink.wait_for(lambda: job.runtime.run_count >= 2 and job.runtime.running_pid is None)
        await trio.sleep(1)
    texts = sink.texts(job)
    assert texts[1].startswith("missed 60 runs (jobd was ")
    assert texts[2] == "2026-01-01T13:02:00+00:00"
    assert job.runtime.missed == 60 and job.runtime.run_count == 2


async def test_clock_jump_back_never_repeats_an_instant(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, wall = make_scheduler(sink)
    job = make_job('echo "$JOBD_SCHEDULED"', "0 * * * * ? *", started=True)
    async with running(scheduler):
        scheduler.add(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        wall.jump(timedelta(minutes=-30))
        # stop and start again while the clock is behind: still nothing before 12:01 repeats
        job.started = False
        scheduler.stop(job)
        job.started = True
        scheduler.start(job)
        assert job.runtime.next_run == datetime(2026, 1, 1, 12, 2, tzinfo=UTC)
        await sink.wait_for(lambda: job.runtime.run_count >= 2 and job.runtime.running_pid is None)
    # once the loop notices the step (within a minute), the job's timeline steps back with the
    # clock (_plan rule 5): it keeps firing every minute at the new wall times, not silent
    # until 12:02, and 12:01 does not run again
    fired = sink.texts(job)
    assert fired[0] == "2026-01-01T12:01:00+00:00"
    assert fired[1] in ("2026-01-01T11:32:00+00:00", "2026-01-01T11:33:00+00:00")


async def test_reschedule_and_remove(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    job = make_job("sleep 30", "0 0 * * *", started=True)
    async with running(scheduler):
        scheduler.add(job)
        assert job.runtime.next_run == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
        job.schedule = make_job("x", "0/10 * * * * ? *").schedule
        scheduler.reschedule(job)
        assert job.runtime.next_run == datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
        await sink.wait_for(lambda: job.runtime.running_pid is not None)
        pid = job.runtime.running_pid
        assert pid is not None
        job.deleted = True
        await scheduler.remove(job)
        assert group_members(pid) == []
        assert job.runtime.last_result == "killed by SIGTERM"
        runs = job.runtime.run_count
        await trio.sleep(60)
        assert job.runtime.run_count == runs


async def test_shutdown_kills_what_outlives_the_grace(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    slow = make_job("sleep 30")
    async with trio.open_nursery() as nursery:
        await nursery.start(scheduler.run)
        scheduler.add(slow)
        scheduler.run_now(slow)
        await sink.wait_for(lambda: slow.runtime.running_pid is not None)
        pid = slow.runtime.running_pid
        assert pid is not None
        await scheduler.shutdown(2.0)
        assert slow.runtime.last_result is not None
        assert slow.runtime.last_result.startswith("killed by SIG")
        assert group_members(pid) == []
        scheduler.run_now(slow)  # after shutdown nothing starts
    assert slow.runtime.run_count == 1


async def test_add_many_yields_and_schedules_everything(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    jobs = [make_job("true", "0 0 * * *", started=True) for _ in range(640)]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with running(scheduler), trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await scheduler.add_many(jobs)
        nursery.cancel_scope.cancel()
    assert ticks >= 8  # the loop ran other tasks in between (10 yields)
    assert all(j.runtime.next_run == datetime(2026, 1, 2, tzinfo=UTC) for j in jobs)


async def test_long_sleep_notices_a_jump_within_a_minute(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler, wall = make_scheduler(sink)
    job = make_job("echo ran", "0 * * * *", started=True)  # hourly: asleep until 13:00
    async with running(scheduler):
        scheduler.add(job)
        await trio.sleep(10)
        jumped_at = trio.current_time()
        wall.jump(timedelta(hours=5))  # now 17:00:10.3; 13:00 .. 17:00 were never reached
        await sink.wait_for(lambda: job.runtime.missed > 0)
        assert trio.current_time() - jumped_at <= 60
    assert sink.texts(job)[0].startswith("missed 5 runs (jobd was ")
    assert job.runtime.run_count == 0  # 17:00 was over a minute old when noticed: no burst
    assert job.runtime.next_run == datetime(2026, 1, 1, 18, 0, tzinfo=UTC)


class _BrokenAfterFirst:
    """A schedule whose engine fails once a fire is handled (stands in for an engine bug)."""

    def __init__(self, first: datetime) -> None:
        self.first = first

    def next_after(self, start: datetime) -> datetime | None:
        return self.first if start < self.first else None

    def iter_after(self, start: datetime):  # type: ignore[no-untyped-def]
        raise RuntimeError("engine bug")


@pytest.mark.allow_error_logs
async def test_one_broken_job_does_not_stop_the_others(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MemorySink()
    scheduler, _wall = make_scheduler(sink)
    broken = make_job("echo broken", started=True)
    broken.schedule = _BrokenAfterFirst(T0 + 10 * S)  # type: ignore[assignment]
    good = make_job("echo good", "0/30 * * * * ? *", started=True)
    async with running(scheduler):
        scheduler.add(broken)
        scheduler.add(good)
        await sink.wait_for(lambda: good.runtime.run_count >= 2)
    assert broken.runtime.next_run is None and broken.runtime.run_count == 0
    assert any("cannot handle its fire" in r.getMessage() for r in caplog.records)
