"""The dbdir fills up: writes fail with ENOSPC to the client, jobs keep firing, nothing is
corrupted, and jobd recovers by itself once space returns (no restart).

The dbdir is on its own 2 MiB tmpfs (mounted here; the test needs root and skips without it), and
a filler file takes every free byte. ``jobd`` is a real subprocess, driven over 9P.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from _jobd_process import JobdProcess
from crash_support import EVERY_SECOND, Session, integrity_check, log_lines, session

from jobd_9p.client import RemoteError
from jobd_9p.wire import Dialect
from jobd_core import CoreConfig, NoSpace, open_core

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write zeros to ``path`` until the filesystem has no byte left."""
    block = b"\0" * 4096
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:  # the last partial block
            while f.write(b"\0"):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


async def ticks(s: Session, name: str) -> int:
    return sum(line.endswith(":tick") for line in log_lines(await s.read(f"jobs/{name}/log")))


async def expect_enospc(s: Session, path: str, data: bytes) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        await s.write(path, data)
    assert info.value.errno == errno.ENOSPC, info.value
    return info.value


async def wait_until(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    with trio.move_on_after(seconds):
        while not await predicate():
            await trio.sleep(0.2)  # a real daemon on the real clock
        return
    raise AssertionError(f"timed out waiting for {what}")


async def test_disk_full_fails_writes_keeps_firing_and_recovers(
    small_fs: Path, tmp_path: Path
) -> None:
    dbdir = small_fs / "db"
    jobd = JobdProcess(dbdir, tmp_path / "jobd.log")
    addr = await trio.to_thread.run_sync(jobd.start)
    filler = small_fs / "filler"
    try:
        async with session(addr) as s, session(addr, Dialect.P9P2000) as old:
            await s.write("clone", f"ticker:{EVERY_SECOND}:echo tick".encode())
            await s.write("clone", b"idle:@daily:echo idle")
            await s.write("jobs/ticker/ctl", b"start")
            await wait_until(lambda: _at_least(s, "ticker", 1), 15, "a first tick")

            await trio.to_thread.run_sync(fill, filler)
            # every kind of write is refused with ENOSPC (.L) / the readable text (9P2000);
            # the first clone may fit in space the database had already
            for i in range(50):
                try:
                    await s.write("clone", f"full{i}:@daily:true".encode())
                except RemoteError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
            else:
                raise AssertionError("clone never failed on a full disk")
            await expect_enospc(s, "clone", b"more:@daily:true")
            await expect_enospc(s, "jobs/idle/ctl", b"start")
            await expect_enospc(s, "jobs/idle/cmd", b"echo changed")
            await expect_enospc(s, "jobs/idle/schedule", b"@hourly")
            with pytest.raises(RemoteError) as info:
                await old.write("clone", b"old:@daily:true")
            assert "no space left on device" in info.value.message
            refused = {"more", "old"} | {f"full{j}" for j in range(i, 50)}
            # nothing half-made, nothing changed, and jobs keep firing meanwhile
            names = set(await s.names())
            assert not names & refused
            assert (await s.read("jobs/idle/ctl")) == b"stopped\n"
            assert (await s.read("jobs/idle/cmd")) == b"echo idle\n"
            during = await ticks(s, "ticker")
            await wait_until(lambda: _at_least(s, "ticker", during + 3), 15, "ticks while full")

            filler.unlink()  # space returns: the very next write works, no restart
            await s.write("clone", b"after:@daily:echo after")
            await s.write("jobs/idle/cmd", b"echo changed")
            assert "after" in await s.names()
            after = await ticks(s, "ticker")
        # what was kept in memory during the outage was committed on retry: a crash keeps it
        await trio.to_thread.run_sync(jobd.kill9)
        assert integrity_check(dbdir / "jobd.sqlite3") == ["ok"]
        addr = await trio.to_thread.run_sync(jobd.start)
        async with session(addr) as s:
            assert {"ticker", "idle", "after"} <= set(await s.names())
            assert not set(await s.names()) & refused
            assert (await s.read("jobs/idle/cmd")) == b"echo changed\n"
            assert await ticks(s, "ticker") >= after
            assert (await s.read("jobs/ticker/ctl")) == b"started\n"
    finally:
        await trio.to_thread.run_sync(jobd.stop)
    text = jobd.log_text()
    assert "log store failing" in text and "log store recovered" in text
    assert "Traceback" not in text


async def _at_least(s: Session, name: str, count: int) -> bool:
    return await ticks(s, name) >= count


@pytest.mark.allow_error_logs
async def test_log_lines_kept_within_bounds_while_full_then_committed(
    small_fs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In process, the real core on the small tmpfs: while the disk is full, a job's log lines
    wait in memory up to its log bound (oldest dropped, one warning), reads still show them, and
    the flusher's retry commits them once space returns."""
    filler = small_fs / "filler"
    config = CoreConfig(dbdir=small_fs / "db", log_limit=4096)
    async with open_core(config) as core:
        entry = await core.registry.create("chatty", "@daily", "true")
        sink = core.registry.sink
        await trio.to_thread.run_sync(fill, filler)
        lines = [f"line {i:04d} " + "x" * 90 for i in range(100)]  # 10,000 bytes in all
        for line in lines:
            sink.append(entry.job, [line])
        with pytest.raises(NoSpace):
            await sink.flush()
        assert sink.failing
        shown = (await core.registry.read_log(entry)).decode().splitlines()
        assert shown[-1] == lines[-1] and len(shown) < len(lines)  # newest kept, oldest dropped
        assert core.registry.log_size(entry) <= 4096
        kept = [line for line in shown if line.startswith("line")]
        assert kept == lines[-len(kept) :]
        filler.unlink()
        with trio.fail_after(10):
            while sink.failing:  # the flusher retries on its own
                await trio.sleep(0.1)
        assert await core.store.read_log(entry.job.id) == shown
    warnings = [r.getMessage() for r in caplog.records if r.name == "jobd_core._logsink"]
    assert sum("dropping the oldest" in m for m in warnings) == 1
    assert any("recovered" in m and f"{100 - len(kept)} uncommitted lines" in m for m in warnings)


async def test_sigterm_while_full_exits_cleanly(small_fs: Path, tmp_path: Path) -> None:
    jobd = JobdProcess(small_fs / "db", tmp_path / "jobd.log")
    addr = await trio.to_thread.run_sync(jobd.start)
    async with session(addr) as s:
        await s.write("clone", f"ticker:{EVERY_SECOND}:echo tick".encode())
        await s.write("jobs/ticker/ctl", b"start")
        await wait_until(lambda: _at_least(s, "ticker", 1), 15, "a first tick")
        await trio.to_thread.run_sync(fill, small_fs / "filler")
        await wait_until(lambda: _failing(jobd), 15, "the log store to fail")
    assert await trio.to_thread.run_sync(jobd.stop) == 0
    assert "log lines lost" in jobd.log_text() and "cannot serve" not in jobd.log_text()
    (small_fs / "filler").unlink()
    addr = await trio.to_thread.run_sync(jobd.start)  # and it starts again once there is room
    async with session(addr) as s:
        assert (await s.read("jobs/ticker/ctl")) == b"started\n"
    await trio.to_thread.run_sync(jobd.stop)


async def _failing(jobd: JobdProcess) -> bool:
    return "log store failing" in jobd.log_text()
