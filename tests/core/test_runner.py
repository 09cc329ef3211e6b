"""One run of a job on the real clock: output splitting and capping, process groups, kill with a
grace period, background children (no survivors, no zombies), and the loop staying responsive."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC

import pytest
import trio
from sched_support import T0, MemorySink, group_members, make_job, running

from jobd_core._clock import SystemClock
from jobd_core._runner import (
    OutputLines,
    RunSpec,
    Spawner,
    default_shell,
    describe_returncode,
    supervise,
)
from jobd_core._scheduler import Scheduler


def test_lines_split_partial_and_final() -> None:
    lines = OutputLines(limit=1000)
    assert lines.feed(b"a\nb") == ["a"]
    assert lines.feed(b"c\n\nd") == ["bc", ""]
    assert lines.finish() == ["d"]
    assert lines.finish() == []


def test_long_lines_split_on_utf8_boundaries() -> None:
    lines = OutputLines(limit=100_000, max_line=10)
    assert lines.feed(b"x" * 25 + b"\n") == ["x" * 10, "x" * 10, "x" * 5]
    # a 2-byte character straddling the split point moves to the next piece
    assert lines.feed(("y" * 9 + "é" + "z\n").encode()) == ["y" * 9, "éz"]
    assert lines.feed(b"q" * 23) == ["q" * 10, "q" * 10]
    assert lines.finish() == ["qqq"]


def test_cap_keeps_limit_bytes_then_one_notice() -> None:
    lines = OutputLines(limit=10)
    assert lines.feed(b"1234\n567") == ["1234"]
    assert lines.feed(b"89\nabcdef\n") == ["56789", "output truncated after 10 bytes"]
    assert lines.truncated
    assert lines.feed(b"more\n") == []
    assert lines.finish() == []


def test_invalid_utf8_is_replaced() -> None:
    assert OutputLines(limit=100).feed(b"\xff\xfeok\n") == ["\ufffd\ufffdok"]


def test_describe_returncode() -> None:
    assert describe_returncode(0) == "exit 0"
    assert describe_returncode(3) == "exit 3"
    assert describe_returncode(-signal.SIGTERM) == "killed by SIGTERM"
    assert describe_returncode(-signal.SIGKILL) == "killed by SIGKILL"


async def _run(command: str, limit: int = 65536) -> tuple[int, list[str], int]:
    spawner = Spawner()
    texts: list[str] = []
    process = await spawner.spawn(RunSpec("r", command, T0, default_shell()))
    code = await supervise(process, OutputLines(limit), texts.extend)
    return code, texts, process.pid


async def test_own_session_group_stdin_and_closed_fds() -> None:
    keep_r, keep_w = os.pipe()
    os.set_inheritable(keep_w, True)
    try:
        code, texts, pid = await _run(
            "ps -o pgid= -o sid= -p $$; cat; echo cat:$?; "
            'echo "$JOBD_JOB|$JOBD_SCHEDULED|${HOME:+home}"; '
            "for f in /proc/$$/fd/*; do readlink $f; done; exit 0"
        )
        inherited = os.readlink(f"/proc/self/fd/{keep_w}")
    finally:
        os.close(keep_r)
        os.close(keep_w)
    assert code == 0
    assert texts[0].split() == [str(pid), str(pid)]  # group and session leader
    assert texts[1] == "cat:0"  # stdin is /dev/null: immediate EOF
    assert texts[2] == "r|2026-01-01T12:00:00.300000+00:00|home"
    assert inherited.startswith("pipe:") and inherited not in texts[3:]  # close_fds
    assert texts[3] == "/dev/null"  # fd 0


async def test_missing_trailing_newline_and_exit_code() -> None:
    code, texts, _pid = await _run("printf 'one\\ntwo'; exit 7")
    assert (code, texts) == (7, ["one", "two"])


async def test_background_child_holding_the_pipe_does_not_hold_the_run() -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=SystemClock(), log_tz=UTC, linger=0.2)
    job = make_job("echo parent; (sleep 3; echo late) & exit 0")
    async with running(scheduler):
        scheduler.add(job)
        started = time.monotonic()
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        assert time.monotonic() - started < 2
        assert job.runtime.last_result == "exit 0"
        assert sink.texts(job) == ["run requested", "parent"]
        assert await scheduler.kill(job) is False  # the run is over; its orphan is left alone


async def test_kill_escalates_to_sigkill_after_grace_and_leaves_nothing() -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=SystemClock(), log_tz=UTC)
    job = make_job(
        "trap '' TERM; sleep 60 & sleep 60 & echo ready; while :; do sleep 0.05; done",
        kill_grace=0.4,
    )
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: "ready" in sink.texts(job))
        pid = job.runtime.running_pid
        assert pid is not None and len(group_members(pid)) >= 3
        started = time.monotonic()
        assert await scheduler.kill(job) is True
        elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5
    assert job.runtime.last_result == "killed by SIGKILL"
    assert sink.texts(job)[-1] == "killed by SIGKILL"
    assert group_members(pid) == []  # no survivors and no zombies


async def test_kill_takes_background_children_with_the_shell() -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=SystemClock(), log_tz=UTC)
    job = make_job("sleep 60 & sleep 60 & echo ready; wait", kill_grace=5)
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: "ready" in sink.texts(job))
        pid = job.runtime.running_pid
        assert pid is not None
        started = time.monotonic()
        assert await scheduler.kill(job)
        assert time.monotonic() - started < 2  # SIGTERM sufficed, no grace wait
    assert job.runtime.last_result == "killed by SIGTERM"
    assert group_members(pid) == []


async def test_orphans_that_outlive_a_run_are_reaped() -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=SystemClock(), log_tz=UTC, linger=0.05)
    job = make_job("echo $$; sleep 0.3 >/dev/null 2>&1 & exit 0")
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.last_result is not None)
        pgid = int(sink.texts(job)[1])
        assert group_members(pgid)  # the background sleep outlived the run
        with trio.fail_after(5):
            while group_members(pgid):  # a zombie would stay listed
                await trio.sleep(0.05)


async def test_loop_stays_responsive_while_draining_endless_output() -> None:
    sink = MemorySink()
    scheduler = Scheduler(sink, clock=SystemClock(), log_tz=UTC)
    job = make_job("yes", output_limit=4096)
    lags: list[float] = []
    async with running(scheduler):
        scheduler.add(job)
        scheduler.run_now(job)
        await sink.wait_for(lambda: job.runtime.running_pid is not None)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            before = time.monotonic()
            await trio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)
        assert await scheduler.kill(job)
    assert max(lags) < 0.2
    assert sink.texts(job).count("output truncated after 4096 bytes") == 1
    assert len(sink.lines[job.id]) == 1 + 2048 + 1 + 1  # requested, lines, notice, killed


@pytest.mark.parametrize("shell", ["/bin/sh"])
async def test_other_shell(shell: str) -> None:
    spawner = Spawner()
    process = await spawner.spawn(RunSpec("r", "echo $0", T0, shell))
    texts: list[str] = []
    assert await supervise(process, OutputLines(100), texts.extend) == 0
    assert texts == [shell]
