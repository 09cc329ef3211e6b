"""Per-job settings in effect: timeout, overlap allow/replace, jitter, retries, env, dir.

The scheduler runs on a ``MockClock`` that jumps ahead once the loop is idle for a few real
milliseconds (as in ``test_scheduler``), with real processes.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from sched_support import T0, MemorySink, group_members, make_job, running

from jobd_core._clock import MockWallClock
from jobd_core._scheduler import MAX_CONCURRENT, Scheduler

S = timedelta(seconds=1)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.03)


def make_scheduler(sink: MemorySink, rng: random.Random | None = None) -> Scheduler:
    return Scheduler(sink, clock=MockWallClock(T0), log_tz=UTC, rng=rng)


async def until_running(sink: MemorySink, job: object, count: int = 1) -> None:
    await sink.wait_for(lambda: len(job.runtime.running_pids) >= count)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("command", "result"),
    [("echo ready; sleep 100", "killed by SIGTERM"),
     ("trap '' TERM; echo ready; sleep 100 & sleep 100; wait", "killed by SIGKILL")],
)  # fmt: skip
async def test_timeout_kills_the_whole_group(
    clock: trio.testing.MockClock, command: str, result: str
) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job(command, timeout=2.0, kill_grace=1.0)
    async with running(scheduler):
        scheduler.add(job)
        clock.autojump_threshold = math.inf  # mock time stands still until the shell is ready
        started = trio.current_time()
        scheduler.run_now(job)
        await sink.wait_for(lambda: "ready" in sink.texts(job))
        clock.autojump_threshold = 0.03
        pid = job.runtime.running_pid
        assert pid is not None
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        assert 2.0 <= trio.current_time() - started < 5.0
        assert group_members(pid) == []  # background children too, no zombies
    assert sink.texts(job) == ["run requested", "ready", "timed out after 2s", result]
    assert job.runtime.last_result == "timed out after 2s"
    assert job.runtime.timeouts == 1 and scheduler.metrics.job_timeouts.value() == 1


async def test_a_run_within_its_timeout_is_not_touched(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job("echo quick", timeout=60.0)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        await trio.sleep(120)
    assert sink.texts(job) == ["run requested", "quick"]
    assert job.runtime.last_result == "exit 0" and job.runtime.timeouts == 0


async def test_overlap_allow_runs_side_by_side_up_to_a_bound(
    clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job("sleep 100", "* * * * * ? *", started=True, overlap="allow", kill_grace=1.0)
    async with running(scheduler):
        scheduler.add(job)
        await sink.wait_for(lambda: job.runtime.skipped >= 1)
        pids = job.runtime.running_pids
        assert len(pids) == MAX_CONCURRENT and job.runtime.run_count == MAX_CONCURRENT
        assert sink.texts(job)[-1] == f"skipped: {MAX_CONCURRENT} runs still going (at most " \
            f"{MAX_CONCURRENT} at once)"  # fmt: skip
        job.started = False
        scheduler.stop(job)
        assert await scheduler.kill(job) is True
        assert job.runtime.running_pids == () and job.runtime.running_pid is None
        assert all(group_members(pid) == [] for pid in pids)
    assert sink.texts(job).count("killed by SIGTERM") == MAX_CONCURRENT


async def test_overlap_replace_kills_the_old_run_first(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job(
        'trap "echo bye; exit 7" TERM; echo "hi $JOBD_ATTEMPT"; sleep 100 & wait',
        overlap="replace", kill_grace=1.0,
    )
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: "hi 1" in sink.texts(job))  # its trap is set
        first_pid = job.runtime.running_pid
        scheduler.run_now(job)
        await sink.wait_for(lambda: sink.texts(job).count("hi 1") == 2)
        assert len(job.runtime.running_pids) == 1 and job.runtime.running_pid != first_pid
        assert first_pid is not None and group_members(first_pid) == []
        await scheduler.kill(job)
    assert sink.texts(job) == [
        "run requested", "hi 1", "run requested", "replacing the previous run", "bye",
        "exit 7", "hi 1", "bye", "exit 7",
    ]  # fmt: skip
    assert job.runtime.skipped == 0 and job.runtime.run_count == 2


async def test_jitter_delays_scheduled_runs_and_lateness_excludes_it(
    clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink, rng=random.Random(7))
    delay = random.Random(7).uniform(0, 30)
    job = make_job('echo "$JOBD_SCHEDULED"', "0 * * * * ? *", started=True, jitter=30.0)
    clock.autojump_threshold = 0.5  # mock time must not run on while the shell starts
    async with running(scheduler):
        scheduler.add(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        job.started = False
        scheduler.stop(job)
        assert job.runtime.last_start is not None and job.runtime.last_lateness is not None
        due = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
        assert abs((job.runtime.last_start - due).total_seconds() - delay) < 2
        assert 0 <= job.runtime.last_lateness < 2  # measured from due + the delay drawn
        scheduler.run_now(job)  # a requested run is not delayed
        asked = trio.current_time()
        await sink.wait_for(lambda: job.runtime.run_count == 2)
        assert trio.current_time() - asked < 2
    assert "2026-01-01T12:01:00+00:00" in sink.texts(job)


async def test_stop_drops_a_run_waiting_for_its_jitter(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink, rng=random.Random(1))
    job = make_job("echo ran", "0 * * * * ? *", started=True, jitter=50.0)
    assert random.Random(1).uniform(0, 50) > 5
    async with running(scheduler):
        scheduler.add(job)
        await trio.sleep(61)  # 12:01:00 fired; its run waits for its jitter delay
        assert job.runtime.run_count == 0
        job.started = False
        scheduler.stop(job)
        await trio.sleep(1)
        assert await scheduler.kill(job) is False  # nothing going any more
        await trio.sleep(120)
    assert job.runtime.run_count == 0 and sink.texts(job) == []


async def test_retries_with_exponential_backoff(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job('echo "attempt $JOBD_ATTEMPT"; exit 3', retries=2, backoff=5.0)
    starts: list[float] = []
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        while len(starts) < 3:
            await sink.wait_for(lambda: job.runtime.run_count > len(starts))
            starts.append(trio.current_time())
        await sink.wait_for(lambda: job.runtime.running_pid is None)
        await trio.sleep(100)
    assert sink.texts(job) == [
        "run requested", "attempt 1", "exit 3", "retry 1 of 2 in 5s", "attempt 2", "exit 3",
        "retry 2 of 2 in 10s", "attempt 3", "exit 3",
    ]  # fmt: skip
    assert 5 <= starts[1] - starts[0] < 7 and 10 <= starts[2] - starts[1] < 12
    assert job.runtime.run_count == 3 and job.runtime.retried == 2


async def test_retry_stops_at_success_and_kill_cancels_a_pending_retry(
    clock: trio.testing.MockClock,
) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job('[ "$JOBD_ATTEMPT" = 2 ]', retries=5, backoff=1.0)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result == "exit 0")
        await trio.sleep(60)
        assert sink.texts(job) == ["run requested", "exit 1", "retry 1 of 5 in 1s"]
        job.command = "exit 1"
        job.settings = type(job.settings)(retries=5, backoff=60.0)
        scheduler.run_now(job)
        await sink.wait_for(lambda: sink.texts(job)[-1] == "retry 1 of 5 in 1m")
        assert job.runtime.running_pid is None
        assert await scheduler.kill(job) is True  # the run is still going: waiting to retry
        assert sink.texts(job)[-1] == "retry cancelled"
        await trio.sleep(300)
    assert job.runtime.run_count == 3


async def test_a_timed_out_attempt_is_retried(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job('[ "$JOBD_ATTEMPT" = 2 ] || sleep 100', timeout=1.0, retries=1, backoff=0.0)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result == "exit 0")
    assert sink.texts(job) == [
        "run requested", "timed out after 1s", "killed by SIGTERM", "retry 1 of 1 in 0s",
    ]


async def test_env_and_dir(clock: trio.testing.MockClock, tmp_path: Path) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job(
        'echo "[$GREETING] [$HOME_AWAY]"; pwd; echo "$JOBD_JOB $JOBD_ATTEMPT"',
        name="envjob", env=(("GREETING", "hello  world"), ("HOME_AWAY", "")),
        workdir=str(tmp_path),
    )
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert sink.texts(job) == ["run requested", "[hello  world] []", str(tmp_path), "envjob 1"]


async def test_a_missing_dir_fails_to_start_and_is_retried(
    clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    missing = tmp_path / "not-yet"
    job = make_job("pwd", workdir=str(missing), retries=1, backoff=10.0)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: len(sink.texts(job)) >= 3)
        missing.mkdir()  # there for the retry
        await sink.wait_for(lambda: job.runtime.last_result == "exit 0")
    assert sink.texts(job) == [
        "run requested", f"failed to start: dir {missing}: No such file or directory",
        "retry 1 of 1 in 10s", str(missing),
    ]  # fmt: skip
    assert scheduler.metrics.run_failures.value("start") == 1


async def test_kill_escalation_outlives_a_cancelled_caller(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    scheduler = make_scheduler(sink)
    job = make_job("trap '' TERM; echo ready; sleep 100", kill_grace=3.0)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: "ready" in sink.texts(job))  # SIGTERM is ignored from now
        pid = job.runtime.running_pid
        assert pid is not None
        with trio.move_on_after(0.1) as scope:
            await scheduler.kill(job)  # as a flushed 9P request: the caller gives up
        assert scope.cancelled_caught and group_members(pid)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        assert job.runtime.last_result == "killed by SIGKILL"  # escalated after the grace
        assert group_members(pid) == []
        assert await scheduler.kill(job) is False
