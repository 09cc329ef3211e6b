"""The log sink: buffered, group-committed job log appends, and lazy persistence of fire marks.

Rules this module keeps:
1. ``append`` never blocks and never awaits: lines are buffered in memory and committed by the
   flusher task within ``delay`` seconds (one store request per flush, whatever the job count).
2. A job's log size is always ``entry.log_bytes + entry.pending_log_bytes``: committed-and-retained
   bytes plus bytes not yet committed; ``read_log`` returns exactly those lines (store + buffer).
3. Lines for a deleted job are dropped; the store drops lines whose job is gone.
4. ``job_changed`` only bumps versions and marks ``last_fire`` dirty; marks are saved with the next
   flush (losing one on a crash only means one fire may be seen as missed again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import trio

from ._errors import JobdError
from ._model import Job, JobEntry
from ._store import LogBatch, Store

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime | None) -> int | None:
    return None if moment is None else datetime_ns(moment)


def datetime_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def ns_datetime(ns: int) -> datetime:
    """The aware UTC datetime of ``ns`` nanoseconds since the epoch (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


class StoreLogSink:
    """``LogSink`` over a ``Store``: see the module rules."""

    def __init__(
        self,
        store: Store,
        entries: Mapping[int, JobEntry],
        *,
        limit: int,
        now_ns: Callable[[], int],
        delay: float = 0.05,
    ) -> None:
        self._store = store
        self._entries = entries
        self._limit = limit
        self._now_ns = now_ns
        self._delay = delay
        self._pending: dict[int, list[str]] = {}
        self._fires: set[int] = set()
        self._wake = trio.Event()
        self._lock = trio.Lock()

    # -- the LogSink protocol (called from the trio thread) ------------------------------------

    def append(self, job: Job, lines: list[str]) -> None:
        """Buffer fully formatted entries (no newline) for ``job``; committed within ``delay``."""
        entry = self._entries.get(job.id)
        if job.deleted or entry is None or not lines:
            return
        self._pending.setdefault(job.id, []).extend(lines)
        entry.pending_log_bytes += sum(len(line.encode()) + 1 for line in lines)
        entry.log_mtime_ns = self._now_ns()
        entry.v_log += 1
        self._wake.set()

    def job_changed(self, job: Job) -> None:
        """The scheduler changed ``job.runtime`` or ``job.last_fire``: bump versions, mark dirty."""
        entry = self._entries.get(job.id)
        if job.deleted or entry is None:
            return
        entry.v_status += 1
        entry.status_ns = self._now_ns()
        if job.runtime.next_run != entry.seen_next_run:
            entry.seen_next_run = job.runtime.next_run
            entry.v_schedule += 1
        if _ns(job.last_fire) != entry.fire_saved_ns:
            self._fires.add(job.id)
            self._wake.set()

    async def flush(self) -> None:
        """Commit everything appended so far.

        Raises:
            StorageError, NoSpace: the commit failed (the lines are dropped and logged).
        """
        async with self._lock:
            await self._write()

    # -- for the registry ------------------------------------------------------------------------

    def pending_lines(self, job_id: int) -> list[str]:
        """The lines of ``job_id`` appended but not yet handed to the store."""
        return list(self._pending.get(job_id, ()))

    def forget(self, job_id: int) -> None:
        """The job is deleted: drop its buffered lines and fire mark."""
        self._pending.pop(job_id, None)
        self._fires.discard(job_id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher: commit buffered lines ``delay`` seconds after the first one arrives."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(self._delay)
            try:
                await self.flush()
            except JobdError as exc:
                # Logged at ERROR by _write; the flusher lives on for the lines that follow.
                log.debug("flusher continues after: %s", exc)

    async def _write(self) -> None:
        lines, self._pending = self._pending, {}
        fires, self._fires = self._fires, set()
        sizes = {
            job_id: sum(len(line.encode()) + 1 for line in job_lines)
            for job_id, job_lines in lines.items()
        }
        marks = []
        for job_id in fires:
            entry = self._entries.get(job_id)
            if entry is not None:
                marks.append((job_id, _ns(entry.job.last_fire)))
        try:
            retained: dict[int, int] = {}
            if lines:
                batch = LogBatch(lines=lines, at_ns=self._now_ns(), limit=self._limit)
                retained = await self._store.append_log(batch)
            if marks:
                await self._store.save_fire_marks(marks)
        except JobdError as exc:
            log.error("log flush failed, %d jobs' lines lost: %s", len(lines), exc)
            for job_id, size in sizes.items():
                entry = self._entries.get(job_id)
                if entry is not None:
                    entry.pending_log_bytes -= size
            raise
        for job_id, size in sizes.items():
            entry = self._entries.get(job_id)
            if entry is not None:
                entry.pending_log_bytes -= size
                entry.log_bytes = retained.get(job_id, entry.log_bytes)
        for job_id, ns in marks:
            entry = self._entries.get(job_id)
            if entry is not None:
                entry.fire_saved_ns = ns
