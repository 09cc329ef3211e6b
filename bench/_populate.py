"""Build the trees the measurements serve: jobd databases and the tmpfs reference tree.

A jobd database is written through the core's own store (``SqliteStore``), many creations in
flight so the store batches them into few commits: 100k jobs take seconds, not minutes.
"""

from __future__ import annotations

from pathlib import Path

import trio

from jobd_core import DB_NAME, JobRecord, JobSettings, LogBatch, SqliteStore

FAR_SCHEDULE = "0 0 1 1 *"  # once a year: started jobs that do not fire during a run
_CHUNK = 2000


def job_name(i: int) -> str:
    """The name of the i-th benchmark job."""
    return f"job{i:06d}"


async def _create(store: SqliteStore, start: int, stop: int, started: bool, now_ns: int) -> None:
    settings = JobSettings()
    async with trio.open_nursery() as nursery:
        for i in range(start, stop):
            record = JobRecord(
                0, job_name(i), "true", FAR_SCHEDULE, started, settings, now_ns, now_ns
            )
            nursery.start_soon(store.create_job, record)


async def _build(dbdir: Path, jobs: int, started: bool, log_bytes: int) -> None:
    dbdir.mkdir(parents=True, exist_ok=True)
    store = await SqliteStore.open(dbdir / DB_NAME)
    try:
        now_ns = trio.current_time().__int__() or 1
        for start in range(0, jobs, _CHUNK):
            await _create(store, start, min(jobs, start + _CHUNK), started, now_ns)
        if log_bytes:
            line = "2026-01-01 00:00:00.000000000 +0000 UTC:" + "x" * 59  # 100 bytes with "\n"
            lines = [line] * (log_bytes // 100)
            await store.append_log(LogBatch({1: lines}, at_ns=now_ns, limit=log_bytes * 2))
    finally:
        await store.close()


def build_db(dbdir: Path, jobs: int, *, started: bool = True, log_bytes: int = 0) -> None:
    """Create ``dbdir`` holding ``jobs`` jobs (``job000000``...) running ``true`` once a year;
    with ``log_bytes``, job 1 gets a log of that many bytes (100-byte lines)."""
    trio.run(_build, dbdir, jobs, started, log_bytes)


def build_tmpfs_tree(root: Path, jobs: int) -> None:
    """The reference tree of the same shape on tmpfs: ``root/jobs/NAME/{ctl,cmd,schedule,...}``."""
    for i in range(jobs):
        d = root / "jobs" / job_name(i)
        d.mkdir(parents=True, exist_ok=True)
        (d / "schedule").write_text(FAR_SCHEDULE + "\n")
        (d / "cmd").write_text("true\n")
        (d / "ctl").write_text("started\n")
