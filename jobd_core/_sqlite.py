"""``Store`` over one SQLite file: WAL, one worker thread, group commit.

Rules this module keeps:
1. ``SqliteStore`` does all disk work on ONE dedicated worker thread that owns the connection; the
   trio thread only enqueues requests and waits. The event loop never blocks on disk.
2. Group commit: the worker takes every request queued at the moment, runs each in its own
   SAVEPOINT inside one transaction, commits once, and only then answers each request. A request
   that fails rolls back alone; a failed commit fails all of the batch.
3. Acknowledged means durable: WAL with ``synchronous=FULL`` (the WAL is fsynced at each commit),
   so a commit survives kill -9 and power loss. Group commit pays for the fsync.
4. The schema is versioned by ``PRAGMA user_version``; opening a newer schema fails loudly, an
   older one is migrated in one transaction at open (a crash midway leaves the old one intact).
5. Log lines carry their stream position (``log.pos``, see ``_store`` rule 4); the index on
   ``(job_id, pos)`` makes a range read, a trim and a delete cost what they touch.
"""

from __future__ import annotations

import errno
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import outcome
import trio

from ._errors import Exists, NoSpace, NotFound, StorageError
from ._model import JobSettings
from ._settings import from_json as settings_from_json
from ._settings import to_json as settings_to_json
from ._store import JobRecord, LogBatch, LogExtent, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    command TEXT NOT NULL,
    schedule TEXT NOT NULL,
    started INTEGER NOT NULL,
    settings TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    changed_ns INTEGER NOT NULL,
    last_fire_ns INTEGER,
    log_bytes INTEGER NOT NULL DEFAULT 0,
    log_mtime_ns INTEGER,
    log_end INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    line TEXT NOT NULL,
    pos INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS log_by_pos ON log (job_id, pos);
"""

# Version 1 had no stream positions: each job's retained lines get positions from 0 in their
# order, so a job's stream ends at its retained length.
_MIGRATE_1_TO_2 = """
ALTER TABLE jobs ADD COLUMN log_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
WITH placed AS (
    SELECT seq, SUM(length(CAST(line AS BLOB)) + 1)
        OVER (PARTITION BY job_id ORDER BY seq ROWS UNBOUNDED PRECEDING)
        - (length(CAST(line AS BLOB)) + 1) AS pos
    FROM log
)
UPDATE log SET pos = placed.pos FROM placed WHERE placed.seq = log.seq;
UPDATE jobs SET log_bytes = (
    SELECT coalesce(SUM(length(CAST(line AS BLOB)) + 1), 0) FROM log WHERE log.job_id = jobs.id
);
UPDATE jobs SET log_end = log_bytes;
DROP INDEX IF EXISTS log_by_job;
CREATE UNIQUE INDEX log_by_pos ON log (job_id, pos);
"""


_Work = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Request:
    work: _Work
    done: Callable[[outcome.Outcome[Any]], None]


_FULL_CODES = frozenset({sqlite3.SQLITE_FULL})  # "database or disk is full"


def _translate(exc: BaseException) -> BaseException:
    """The ``JobdError`` for a failure of the worker's work (others pass through unchanged).

    SQLITE_FULL ("database or disk is full") becomes ``NoSpace`` with the text a client expects
    on 9P2000 ("no space left on device"); every other SQLite failure is a ``StorageError``.
    """
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code in _FULL_CODES or "disk is full" in str(exc):
            return NoSpace(f"no space left on device: {exc}")
        return StorageError(f"store error: {exc}")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return NoSpace(f"no space left on device: {exc}")
    return exc


class SqliteStore(Store):
    """``Store`` over one SQLite file (WAL), all I/O on a private worker thread.

    Open with ``await SqliteStore.open(path)``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failing = False  # the last commit failed (errors are logged once per outage)
        self.batches = 0  # commits done (observable for tests and figures)

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (creating if needed) the database at ``path`` and start the worker.

        Raises:
            StorageError: the file cannot be opened or has an unknown schema.
        """
        store = cls(path)
        ready: outcome.Outcome[sqlite3.Connection] | None = None
        opened = threading.Event()

        def run() -> None:
            nonlocal ready
            ready = outcome.capture(store._connect)
            opened.set()
            if isinstance(ready, outcome.Value):
                store._serve(ready.unwrap())

        store._thread = threading.Thread(target=run, name=f"jobd-store:{path.name}", daemon=True)
        store._thread.start()
        await trio.to_thread.run_sync(opened.wait)
        assert ready is not None
        if isinstance(ready, outcome.Error):
            store._closed = True
            exc = _translate(ready.error)
            raise exc from ready.error
        return store

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=OFF")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path}: schema version {version} is newer than this jobd"
                    f" ({SCHEMA_VERSION})"
                )
            conn.execute("BEGIN IMMEDIATE")
            if version == 1:
                log.info("store %s: migrating schema 1 to 2 (log stream positions)", self.path)
                _run_script(conn, _MIGRATE_1_TO_2)
            _run_script(conn, _SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    def _serve(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while True:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                self._run_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Request]) -> None:
        results: list[outcome.Outcome[Any]] = []
        changes = conn.total_changes
        try:
            conn.execute("BEGIN IMMEDIATE")
            for request in batch:
                conn.execute("SAVEPOINT req")
                result: outcome.Outcome[Any] = outcome.capture(request.work, conn)
                if isinstance(result, outcome.Error):
                    conn.execute("ROLLBACK TO req")
                    result = outcome.Error(_translate(result.error))
                conn.execute("RELEASE req")
                results.append(result)
            conn.execute("COMMIT")
            self.batches += 1
        except sqlite3.Error as exc:
            # Logged once per outage (a full disk fails every commit until space returns).
            if not self._failing:
                log.error("store commit failed: %s", exc, extra={"store": str(self.path)})
            self._failing = True
            self._rollback(conn)
            failure = _translate(exc)
            results = [outcome.Error(failure) for _ in batch]
        else:
            if self._failing and conn.total_changes != changes:  # a write, not only reads
                log.warning("store commits succeed again", extra={"store": str(self.path)})
                self._failing = False
        for request, result in zip(batch, results, strict=True):
            try:
                request.done(result)
            except trio.RunFinishedError:
                # The trio run that asked is gone (its work is committed all the same).
                log.warning("store reply dropped: the requesting event loop has ended")

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        """End a failed transaction; SQLite may have rolled it back already."""
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.warning("store rollback after a failed commit: %s", exc)

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StorageError("store is closed")
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        box: list[outcome.Outcome[T]] = []

        def done(result: outcome.Outcome[T]) -> None:
            box.append(result)
            token.run_sync_soon(finished.set)

        self._queue.put(_Request(work, done))
        # The request runs regardless; waiting for it cannot be abandoned halfway, so callers
        # see either "done and applied" or an error, never a silent divergence.
        with trio.CancelScope(shield=True):
            await finished.wait()
        return box[0].unwrap()

    # -- the interface ------------------------------------------------------------------------

    async def load_jobs(self) -> list[JobRecord]:
        return await self._call(_load_jobs)

    async def create_job(self, record: JobRecord) -> int:
        return await self._call(lambda conn: _create_job(conn, record))

    async def update_job(self, record: JobRecord) -> None:
        await self._call(lambda conn: _update_job(conn, record))

    async def save_fire_marks(self, marks: Sequence[tuple[int, int | None]]) -> None:
        items = [(ns, job_id) for job_id, ns in marks]
        await self._call(
            lambda conn: conn.executemany("UPDATE jobs SET last_fire_ns=? WHERE id=?", items)
        )

    async def delete_job(self, job_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM log WHERE job_id=?", (job_id,))
            conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))

        await self._call(work)

    async def append_log(self, batch: LogBatch) -> dict[int, LogExtent]:
        return await self._call(lambda conn: _append_log(conn, batch))

    async def read_log_range(self, job_id: int, start: int, count: int) -> tuple[int, bytes]:
        return await self._call(lambda conn: _read_log_range(conn, job_id, start, count))

    async def read_log(self, job_id: int) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute("SELECT line FROM log WHERE job_id=? ORDER BY pos", (job_id,))
            return [row[0] for row in rows]

        return await self._call(work)

    async def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ``["ok"]`` for a sound database, else the problems.

        Raises:
            StorageError: the check could not run.
        """
        return await self._call(
            lambda conn: [row[0] for row in conn.execute("PRAGMA integrity_check")]
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        if self._thread is not None:
            await trio.to_thread.run_sync(self._thread.join)


# -- the work, run on the worker thread ---------------------------------------------------------

_COLUMNS = (
    "id, name, command, schedule, started, settings, created_ns, changed_ns, last_fire_ns,"
    " log_bytes, log_mtime_ns, log_end"
)


def _load_jobs(conn: sqlite3.Connection) -> list[JobRecord]:
    records = []
    cache: dict[str, JobSettings] = {}
    for row in conn.execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY id"):
        settings_text = row[5]
        settings = cache.get(settings_text)
        if settings is None:
            # JobSettings is immutable: jobs with equal settings share one instance.
            settings = cache[settings_text] = settings_from_json(settings_text)
        records.append(
            JobRecord(
                id=row[0], name=row[1], command=row[2], schedule=row[3], started=bool(row[4]),
                settings=settings,
                created_ns=row[6], changed_ns=row[7], last_fire_ns=row[8], log_bytes=row[9],
                log_mtime_ns=row[10], log_end=row[11],
            )
        )
    return records


def _create_job(conn: sqlite3.Connection, record: JobRecord) -> int:
    try:
        cursor = conn.execute(
            "INSERT INTO jobs (name, command, schedule, started, settings, created_ns, changed_ns,"
            " last_fire_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (record.name, record.command, record.schedule, int(record.started),
             settings_to_json(record.settings), record.created_ns, record.changed_ns,
             record.last_fire_ns),
        )
    except sqlite3.IntegrityError as exc:
        raise Exists(f"job exists: {record.name}") from exc
    job_id = cursor.lastrowid
    assert job_id is not None
    return job_id


def _update_job(conn: sqlite3.Connection, record: JobRecord) -> None:
    cursor = conn.execute(
        "UPDATE jobs SET command=?, schedule=?, started=?, settings=?, changed_ns=?, last_fire_ns=?"
        " WHERE id=?",
        (record.command, record.schedule, int(record.started), settings_to_json(record.settings),
         record.changed_ns, record.last_fire_ns, record.id),
    )
    if cursor.rowcount == 0:
        raise NotFound(f"job not found: {record.name}")


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``script``'s statements inside the caller's transaction (``executescript`` would
    commit it first)."""
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _append_log(conn: sqlite3.Connection, batch: LogBatch) -> dict[int, LogExtent]:
    extents: dict[int, LogExtent] = {}
    for job_id, lines in batch.lines.items():
        row = conn.execute("SELECT log_bytes, log_end FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            continue
        size, end = row
        rows = []
        for line in lines:
            rows.append((job_id, end, line))
            length = len(line.encode()) + 1
            end += length
            size += length
        conn.executemany("INSERT INTO log (job_id, pos, line) VALUES (?, ?, ?)", rows)
        limit = batch.limits.get(job_id, batch.limit)
        if size > limit:
            size = _trim(conn, job_id, end, limit)
        conn.execute(
            "UPDATE jobs SET log_bytes=?, log_end=?, log_mtime_ns=? WHERE id=?",
            (size, end, batch.at_ns, job_id),
        )
        extents[job_id] = LogExtent(end - size, end)
    return extents


def _trim(conn: sqlite3.Connection, job_id: int, end: int, limit: int) -> int:
    """Drop the oldest whole lines until what is left (up to ``end``) fits ``limit`` bytes;
    return the retained size."""
    conn.execute("DELETE FROM log WHERE job_id=? AND pos<?", (job_id, end - limit))
    row = conn.execute("SELECT min(pos) FROM log WHERE job_id=?", (job_id,)).fetchone()
    return 0 if row[0] is None else end - row[0]


def _read_log_range(
    conn: sqlite3.Connection, job_id: int, start: int, count: int
) -> tuple[int, bytes]:
    # From the line holding ``start`` (else, trimmed, the first one after it) to start+count.
    if count <= 0:
        return start, b""
    first = conn.execute(
        "SELECT max(pos) FROM log WHERE job_id=? AND pos<=?", (job_id, start)
    ).fetchone()[0]
    if first is None:
        first = conn.execute(
            "SELECT min(pos) FROM log WHERE job_id=? AND pos>?", (job_id, start)
        ).fetchone()[0]
        if first is None:
            return start, b""
    rows = conn.execute(
        "SELECT line FROM log WHERE job_id=? AND pos>=? AND pos<? ORDER BY pos",
        (job_id, first, max(start, first) + count),
    )
    lines = [line for (line,) in rows]
    lines.append("")  # the last line's newline, without another copy of the whole text
    data = "\n".join(lines).encode()
    del lines
    skip = max(start - first, 0)
    if skip == 0 and len(data) <= count:
        return first, data
    return first + skip, data[skip : skip + count]
