"""Runs of jobs: the attempts of one fire (replace, jitter, retries, timeout) and their killing.

Rules this module keeps:
1. One ``Run`` per fire that goes ahead. It sits in its job's slot from the fire until its last
   attempt ended, so the overlap policy sees it also while it waits (jitter, a replaced run
   dying, a retry's back-off).
2. A halted run starts nothing more (``stop``, ``kill``, delete, shutdown): its waits end at
   once; a process already running goes on unless it is killed.
3. Killing is a task of its own in the scheduler's nursery: SIGTERM to the process group,
   SIGKILL after the grace, then the group is waited for and reaped. A caller that stops waiting
   (a flushed 9P request) never cuts the escalation short; a second kill joins the first.
4. A timeout terminates the current attempt's group the same way; the attempt counts as failed
   and is retried if retries are left. A killed run is never retried.
5. Lateness is measured from the scheduled instant plus the jitter delay chosen for it (jobd's
   own delay, not the one asked for); retries are not fires and do not count as late.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Protocol

import trio

from ._clock import NS_PER_S, WallClock, datetime_from_ns, ns_from_datetime
from ._logline import format_entry_ns
from ._metrics import Metrics
from ._model import Job, JobSettings
from ._runner import (
    OutputLines,
    RunSpec,
    Spawner,
    describe_returncode,
    group_alive,
    reap_group,
    supervise,
)
from ._settings import format_duration

__all__ = ["MAX_BACKOFF", "LogSink", "Run", "RunTasks", "Slot", "signal_group"]

log = logging.getLogger(__name__)

MAX_BACKOFF = 86400.0  # seconds: the longest wait before a retry
_KILL_POLL = 0.02
_REAP_AFTER_KILL = 1.0  # seconds to wait for a SIGKILLed group to disappear


class LogSink(Protocol):
    """Where the scheduler writes log entries and reports runtime changes (the registry's sink)."""

    def append(self, job: Job, lines: list[str]) -> None: ...

    async def flush(self) -> None: ...

    def job_changed(self, job: Job) -> None: ...


@dataclass(eq=False, slots=True)
class Run:
    """One fire that goes ahead, through all its attempts."""

    scheduled: datetime
    delay: float = 0.0  # jitter: seconds after ``scheduled`` the first attempt is due
    replaces: tuple[Run, ...] = ()  # runs being killed for it (``overlap replace``)
    pgid: int | None = None  # the current attempt's process group, while its leader runs
    attempt_done: trio.Event = field(default_factory=trio.Event)  # its leader was reaped
    timed_out: bool = False  # the current attempt exceeded the timeout
    halted: bool = False
    wake: trio.Event = field(default_factory=trio.Event)  # set when halted: waits end
    changed: trio.Event = field(default_factory=trio.Event)  # pgid set/cleared or run over
    done: trio.Event = field(default_factory=trio.Event)
    kill_done: trio.Event | None = None  # a kill was asked for; set when it finished
    kill_grace: float = 0.0  # the shortest grace asked for
    grace_scope: trio.CancelScope | None = None  # the kill's wait between SIGTERM and SIGKILL

    def halt(self) -> None:
        """Nothing more starts from this run (rule 2)."""
        self.halted = True
        self.wake.set()

    def poke(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def pause(self, seconds: float) -> bool:
        """Wait ``seconds``; False if the run was halted before or meanwhile."""
        if not self.halted:
            with trio.move_on_after(seconds):
                await self.wake.wait()
        return not self.halted


@dataclass(eq=False, slots=True)
class Slot:
    """The scheduler's per-job state: its heap generation and its runs (oldest first)."""

    job: Job
    seq: int = -1
    runs: list[Run] = field(default_factory=list)


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


async def _group_gone(pgid: int, leader_done: trio.Event) -> None:
    """Until the leader was reaped and the whole group is gone (reaping the group's orphans)."""
    await leader_done.wait()  # reaping before the leader's own wait would steal its status
    while True:
        reap_group(pgid)
        if not group_alive(pgid):
            return
        await trio.sleep(_KILL_POLL)


class RunTasks:
    """The run side of ``Scheduler`` (a mixin): executing, timing out and killing runs."""

    _sink: LogSink
    _clock: WallClock
    _spawner: Spawner
    _shell: str
    _log_tz: tzinfo | None
    _linger: float
    _nursery: trio.Nursery | None
    _closing: bool
    _orphan_groups: set[int]
    metrics: Metrics

    def _wake(self, fire_ns: int | None = None) -> None:
        raise NotImplementedError

    # -- a run, from its fire to its last attempt --------------------------------------------

    async def _execute(self, slot: Slot, run: Run) -> None:
        job = slot.job
        try:
            if await self._ready(run):
                await self._attempts(job, run)
        finally:
            if run in slot.runs:
                slot.runs.remove(run)
            run.done.set()
            run.poke()

    async def _ready(self, run: Run) -> bool:
        """Wait for the runs it replaces to be gone, then for its jitter delay."""
        for old in run.replaces:
            await old.done.wait()
            if old.kill_done is not None:
                await old.kill_done.wait()
        if run.delay > 0 and not await run.pause(run.delay):
            return False
        return not (run.halted or self._closing)

    async def _attempts(self, job: Job, run: Run) -> None:
        attempt = 0
        while not await self._attempt(job, run, attempt):
            retries = job.settings.retries
            if run.halted or self._closing or attempt >= retries:
                return
            wait = min(job.settings.backoff * 2**attempt, MAX_BACKOFF)
            self._log(job, f"retry {attempt + 1} of {retries} in {format_duration(wait)}")
            if not await run.pause(wait) or self._closing:
                self._log(job, "retry cancelled")
                return
            attempt += 1
            job.runtime.retried += 1

    async def _attempt(self, job: Job, run: Run, attempt: int) -> bool:
        """One process of the run; True if it exited 0."""
        settings = job.settings
        spec = RunSpec(
            job.name, job.command, run.scheduled, self._shell,
            env=settings.env, cwd=settings.workdir, attempt=attempt + 1,
        )
        done = run.attempt_done = trio.Event()
        run.timed_out = False
        try:
            process = await self._spawner.spawn(spec)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self._spawn_failed(job, exc, spec)
            return False
        run.pgid = process.pgid
        run.poke()
        self._started(job, run, process.pid, self._clock.now_ns(), first=attempt == 0)
        try:
            async with trio.open_nursery() as nursery:
                watch = trio.CancelScope()
                if settings.timeout > 0:
                    nursery.start_soon(self._watch, job, run, settings, watch)
                try:
                    returncode = await supervise(
                        process, OutputLines(settings.output_limit),
                        lambda texts: self._log_texts(job, texts), linger=self._linger,
                    )
                finally:
                    done.set()
                    watch.cancel()
        except Exception:  # a bug here must not take the scheduler (and every job) down
            log.exception("job %s: run supervision failed", job.name, extra={"job": job.name})
            self._ended(job, process.pid, "failed: internal error", None)
            return False
        finally:
            run.pgid = None
            run.poke()
        result = describe_returncode(returncode)
        self._ended(job, process.pid, result, settings.timeout if run.timed_out else None)
        if group_alive(process.pgid):
            self._orphan_groups.add(process.pgid)  # background children: reaped as they end
            self._wake()
        return result == "exit 0"

    async def _watch(
        self, job: Job, run: Run, settings: JobSettings, scope: trio.CancelScope
    ) -> None:
        """The timeout of one attempt: once it passes, terminate the attempt's group."""
        pgid, done = run.pgid, run.attempt_done
        with scope:
            await trio.sleep(settings.timeout)
        if scope.cancelled_caught or done.is_set() or pgid is None:
            return
        run.timed_out = True
        job.runtime.timeouts += 1
        self.metrics.job_timeouts.inc()
        self._log(job, f"timed out after {format_duration(settings.timeout)}")
        log.warning("job %s timed out after %s", job.name, format_duration(settings.timeout),
                    extra={"job": job.name})  # fmt: skip
        with trio.CancelScope(shield=True):  # the attempt ending must not cut the kill short
            await self._terminate(pgid, settings.kill_grace, done)

    # -- killing -----------------------------------------------------------------------------

    def _request_kill(self, run: Run, grace: float) -> trio.Event:
        """Halt ``run`` and kill its process group in a task of its own (rule 3); the event is
        set once the run is over and its group gone."""
        run.halt()
        if run.kill_done is not None:  # already being killed: a shorter grace still applies
            run.kill_grace = min(run.kill_grace, grace)
            if run.grace_scope is not None:
                deadline = trio.current_time() + grace
                run.grace_scope.deadline = min(run.grace_scope.deadline, deadline)
        else:
            run.kill_grace = grace
            run.kill_done = trio.Event()
            try:
                if self._nursery is None:
                    raise RuntimeError("the scheduler is not running")
                self._nursery.start_soon(self._kill, run, run.kill_done)
            except RuntimeError:  # not running (or over): a pending run never starts anyway
                run.kill_done.set()
        return run.kill_done

    async def _kill(self, run: Run, finished: trio.Event) -> None:
        try:
            while run.pgid is None and not run.done.is_set():
                await run.changed.wait()  # a spawn in progress ends, or the run is over
            if run.pgid is not None:
                await self._terminate(run.pgid, run.kill_grace, run.attempt_done, run)
            await run.done.wait()
        finally:
            finished.set()

    async def _terminate(
        self, pgid: int, grace: float, leader_done: trio.Event, run: Run | None = None
    ) -> None:
        signal_group(pgid, signal.SIGTERM)
        with trio.move_on_after(grace) as scope:
            if run is not None:
                run.grace_scope = scope
            await _group_gone(pgid, leader_done)
        if not (leader_done.is_set() and not group_alive(pgid)):
            signal_group(pgid, signal.SIGKILL)
        await leader_done.wait()
        with trio.move_on_after(_REAP_AFTER_KILL):
            await _group_gone(pgid, leader_done)
        if group_alive(pgid):
            self._orphan_groups.add(pgid)
            self._wake()

    # -- runtime and log ---------------------------------------------------------------------

    def _started(self, job: Job, run: Run, pid: int, started_ns: int, *, first: bool) -> None:
        runtime = job.runtime
        runtime.running_pids += (pid,)
        runtime.running_pid = pid
        runtime.last_start = datetime_from_ns(started_ns)
        runtime.run_count += 1
        self.metrics.runs.inc()
        if first:
            due_ns = ns_from_datetime(run.scheduled) + round(run.delay * NS_PER_S)
            runtime.last_lateness = (started_ns - due_ns) / NS_PER_S
            self.metrics.fire_lateness.observe(runtime.last_lateness)
        self._sink.job_changed(job)

    def _ended(self, job: Job, pid: int, result: str, timeout: float | None) -> None:
        if result != "exit 0":
            self._log(job, result)
            reason = self.metrics.run_failed(result if timeout is None else "timed out")
            if reason in ("exit", "signal"):  # timeouts, internal errors: logged where they happen
                log.warning("job %s run failed: %s", job.name, result, extra={"job": job.name})
        runtime = job.runtime
        runtime.running_pids = tuple(p for p in runtime.running_pids if p != pid)
        runtime.running_pid = runtime.running_pids[-1] if runtime.running_pids else None
        runtime.last_end = self._clock.now()
        runtime.last_result = (
            result if timeout is None else f"timed out after {format_duration(timeout)}"
        )
        self._sink.job_changed(job)

    def _spawn_failed(self, job: Job, exc: BaseException, spec: RunSpec) -> None:
        self.metrics.run_failures.inc("start")
        if isinstance(exc, OSError) and spec.cwd is not None and exc.filename == spec.cwd:
            reason = f"dir {spec.cwd}: {exc.strerror}"
        else:
            reason = str(exc)
        log.warning("job %s failed to start: %s", job.name, reason, extra={"job": job.name})
        self._log(job, f"failed to start: {reason}")
        job.runtime.last_result = "failed to start"
        job.runtime.last_end = self._clock.now()
        self._sink.job_changed(job)

    def _log(self, job: Job, text: str) -> None:
        self._log_texts(job, [text])

    def _log_texts(self, job: Job, texts: list[str]) -> None:
        now_ns = self._clock.now_ns()
        self._sink.append(job, [format_entry_ns(now_ns, text, self._log_tz) for text in texts])
