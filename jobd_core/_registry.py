"""The set of jobs: creation, edits, ctl verbs and deletion, validated and durably committed.

Rules this module keeps:
1. Validate first, persist second, apply in memory third: a rejected request changes nothing, and a
   reply is sent only after the change is committed to the store.
2. Operations on one job are serialised (a per-job lock held only while one is in flight), so
   start/stop/edit/delete of the same job apply in the order they were asked.
3. ``start`` of a started job and ``stop`` of a stopped one succeed and change nothing (no log
   entry, no version bump): ``echo start > ctl`` twice is harmless.
4. Node versions and mtimes live in each job's ``JobEntry``; this module and the log sink bump them.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime, tzinfo
from typing import Protocol

import trio

from . import schedule as schedules
from ._errors import Exists, InvalidArgument, JobdError, NoSpace, NotFound
from ._logline import format_entry, format_timestamp
from ._logsink import StoreLogSink, datetime_ns, ns_datetime
from ._model import Job, JobEntry, JobSettings
from ._settings import SETTING_VERBS, apply_setting
from ._store import JobRecord, Store
from ._validate import (
    VERBS,
    check_command,
    check_name,
    decode,
    parse_definition,
    schedule_expression,
    split_ctl,
)

log = logging.getLogger(__name__)



class SchedulerPort(Protocol):
    """What the registry asks of the scheduler (``jobd_core._scheduler.Scheduler`` is one)."""

    def add(self, job: Job) -> None: ...
    def start(self, job: Job) -> None: ...
    def stop(self, job: Job) -> None: ...
    def reschedule(self, job: Job) -> None: ...
    def run_now(self, job: Job) -> None: ...
    async def kill(self, job: Job) -> bool: ...
    async def remove(self, job: Job) -> None: ...


class Registry:
    """The jobs, by name and by id, and every change to them."""

    max_jobs: int | None = None  # --max-jobs: creations beyond it fail with NoSpace

    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], datetime],
        now_ns: Callable[[], int] | None = None,
        log_limit: int = 1024 * 1024,
        output_limit: int = 64 * 1024,
        default_tz: tzinfo | None = None,
    ) -> None:
        self.store = store
        self.now = now
        self.now_ns: Callable[[], int] = (
            now_ns if now_ns is not None else lambda: datetime_ns(now())
        )
        self.default_tz = default_tz
        self.output_limit = output_limit
        self.log_limit = log_limit  # the default ``history`` of a job
        self.entries: dict[int, JobEntry] = {}
        self._by_name: dict[str, JobEntry] = {}
        self._reserved: set[str] = set()
        self._locks: dict[int, trio.Lock] = {}
        # Parsed schedules by expression (the zone default is fixed per registry): 100k jobs
        # usually share a few expressions, and a Schedule is immutable.
        self._schedules: weakref.WeakValueDictionary[str, schedules.Schedule] = (
            weakref.WeakValueDictionary()
        )
        self.scheduler: SchedulerPort | None = None
        self.sink = StoreLogSink(store, self.entries, limit=log_limit, now_ns=self.now_ns)
        self.jobs_version = 0
        self._ids: list[int] | None = None
        self._ids_version = -1
        self.jobs_mtime_ns = datetime_ns(now())

    # -- lookup ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, name: str) -> JobEntry:
        """The job called ``name``.

        Raises:
            NotFound: no such job.
        """
        entry = self._by_name.get(name)
        if entry is None:
            raise NotFound(f"job not found: {name}")
        return entry

    def by_id(self, job_id: int) -> JobEntry | None:
        return self.entries.get(job_id)

    def sorted_ids(self) -> list[int]:
        """The job ids in ascending order (cached until the set of jobs changes; do not mutate)."""
        if self._ids_version != self.jobs_version or self._ids is None:
            self._ids = list(self.entries)
            self._ids_version = self.jobs_version
        return self._ids

    def __iter__(self) -> Iterator[JobEntry]:
        """Jobs in ascending id order (ids only grow, so insertion order is id order)."""
        return iter(list(self.entries.values()))

    def local(self, at: datetime) -> datetime:
        """``at`` in the display zone (``default_tz``, else the server's local zone)."""
        return at.astimezone(self.default_tz) if self.default_tz is not None else at.astimezone()

    def timestamp(self, at: datetime | None) -> str:
        """``at`` in the log-line timestamp shape (local zone), or ``-``."""
        return "-" if at is None else format_timestamp(self.local(at))

    def entry_line(self, at_ns: int, text: str) -> str:
        """A log entry ``<timestamp>:<text>`` stamped ``at_ns`` (ns since the epoch, local zone)."""
        return format_entry(self.local(ns_datetime(at_ns)), text, nanosecond=at_ns % 1_000_000_000)

    def parse_schedule(self, expression: str, now: datetime | None = None) -> schedules.Schedule:
        """Parse (and validate) an expression; equal results are shared between jobs.

        Raises:
            InvalidArgument: the expression is invalid (``ScheduleError``'s message).
        """
        parsed = schedules.parse(expression, default_tz=self.default_tz, now=now)
        return self._schedules.setdefault(parsed.expression, parsed)

    def _stored_schedule(self, expression: str, created: datetime) -> schedules.Schedule:
        """A stored (already validated) expression: shared if seen, else parsed as of creation."""
        known = self._schedules.get(expression)
        return known if known is not None else self.parse_schedule(expression, now=created)

    # -- load -----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every job from the store (called once, before serving).

        Raises:
            StorageError: the store cannot be read.
        """
        for record in await self.store.load_jobs():
            created = ns_datetime(record.created_ns)
            try:
                # Judged at creation time, so a job whose schedule has run out still loads.
                sched = self._stored_schedule(record.schedule, created)
            except InvalidArgument as exc:
                log.warning("job %s: stored schedule no longer parses (%s); skipped",
                            record.name, exc, extra={"job": record.name})
                continue
            job = Job(
                id=record.id, name=record.name, command=record.command, schedule=sched,
                started=record.started, settings=record.settings, created_at=created,
                last_fire=None if record.last_fire_ns is None else ns_datetime(record.last_fire_ns),
            )
            entry = JobEntry(job, record.created_ns, record.changed_ns)
            entry.log_bytes = record.log_bytes
            entry.log_end = record.log_end
            entry.log_mtime_ns = record.log_mtime_ns
            entry.fire_saved_ns = record.last_fire_ns
            self._add(entry)
            self.jobs_mtime_ns = max(self.jobs_mtime_ns, record.created_ns)

    def _add(self, entry: JobEntry) -> None:
        self.entries[entry.job.id] = entry
        self._by_name[entry.job.name] = entry

    # -- create ---------------------------------------------------------------------------------

    async def clone(self, data: bytes) -> JobEntry:
        """Create a job from a clone message ``name:schedule:command``.

        Raises:
            InvalidArgument: malformed message, name, schedule or command; nothing created.
            Exists: a job of that name exists.
            StorageError, NoSpace: the commit failed; nothing created.
        """
        name, expression, command = parse_definition(data)
        return await self.create(name, expression, command)

    async def create(
        self, name: str, expression: str, command: str, *, started: bool = False
    ) -> JobEntry:
        """Create a job (stopped unless ``started``), durably.

        Raises:
            InvalidArgument: bad name, schedule or command.
            Exists: a job of that name exists.
            StorageError, NoSpace: the commit failed; nothing created.
        """
        check_name(name)
        sched = self.parse_schedule(expression)
        check_command(command)
        if name in self._by_name or name in self._reserved:
            raise Exists(f"job exists: {name}")
        if self.max_jobs is not None and len(self.entries) + len(self._reserved) >= self.max_jobs:
            log.warning("job %s refused: too many jobs (limit %d)", name, self.max_jobs,
                        extra={"job": name})  # fmt: skip
            raise NoSpace(f"too many jobs (limit {self.max_jobs})")
        now = self.now()
        now_ns = datetime_ns(now)
        settings = JobSettings(output_limit=self.output_limit)
        record = JobRecord(0, name, command, sched.expression, started, settings, now_ns, now_ns)
        self._reserved.add(name)
        try:
            job_id = await self.store.create_job(record)
        finally:
            self._reserved.discard(name)
        job = Job(job_id, name, command, sched, started, settings, now, None)
        entry = JobEntry(job, now_ns, now_ns)
        self._add(entry)
        self.jobs_version += 1
        self.jobs_mtime_ns = now_ns
        if self.scheduler is not None:
            self.scheduler.add(job)
        log.info("job created: %s", name, extra={"job": name})
        return entry

    # -- per-job operations ---------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(self, entry: JobEntry) -> AsyncIterator[Job]:
        job = entry.job
        lock = self._locks.setdefault(job.id, trio.Lock())
        try:
            async with lock:
                if job.deleted:
                    raise NotFound(f"job not found: {job.name}")
                yield job
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(job.id, None)

    def _record(self, job: JobEntry | Job, **changes: object) -> JobRecord:
        j = job.job if isinstance(job, JobEntry) else job
        record = JobRecord(
            j.id, j.name, j.command, j.schedule.expression, j.started, j.settings, 0, 0,
            None if j.last_fire is None else datetime_ns(j.last_fire),
        )
        for key, value in changes.items():
            setattr(record, key, value)
        return record

    async def set_started(self, entry: JobEntry, started: bool) -> None:
        """``start``/``stop``: persist the state, then (un)schedule and log ``started``/``stopped``.

        Raises:
            NotFound: the job was deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        async with self._locked(entry) as job:
            if job.started == started:
                return
            now_ns = self.now_ns()
            await self.store.update_job(self._record(job, started=started, changed_ns=now_ns))
            job.started = started
            entry.changed_ns = entry.status_ns = now_ns
            entry.v_ctl += 1
            entry.v_status += 1
            entry.v_schedule += 1
            if self.scheduler is not None:
                (self.scheduler.start if started else self.scheduler.stop)(job)
            word = "started" if started else "stopped"
            self.sink.append(job, [self.entry_line(now_ns, word)])
            log.info("job %s: %s", job.name, word, extra={"job": job.name})

    async def set_command(self, entry: JobEntry, command: str) -> None:
        """Replace the command.

        Raises:
            InvalidArgument: empty command; nothing changed.
            NotFound: the job was deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        check_command(command)
        async with self._locked(entry) as job:
            if command == job.command:
                return
            now_ns = datetime_ns(self.now())
            await self.store.update_job(self._record(job, command=command, changed_ns=now_ns))
            job.command = command
            entry.changed_ns = entry.status_ns = now_ns
            entry.v_cmd += 1
            if self.scheduler is not None:
                self.scheduler.reschedule(job)

    async def set_schedule(self, entry: JobEntry, text: str) -> None:
        """Replace the schedule (the text of a ``schedule`` file write); reschedules if started.

        Raises:
            InvalidArgument: invalid expression; nothing changed.
            NotFound: the job was deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        sched = self.parse_schedule(schedule_expression(text))
        async with self._locked(entry) as job:
            if sched.expression == job.schedule.expression and sched.tz == job.schedule.tz:
                return
            now_ns = datetime_ns(self.now())
            await self.store.update_job(
                self._record(job, schedule=sched.expression, changed_ns=now_ns)
            )
            job.schedule = sched
            entry.changed_ns = entry.status_ns = now_ns
            entry.v_schedule += 1
            entry.v_status += 1
            if self.scheduler is not None:
                self.scheduler.reschedule(job)

    async def ctl(self, entry: JobEntry, data: bytes) -> None:
        """Apply a ctl message: a verb (case-insensitive) and its arguments, one trailing newline
        ignored; a setting verb (``timeout``, ``env``, ...) goes to ``set_setting``.

        Raises:
            InvalidArgument: unknown verb, or invalid arguments; nothing changed.
            NotFound: the job was deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        verb, args = split_ctl(decode(data, "ctl message"))
        if verb in SETTING_VERBS:
            await self.set_setting(entry, verb, args)
            return
        if args.strip() and verb in VERBS:
            raise InvalidArgument(f"{verb}: takes no arguments")
        if verb == "start" or verb == "stop":
            await self.set_started(entry, verb == "start")
        elif verb == "run":
            async with self._locked(entry) as job:
                if self.scheduler is not None:
                    self.scheduler.run_now(job)
        elif verb == "kill":
            async with self._locked(entry) as job:
                if self.scheduler is not None:
                    await self.scheduler.kill(job)
        elif verb == "delete":
            await self.delete(entry)
        else:
            raise InvalidArgument(f"unknown ctl verb {verb[:40]!r}; expected one of "
                                  + ", ".join(VERBS + SETTING_VERBS))

    async def set_setting(self, entry: JobEntry, verb: str, args: str) -> None:
        """Apply a setting message (``timeout 30s``, ``env NAME=value``, ...; see ``_settings``):
        validated, persisted, then in effect from the next run (``history`` trims at once).

        Raises:
            InvalidArgument: unknown setting or invalid arguments; nothing changed.
            NotFound: the job was deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        async with self._locked(entry) as job:
            settings = apply_setting(job.settings, verb, args)
            if settings == job.settings:
                return
            now_ns = self.now_ns()
            await self.store.update_job(self._record(job, settings=settings, changed_ns=now_ns))
            job.settings = settings
            entry.changed_ns = entry.status_ns = now_ns
            entry.v_status += 1
            shown = args.partition("=")[0].strip() if verb == "env" else args.strip()[:200]
            log.info("job %s: %s %s", job.name, verb, shown, extra={"job": job.name})  # no values
            if verb == "history":
                try:
                    await self.sink.trim(job)
                except JobdError as exc:  # the setting stands; the next append trims
                    log.warning("job %s: log not trimmed yet: %s", job.name, exc,
                                extra={"job": job.name})  # fmt: skip

    async def delete(self, entry: JobEntry) -> None:
        """Delete the job durably with its history; kill its running instance.

        Raises:
            NotFound: already deleted.
            StorageError, NoSpace: the commit failed; nothing changed.
        """
        async with self._locked(entry) as job:
            await self.store.delete_job(job.id)
            job.deleted = True
            del self.entries[job.id]
            del self._by_name[job.name]
            self.sink.forget(job.id)
            now_ns = datetime_ns(self.now())
            self.jobs_version += 1
            self.jobs_mtime_ns = now_ns
            entry.v_ctl += 1
            entry.v_status += 1
            log.info("job deleted: %s", job.name, extra={"job": job.name})
            if self.scheduler is not None:
                # The job is gone already; a cancelled request must not leave its run behind.
                with trio.CancelScope(shield=True):
                    await self.scheduler.remove(job)

    # -- log ------------------------------------------------------------------------------------

    def log_size(self, entry: JobEntry) -> int:
        """The size of ``log``: its stream position after the last line, appended or buffered
        (``_store`` rule 4). That is the true length until the bound first trims the log; from
        then on it counts every byte the log ever held, so it never shrinks and a follower that
        compares it with its offset (``tail -f``) keeps its place."""
        return entry.log_end + entry.pending_log_bytes

    async def read_log_range(self, entry: JobEntry, start: int, count: int) -> tuple[int, bytes]:
        """Up to ``count`` bytes of the log stream from position ``start`` (from the first
        retained line after it where ``start`` was trimmed); returns the position of the first
        byte returned and the bytes. Buffered lines are committed before they are returned.

        Raises:
            NotFound: the job was deleted.
            StorageError: the store cannot be read.
        """
        if entry.job.deleted:
            raise NotFound(f"job not found: {entry.job.name}")
        return await self.sink.read_range(entry.job.id, start, count)

    async def read_log(self, entry: JobEntry) -> bytes:
        """The retained log as it stands now, one entry per line, oldest first: one range read
        of all of it (its buffered lines committed first, so what is returned survives a crash;
        see _logsink rule 3).

        Raises:
            NotFound: the job was deleted.
            StorageError: the store cannot be read.
        """
        start = entry.log_end - entry.log_bytes
        _, data = await self.read_log_range(entry, start, entry.log_bytes + entry.pending_log_bytes)
        return data
