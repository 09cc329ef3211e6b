"""The persistence interface: plain records in, plain records out.

Rules this module keeps:
1. The rest of the core talks to a ``Store`` only through its async methods, in plain records
   (``JobRecord``, log lines as text); no SQL or connection leaks out. A shared store on a database
   server (several jobd nodes) implements the same interface; ``SqliteStore`` (``_sqlite``) is
   the local one.
2. Every mutating method returns only after its change is durable ("acknowledged = committed").
3. A job's log is bounded in the store (``LogBatch.limit``), oldest whole lines dropped first, and
   the store reports each job's retained extent so sizes never need a scan.
4. Log bytes have stable positions: a job's log is one append-only byte stream ("line\n" each)
   whose offsets are never reused or shifted; trimming only moves its start. A reader that keeps
   an offset (``tail -f``) therefore never skips or repeats a line, and a range read costs what
   it returns, not the whole log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._model import JobSettings


@dataclass(slots=True)
class JobRecord:
    """A job as persisted. ``id`` is 0 for a job not yet created. Times are ns since the epoch."""

    id: int
    name: str
    command: str
    schedule: str
    started: bool
    settings: JobSettings
    created_ns: int
    changed_ns: int
    last_fire_ns: int | None = None
    log_bytes: int = 0  # retained log length as read (each line plus "\n")
    log_mtime_ns: int | None = None
    log_end: int = 0  # the stream position after the last line (bytes ever appended)


@dataclass(frozen=True, slots=True)
class LogExtent:
    """The retained part of a job's log stream: positions ``start`` (its first line) to ``end``
    (after its last line); ``end - start`` bytes."""

    start: int = 0
    end: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class LogBatch:
    """Log lines to append, per job id, with the append time, and a per-job byte bound
    (``limits[job_id]`` where a job has its own ``history`` setting, else ``limit``). An empty
    list of lines for a job only trims its log to its bound."""

    lines: dict[int, list[str]] = field(default_factory=dict)
    at_ns: int = 0
    limit: int = 1024 * 1024
    limits: dict[int, int] = field(default_factory=dict)


class Store(ABC):
    """The persistence interface the core uses."""

    @abstractmethod
    async def load_jobs(self) -> list[JobRecord]:
        """Every job, ordered by id.

        Raises:
            StorageError: the store cannot be read.
        """

    @abstractmethod
    async def create_job(self, record: JobRecord) -> int:
        """Persist a new job; return its new id (never reused).

        Raises:
            Exists: a job of that name exists.
            StorageError, NoSpace: the commit failed.
        """

    @abstractmethod
    async def update_job(self, record: JobRecord) -> None:
        """Replace the definition (command, schedule, started, settings, changed_ns, last_fire_ns).

        Raises:
            NotFound: no job with that id.
            StorageError, NoSpace: the commit failed.
        """

    @abstractmethod
    async def save_fire_marks(self, marks: Sequence[tuple[int, int | None]]) -> None:
        """Persist ``last_fire_ns`` for several jobs (missing jobs are ignored).

        Raises:
            StorageError, NoSpace: the commit failed.
        """

    @abstractmethod
    async def delete_job(self, job_id: int) -> None:
        """Delete a job and its log (a missing job is not an error).

        Raises:
            StorageError, NoSpace: the commit failed.
        """

    @abstractmethod
    async def append_log(self, batch: LogBatch) -> dict[int, LogExtent]:
        """Append lines at the end of each job's stream, trim each job's log to its bound
        (``batch.limits`` or ``batch.limit`` bytes; oldest whole lines first), and return each
        touched job's retained extent. Lines of missing jobs are dropped.

        Raises:
            StorageError, NoSpace: the commit failed.
        """

    @abstractmethod
    async def read_log_range(self, job_id: int, start: int, count: int) -> tuple[int, bytes]:
        """Up to ``count`` bytes of the job's log stream from position ``start``; where ``start``
        was trimmed away, from the first retained line after it. Returns the position of the
        first byte returned, and the bytes (empty at or past the end, or for a missing job).

        Raises:
            StorageError: the store cannot be read.
        """

    @abstractmethod
    async def read_log(self, job_id: int) -> list[str]:
        """The job's retained log lines, oldest first.

        Raises:
            StorageError: the store cannot be read.
        """

    @abstractmethod
    async def close(self) -> None:
        """Finish queued work and release the store. Idempotent."""
