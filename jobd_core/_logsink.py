"""The log sink: buffered, group-committed job log appends, and lazy persistence of fire marks.

Rules this module keeps:
1. ``append`` never blocks and never awaits: lines are buffered in memory and committed by the
   flusher task within ``delay`` seconds (one store request per flush, whatever the job count).
2. A job's log is ``entry.log_bytes`` committed-and-retained bytes, ending at stream position
   ``entry.log_end``, then ``entry.pending_log_bytes`` not yet committed: its size as clients see
   it is ``log_end + pending_log_bytes`` (``_store`` rule 4), what ``cat`` prints ``log_bytes +
   pending_log_bytes``.
3. A line a client has read is durable: ``read_range`` commits the job's buffered lines before
   it reads where the read reaches them, and returns only committed lines.
   The one exception is a failing store (disk full): then the uncommitted lines are shown after
   the committed ones, at the positions they will have, and may be lost in a crash.
4. A failed commit loses nothing at once: its lines go back to the front of the buffer and the
   flusher retries every ``retry`` seconds (the store rolled the failed batch back, so a retry
   never duplicates). Meanwhile the buffer is bounded: per job by the log limit, in all by
   ``backlog_limit`` bytes; beyond that the oldest buffered lines are dropped, counted, and
   reported by one warning per outage. The first failure is logged at ERROR, the recovery once.
5. Lines for a deleted job are dropped; the store drops lines whose job is gone.
6. ``job_changed`` only bumps versions and marks ``last_fire`` dirty; marks are saved with the next
   flush (losing one on a crash only means one fire may be seen as missed again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import trio

from ._errors import JobdError
from ._model import Job, JobEntry
from ._store import LogBatch, LogExtent, Store

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


BACKLOG_LIMIT = 16 * 1024 * 1024  # bytes of uncommitted lines kept in all while the store fails
RETRY_INTERVAL = 1.0  # seconds between commit attempts while the store fails


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


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
        retry: float = RETRY_INTERVAL,
        backlog_limit: int = BACKLOG_LIMIT,
    ) -> None:
        self._store = store
        self._entries = entries
        self._limit = limit
        self._now_ns = now_ns
        self._delay = delay
        self._retry = retry
        self._backlog_limit = backlog_limit
        self._pending: dict[int, list[str]] = {}
        self._pending_bytes = 0
        self._fires: set[int] = set()
        self._wake = trio.Event()
        self._lock = trio.Lock()
        self._failing_since: int | None = None  # ns: when the store began failing, else None
        self.dropped_lines = 0  # buffered lines dropped over the bounds (observable)

    @property
    def failing(self) -> bool:
        """Whether the last commit attempt failed (lines are being kept for retry)."""
        return self._failing_since is not None

    # -- the LogSink protocol (called from the trio thread) ------------------------------------

    def append(self, job: Job, lines: list[str]) -> None:
        """Buffer fully formatted entries (no newline) for ``job``; committed within ``delay``."""
        entry = self._entries.get(job.id)
        if job.deleted or entry is None or not lines:
            return
        buffered = self._pending.setdefault(job.id, [])
        buffered.extend(lines)
        size = _size(lines)
        entry.pending_log_bytes += size
        self._pending_bytes += size
        entry.log_mtime_ns = self._now_ns()
        entry.v_log += 1
        if self._failing_since is not None:
            self._bound(job.id)
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
            StorageError, NoSpace: the commit failed (the lines are kept and retried).
        """
        async with self._lock:
            await self._write()

    async def close(self) -> None:
        """The final flush at shut-down: as ``flush``, but a store that still fails (disk full)
        is reported, with the count of log lines lost, instead of raised."""
        try:
            await self.flush()
        except JobdError as exc:
            lost = sum(len(lines) for lines in self._pending.values())
            log.error("shutting down while the log store fails (%s): %d log lines lost", exc, lost)

    # -- for the registry ------------------------------------------------------------------------

    async def read_range(self, job_id: int, start: int, count: int) -> tuple[int, bytes]:
        """Up to ``count`` bytes of the job's log stream from position ``start`` (see
        ``Store.read_log_range``), buffered lines committed first where the read reaches them
        (rule 3). Returns the position of the first byte returned, and the bytes.

        Raises:
            StorageError: the store cannot be read.
        """
        entry = self._entries.get(job_id)
        if entry is None or count <= 0 or (start >= entry.log_end and job_id not in self._pending):
            return start, b""  # past the end: polling readers (tail -f) cost nothing
        async with self._lock:  # no flush between the commit, the read and the buffer snapshot
            if job_id in self._pending and start + count > entry.log_end:
                try:
                    await self._write()
                except JobdError as exc:
                    log.debug("log read shows uncommitted lines: %s", exc)
            first, data = start, b""
            if start < entry.log_end:
                first, data = await self._store.read_log_range(job_id, start, count)
            if self._failing_since is None or first + len(data) < entry.log_end:
                return first, data
            # The store fails: the buffered lines follow the committed ones (rule 3's exception).
            buffered = "".join(line + "\n" for line in self._pending.get(job_id, ())).encode()
            skip = max(first + len(data) - entry.log_end, 0)
            return first, data + buffered[skip : skip + count - len(data)]

    def pending_lines(self, job_id: int) -> list[str]:
        """The lines of ``job_id`` appended but not yet committed."""
        return list(self._pending.get(job_id, ()))

    def forget(self, job_id: int) -> None:
        """The job is deleted: drop its buffered lines and fire mark."""
        self._pending_bytes -= _size(self._pending.pop(job_id, []))
        self._fires.discard(job_id)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher: commit buffered lines ``delay`` seconds after the first one arrives;
        while the store fails, retry every ``retry`` seconds."""
        task_status.started()
        while True:
            if self._failing_since is None or not (self._pending or self._fires):
                await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep(self._delay if self._failing_since is None else self._retry)
            try:
                await self.flush()
            except JobdError as exc:
                # Reported by _write (once per outage); the lines wait for the next attempt.
                log.debug("flusher retries after: %s", exc)

    # -- the work --------------------------------------------------------------------------------

    async def trim(self, job: Job) -> None:
        """Commit what is buffered and trim ``job``'s log to its bound at once (its ``history``
        setting changed).

        Raises:
            StorageError, NoSpace: the commit failed.
        """
        if job.id in self._entries and not job.deleted:
            self._pending.setdefault(job.id, [])  # an empty list only trims (LogBatch)
        await self.flush()

    def _own_limits(self, lines: Mapping[int, list[str]]) -> dict[int, int]:
        """The bounds of the jobs that have their own ``history`` setting."""
        limits = {}
        for job_id in lines:
            entry = self._entries.get(job_id)
            if entry is not None and entry.job.settings.history is not None:
                limits[job_id] = entry.job.settings.history
        return limits

    async def _write(self) -> None:
        lines, self._pending = self._pending, {}
        fires, self._fires = self._fires, set()
        self._pending_bytes = 0
        marks = []
        for job_id in fires:
            entry = self._entries.get(job_id)
            if entry is not None:
                marks.append((job_id, _ns(entry.job.last_fire)))
        try:
            retained: dict[int, LogExtent] = {}
            if lines:
                batch = LogBatch(
                    lines=lines, at_ns=self._now_ns(), limit=self._limit,
                    limits=self._own_limits(lines),
                )
                retained = await self._store.append_log(batch)
            if marks:
                await self._store.save_fire_marks(marks)
        except JobdError as exc:
            self._keep_for_retry(lines, fires, exc)
            raise
        self._recovered()
        for job_id, job_lines in lines.items():
            entry = self._entries.get(job_id)
            extent = retained.get(job_id)
            if entry is not None:
                entry.pending_log_bytes -= _size(job_lines)
                if extent is not None:
                    entry.log_bytes, entry.log_end = extent.size, extent.end
        for job_id, ns in marks:
            entry = self._entries.get(job_id)
            if entry is not None:
                entry.fire_saved_ns = ns

    def _keep_for_retry(self, lines: dict[int, list[str]], fires: set[int], exc: Exception) -> None:
        """A commit failed (and was rolled back): put its lines back in front of those appended
        meanwhile, its fire marks back, and apply the bounds."""
        if self._failing_since is None:
            self._failing_since = self._now_ns()
            log.error("log store failing (%s): keeping log lines in memory (up to %d bytes) and "
                      "retrying every %gs", exc, self._backlog_limit, self._retry)  # fmt: skip
        for job_id, job_lines in lines.items():
            if job_id not in self._entries:
                continue  # deleted meanwhile
            self._pending[job_id] = job_lines + self._pending.get(job_id, [])
        self._pending_bytes = sum(_size(job_lines) for job_lines in self._pending.values())
        self._fires |= {job_id for job_id in fires if job_id in self._entries}
        for job_id in list(self._pending):
            self._bound(job_id)

    def _bound(self, job_id: int) -> None:
        """Drop ``job_id``'s oldest buffered lines beyond the per-job limit, or beyond the total
        backlog limit (the job being appended to pays)."""
        buffered = self._pending.get(job_id)
        entry = self._entries.get(job_id)
        if not buffered or entry is None:
            return
        dropped = 0
        size = entry.pending_log_bytes
        limit = self._own_limits({job_id: buffered}).get(job_id, self._limit)
        while buffered and (size > limit or self._pending_bytes > self._backlog_limit):
            cut = len(buffered.pop(0).encode()) + 1
            size -= cut
            self._pending_bytes -= cut
            dropped += 1
        if not dropped:
            return
        entry.pending_log_bytes = size
        entry.v_log += 1
        if self.dropped_lines == 0:
            log.warning("log store still failing: dropping the oldest uncommitted log lines "
                        "beyond the bounds (counted until it recovers)")  # fmt: skip
        self.dropped_lines += dropped

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        seconds = (self._now_ns() - self._failing_since) / 1e9
        log.warning("log store recovered after %.1fs; %d uncommitted lines were dropped",
                    seconds, self.dropped_lines)  # fmt: skip
        self._failing_since = None
        self.dropped_lines = 0
