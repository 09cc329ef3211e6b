"""SqliteStore: persistence across reopen and crash, group commit, log bounds, errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from jobd_core import (
    Exists,
    JobRecord,
    JobSettings,
    LogBatch,
    LogExtent,
    NotFound,
    SqliteStore,
    StorageError,
)


def record(name: str, **changes: object) -> JobRecord:
    rec = JobRecord(0, name, f"echo {name}", "0 0 1 1 *", False, JobSettings(), 10, 20)
    for key, value in changes.items():
        setattr(rec, key, value)
    return rec


async def test_jobs_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await SqliteStore.open(path)
    a = await store.create_job(record("a"))
    b = await store.create_job(record("b", settings=JobSettings(catchup="latest", kill_grace=1.5)))
    await store.update_job(record("a", id=a, command="echo changed", started=True, changed_ns=99,
                                  last_fire_ns=123))
    await store.close()

    store = await SqliteStore.open(path)
    try:
        loaded = await store.load_jobs()
    finally:
        await store.close()
    assert [r.id for r in loaded] == [a, b]
    first = loaded[0]
    assert (first.command, first.started, first.changed_ns) == ("echo changed", True, 99)
    assert loaded[0].last_fire_ns == 123
    assert loaded[0].created_ns == 10
    assert loaded[1].settings == JobSettings(catchup="latest", kill_grace=1.5)


async def test_ids_are_never_reused(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        first = await store.create_job(record("a"))
        await store.delete_job(first)
        second = await store.create_job(record("a"))
        assert second > first
    finally:
        await store.close()


async def test_duplicate_name_fails_alone_in_its_batch(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    results: dict[str, object] = {}

    async def create(name: str, key: str) -> None:
        try:
            results[key] = await store.create_job(record(name))
        except Exists as exc:
            results[key] = exc

    try:
        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(create, f"job{i}", f"k{i}")
            nursery.start_soon(create, "job3", "dup")
        # trio starts tasks in no fixed order: whichever of the two came second failed, alone.
        failed = [r for r in (results["k3"], results["dup"]) if isinstance(r, Exists)]
        assert len(failed) == 1
        assert str(failed[0]) == "job exists: job3"
        assert sum(isinstance(r, int) for r in results.values()) == 20
        assert len(await store.load_jobs()) == 20
    finally:
        await store.close()


async def test_concurrent_requests_are_group_committed(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        before = store.batches
        async with trio.open_nursery() as nursery:
            for i in range(300):
                nursery.start_soon(store.create_job, record(f"j{i}"))
        assert len(await store.load_jobs()) == 300
        assert store.batches - before < 300
    finally:
        await store.close()


async def test_update_of_missing_job_is_not_found(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        with pytest.raises(NotFound):
            await store.update_job(record("ghost", id=42))
    finally:
        await store.close()


async def test_log_append_trims_oldest_whole_lines(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        job = await store.create_job(record("a"))
        other = await store.create_job(record("b"))
        lines = [f"line {i:03d}" for i in range(100)]  # 8 bytes + "\n" each
        extents = await store.append_log(LogBatch({job: lines, other: ["x"]}, at_ns=5, limit=180))
        kept = await store.read_log(job)
        assert kept == lines[-20:]
        assert extents == {job: LogExtent(720, 900), other: LogExtent(0, 2)}
        assert extents[job].size == sum(len(line) + 1 for line in kept)
        extents = await store.append_log(LogBatch({job: ["é" * 3]}, at_ns=6, limit=180))
        kept = await store.read_log(job)
        assert kept[-1] == "ééé"
        assert extents[job].end == 907  # the stream goes on: positions are never reused
        assert extents[job].size == sum(len(line.encode()) + 1 for line in kept) <= 180
        loaded = {r.id: r for r in await store.load_jobs()}
        assert (loaded[job].log_bytes, loaded[job].log_mtime_ns) == (extents[job].size, 6)
        assert loaded[job].log_end == 907
        assert await store.read_log(other) == ["x"]
    finally:
        await store.close()


async def test_delete_removes_log_and_later_lines_are_dropped(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        job = await store.create_job(record("a"))
        await store.append_log(LogBatch({job: ["one"]}, at_ns=1))
        await store.delete_job(job)
        assert await store.append_log(LogBatch({job: ["late"]}, at_ns=2)) == {}
        assert await store.read_log(job) == []
        await store.delete_job(job)  # missing: not an error
    finally:
        await store.close()


async def test_fire_marks(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        a = await store.create_job(record("a"))
        b = await store.create_job(record("b", last_fire_ns=7))
        await store.save_fire_marks([(a, 1000), (b, None), (999, 5)])
        loaded = await store.load_jobs()
        assert [r.last_fire_ns for r in loaded] == [1000, None]
    finally:
        await store.close()


async def test_integrity_check_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = await SqliteStore.open(path)
    try:
        assert await store.integrity_check() == ["ok"]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StorageError, match="newer"):
        await SqliteStore.open(path)


async def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        await SqliteStore.open(tmp_path / "missing-dir" / "db")


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    await store.close()
    await store.close()
    with pytest.raises(StorageError):
        await store.load_jobs()


CRASHER = textwrap.dedent(
    """
    import os, sys, trio
    from pathlib import Path
    from jobd_core import JobRecord, JobSettings, LogBatch, SqliteStore

    async def main():
        store = await SqliteStore.open(Path(sys.argv[1]))
        async with trio.open_nursery() as nursery:
            for i in range(50):
                rec = JobRecord(0, f"j{i}", "true", "@daily", i % 2 == 0, JobSettings(), 1, 1)
                nursery.start_soon(store.create_job, rec)
        await store.append_log(LogBatch({1: ["acknowledged"]}, at_ns=3))
        print("committed", flush=True)
        os._exit(0)  # no close, no checkpoint: as kill -9 right after the replies

    trio.run(main)
    """
)


async def test_acknowledged_commits_survive_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "db"
    result = await trio.to_thread.run_sync(
        lambda: subprocess.run(
            [sys.executable, "-c", CRASHER, str(path)], capture_output=True, text=True, timeout=60
        )
    )
    assert result.stdout == "committed\n", result.stderr
    store = await SqliteStore.open(path)
    try:
        jobs = await store.load_jobs()
        assert len(jobs) == 50
        assert sum(r.started for r in jobs) == 25
        assert await store.read_log(1) == ["acknowledged"]
        assert await store.integrity_check() == ["ok"]
    finally:
        await store.close()
