"""What the scheduler counts (runs, failures, skipped and missed fires, lateness) and ``/stats``
over a real core: read-only, one snapshot per open, true size, jobs by state."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families
from sched_support import T0, MemorySink, make_job, running

from jobd_core import AccessDenied, Core, CoreConfig, Metrics, OpenMode, open_core
from jobd_core._clock import MockWallClock
from jobd_core._scheduler import Scheduler

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def values(text: str) -> Values:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.03)


def scheduler_with_metrics(sink: MemorySink, start: datetime = T0) -> tuple[Scheduler, Metrics]:
    metrics = Metrics()
    return Scheduler(sink, clock=MockWallClock(start), log_tz=UTC, metrics=metrics), metrics


async def test_runs_failures_and_lateness_are_counted(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MemorySink()
    scheduler, metrics = scheduler_with_metrics(sink)
    good, bad, killed = make_job("exit 0"), make_job("exit 3"), make_job("kill -TERM $$")
    caplog.set_level(logging.INFO, logger="jobd_core")
    async with running(scheduler):
        for job in (good, bad, killed):
            scheduler.add(job)
            scheduler.run_now(job)
        await sink.wait_for(lambda: all(j.runtime.last_result for j in (good, bad, killed)))
    v = values(metrics.render())
    assert v[("jobd_runs_total", ())] == 3
    assert v[("jobd_run_failures_total", (("reason", "exit"),))] == 1
    assert v[("jobd_run_failures_total", (("reason", "signal"),))] == 1
    assert ("jobd_run_failures_total", (("reason", "internal"),)) not in v
    assert v[("jobd_fire_lateness_seconds_count", ())] == 3
    assert v[("jobd_fire_lateness_seconds_bucket", (("le", "+Inf"),))] == 3
    failed = [r for r in caplog.records if "run failed" in r.getMessage()]
    assert sorted(r.getMessage() for r in failed) == [
        f"job {bad.name} run failed: exit 3", f"job {killed.name} run failed: killed by SIGTERM",
    ]  # once each, with the reason; the good run logs nothing of the kind
    assert all(r.levelno == logging.WARNING and r.job in (bad.name, killed.name) for r in failed)  # type: ignore[attr-defined]


async def test_failure_to_start_is_counted(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    metrics = Metrics()
    scheduler = Scheduler(
        sink, clock=MockWallClock(T0), shell="/nonexistent/shell", log_tz=UTC, metrics=metrics
    )
    job = make_job("echo never")
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert metrics.run_failures.value("start") == 1
    assert metrics.runs.value() == 0


async def test_skipped_and_missed_fires_are_counted(clock: trio.testing.MockClock) -> None:
    sink = MemorySink()
    now = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    scheduler, metrics = scheduler_with_metrics(sink, now)
    late = make_job("echo ran", "0 * * * *", started=True,
                    last_fire=datetime(2026, 1, 1, 7, 0, tzinfo=UTC), now=now)  # fmt: skip
    busy = make_job("sleep 30", "* * * * * ? *", started=True, kill_grace=0.5, now=now)
    async with running(scheduler):
        scheduler.add(late)
        assert metrics.fires_missed.value() == 5
        scheduler.add(busy)
        await sink.wait_for(lambda: busy.runtime.skipped >= 3)
        assert metrics.fires_skipped.value() == busy.runtime.skipped
        await scheduler.kill(busy)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    async with open_core(CoreConfig(dbdir=tmp_path, shutdown_grace=1)) as opened:
        yield opened


async def _write(core: Core, path: list[str], data: bytes) -> None:
    node = core.namespace.root
    for name in path:
        node = node.lookup(name)
    handle = await node.open(OpenMode(read=False, write=True))
    await handle.write(0, data)
    await handle.close()


async def test_stats_file_shows_jobs_by_state_and_runs(core: Core) -> None:
    stats = core.namespace.root.lookup("stats")
    assert core.namespace.node(stats.id) is stats and stats.parent() is core.namespace.root
    assert core.metrics is core.namespace.metrics is core.scheduler.metrics
    await _write(core, ["clone"], b"a:0 0 1 1 *:exit 3")
    await _write(core, ["clone"], b"b:0 0 1 1 *:sleep 30")
    await _write(core, ["jobs", "b", "ctl"], b"start")
    await _write(core, ["jobs", "b", "ctl"], b"run")
    await _write(core, ["jobs", "a", "ctl"], b"run")
    with trio.fail_after(10):
        while core.metrics.run_failures.value("exit") < 1 or core.metrics.runs.value() < 2:
            await trio.sleep(0.02)
    data = await (await stats.open(OpenMode())).read(0, 1 << 20)
    v = values(data.decode())
    assert v[("jobd_jobs", (("state", "started"),))] == 1
    assert v[("jobd_jobs", (("state", "stopped"),))] == 1
    assert v[("jobd_jobs_running", ())] == 1
    assert v[("jobd_runs_total", ())] == 2
    assert v[("jobd_run_failures_total", (("reason", "exit"),))] == 1
    assert v[("jobd_job_timeouts_total", ())] == 0


async def test_stats_is_read_only_snapshotted_and_sized(core: Core) -> None:
    stats = core.namespace.root.lookup("stats")
    st = stats.stat()
    assert (st.mode, st.kind.value) == (0o444, "file")
    handle = await stats.open(OpenMode())
    first = await handle.read(0, 100)
    core.metrics.request_9p("Twalk")  # changes the content after the open
    rest = await handle.read(100, 1 << 20)
    assert b"Twalk" not in first + rest  # the handle reads its snapshot
    now = core.metrics.render().encode()
    assert b'jobd_9p_requests_total{type="Twalk"} 1.0' in now
    st2 = stats.stat()
    assert st2.size == len(now) and st2.version != st.version
    assert await (await stats.open(OpenMode())).read(0, 1 << 20) == now
    for mode in (OpenMode(read=False, write=True), OpenMode(truncate=True)):
        with pytest.raises(AccessDenied):
            await stats.open(mode)
    with pytest.raises(AccessDenied):
        await stats.truncate(0)
    with pytest.raises(AccessDenied):
        await (await stats.open(OpenMode())).write(0, b"x")


async def test_a_timeout_is_counted_and_logged_once(
    clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MemorySink()
    scheduler, metrics = scheduler_with_metrics(sink)
    job = make_job("sleep 30", timeout=1.0, kill_grace=0.5)
    caplog.set_level(logging.INFO, logger="jobd_core")
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
    assert metrics.job_timeouts.value() == 1
    assert metrics.run_failures.value("timeout") == 1
    assert metrics.run_failures.value("signal") == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [f"job {job.name} timed out after 1s"], warned


async def test_an_open_right_after_a_stat_reads_exactly_what_the_stat_measured(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = core.namespace.root.lookup("stats")
    size = stats.stat().size
    core.metrics.request_9p("Tlopen")  # the client's own open lands between its stat and read
    data = await (await stats.open(OpenMode())).read(0, 1 << 20)
    assert len(data) == size and b"Tlopen" not in data  # Linux reads up to the size it was told
    again = await (await stats.open(OpenMode())).read(0, 1 << 20)
    assert b'{type="Tlopen"} 1.0' in again  # without a stat just before: fresh
    monkeypatch.setattr("jobd_core._stats.STAT_REUSE", 0.0)
    stats.stat()
    core.metrics.request_9p("Tread")
    assert b"Tread" in await (await stats.open(OpenMode())).read(0, 1 << 20)  # a stale stat
