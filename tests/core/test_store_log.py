"""The log as a stream in SqliteStore: stable positions, range reads, trimming, migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jobd_core import JobRecord, JobSettings, LogBatch, LogExtent, SqliteStore


def record(name: str) -> JobRecord:
    return JobRecord(0, name, f"echo {name}", "0 0 1 1 *", False, JobSettings(), 10, 20)


async def test_range_reads_return_exactly_the_bytes_asked(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        job = await store.create_job(record("a"))
        lines = [f"{i:03d}" + "é" * (i % 3) for i in range(200)]
        await store.append_log(LogBatch({job: lines}, at_ns=1, limit=1 << 20))
        whole = "".join(line + "\n" for line in lines).encode()
        for start, count in ((0, 1), (0, len(whole)), (3, 4), (5, 100), (777, 13),
                             (len(whole) - 1, 10), (len(whole), 10), (len(whole) + 50, 10)):
            first, data = await store.read_log_range(job, start, count)
            assert (first, data) == (start, whole[start : start + count]), (start, count)
        assert await store.read_log_range(job, 0, 0) == (0, b"")
        assert await store.read_log_range(job + 1, 0, 10) == (0, b"")  # no such job
    finally:
        await store.close()


async def test_trimming_moves_the_start_and_keeps_positions(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db")
    try:
        job = await store.create_job(record("a"))
        await store.append_log(LogBatch({job: ["aaaa", "bbbb", "cccc"]}, at_ns=1, limit=15))
        assert await store.read_log_range(job, 5, 5) == (5, b"bbbb\n")
        extents = await store.append_log(LogBatch({job: ["dddd"]}, at_ns=2, limit=15))
        assert extents[job] == LogExtent(5, 20)
        # the bytes at a position never change; a trimmed position reads on from the oldest kept
        assert await store.read_log_range(job, 5, 5) == (5, b"bbbb\n")
        assert await store.read_log_range(job, 15, 100) == (15, b"dddd\n")
        assert await store.read_log_range(job, 2, 6) == (5, b"bbbb\nc")
        extents = await store.append_log(LogBatch({job: ["x" * 30]}, at_ns=3, limit=15))
        assert extents[job] == LogExtent(51, 51)  # one line over the bound: nothing kept
        assert await store.read_log_range(job, 0, 100) == (0, b"")
        assert await store.read_log(job) == []
    finally:
        await store.close()


_SCHEMA_1 = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, command TEXT NOT NULL,
    schedule TEXT NOT NULL, started INTEGER NOT NULL, settings TEXT NOT NULL,
    created_ns INTEGER NOT NULL, changed_ns INTEGER NOT NULL, last_fire_ns INTEGER,
    log_bytes INTEGER NOT NULL DEFAULT 0, log_mtime_ns INTEGER
);
CREATE TABLE log (seq INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, line TEXT NOT NULL);
CREATE INDEX log_by_job ON log (job_id, seq);
INSERT INTO jobs VALUES (1, 'a', 'echo a', '@daily', 1, '{}', 10, 20, NULL, 11, 30);
INSERT INTO jobs VALUES (3, 'b', 'echo b', '@daily', 0, '{}', 10, 20, NULL, 0, NULL);
INSERT INTO log (job_id, line) VALUES (1, 'one'), (1, 'é'), (1, 'three');
PRAGMA user_version=1;
"""


async def test_a_version_1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "db"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    conn.close()
    store = await SqliteStore.open(path)
    try:
        loaded = {r.name: r for r in await store.load_jobs()}
        a = loaded["a"]
        assert (a.log_bytes, a.log_end, a.log_mtime_ns) == (13, 13, 30)
        assert (loaded["b"].log_bytes, loaded["b"].log_end) == (0, 0)
        assert await store.read_log_range(1, 4, 100) == (4, "é\nthree\n".encode())
        extents = await store.append_log(LogBatch({1: ["four"]}, at_ns=40, limit=100))
        assert extents[1] == LogExtent(0, 18)
        assert await store.read_log(1) == ["one", "é", "three", "four"]
        assert await store.integrity_check() == ["ok"]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        names = {row[0] for row in indexes}
        assert "log_by_pos" in names and "log_by_job" not in names
    finally:
        conn.close()
