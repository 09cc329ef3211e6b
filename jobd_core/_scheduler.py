"""The trio scheduler: fires started jobs at their scheduled instants, per their overlap policy.

Rules this module keeps:
1. Decisions are ``_plan``'s pure functions of (schedule, now); only ``Scheduler.run``'s loop reads
   the clock and sleeps, and only run tasks spawn processes (off the loop, via ``_runner``).
2. The due set is a heap of (fire_ns, seq, job_id) with lazy invalidation: a job's ``seq`` changes
   whenever it is rescheduled or stopped, and stale heap items are dropped when popped (O(log n)
   per fire; 100k jobs).
3. ``Job.last_fire`` is the watermark (see ``_plan``): set when an instant is handled and when a
   job is started, so a clock jump back never repeats an instant and a restart can tell what was
   missed. Every runtime change is reported with ``sink.job_changed``.
4. Overlap (``settings.overlap``): ``skip`` (the default) skips and logs a fire while a run of
   the job is going; ``allow`` starts it beside (at most ``MAX_CONCURRENT`` at once); ``replace``
   kills the going runs and starts the new one once they are gone. ``stop`` never kills and never
   blocks (runs not started yet and pending retries are dropped); ``kill`` kills every run.
5. All public methods are called from the trio thread; only ``kill``, ``remove`` and ``shutdown``
   wait, and what they wait for (the kill escalation) goes on if the caller is cancelled.
6. Runs themselves (jitter, retries, timeout, killing) are ``_runs``' business.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import signal
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

import trio

from ._clock import StepWatch, SystemClock, WallClock, datetime_from_ns, ns_from_datetime
from ._metrics import Metrics
from ._model import Job
from ._plan import LATE_TOLERANCE, first_fire, plan_due, plan_startup, rewind_watermark
from ._runner import LINGER, Spawner, become_subreaper, default_shell, group_alive, reap_group
from ._runs import LogSink, Run, RunTasks, Slot

__all__ = ["LogSink", "Scheduler"]

log = logging.getLogger(__name__)

ORPHAN_SWEEP = 1.0  # seconds between reaping passes over groups that outlived their run
MAX_CONCURRENT = 16  # runs of one job at once under ``overlap allow``
STRAY_SWEEP = 1.0  # seconds from a SIGCHLD to the reaping pass over processes that left their job
STRAY_PERIOD = 60.0  # seconds between those passes where SIGCHLD is not received (a thread)
FIRE_BATCH = 16  # due jobs planned between two yields to the event loop
ADD_BATCH = 64  # jobs added between two yields at start-up


class Scheduler(RunTasks):
    """Fires started jobs; see the module rules.

    Args:
        sink: receives log entries and runtime-change notices.
        clock: the wall clock (default: the system's).
        shell: the shell for ``SHELL -c COMMAND`` (default ``/bin/bash``, else ``/bin/sh``).
        log_tz: the zone of log timestamps (default: the server's local zone).
        spawner: starts processes (default: a ``Spawner`` with 8 worker threads).
        tolerance: how late an instant may be and still run.
        linger: seconds of output reading after a run's leader exits.
        reap_orphans: make jobd a child subreaper so a job's background children are reaped.
        metrics: where runs, failures, skipped and missed fires and lateness are counted.
        rng: draws the jitter delays (default: a ``random.Random`` of its own).
        stray_sweep: seconds from a SIGCHLD to the pass reaping exited processes that had left
            their job's session (with ``reap_orphans``; see ``_reaper``).
    """

    def __init__(
        self,
        sink: LogSink,
        *,
        clock: WallClock | None = None,
        shell: str | None = None,
        log_tz: tzinfo | None = None,
        spawner: Spawner | None = None,
        tolerance: timedelta = LATE_TOLERANCE,
        linger: float = LINGER,
        reap_orphans: bool = True,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
        stray_sweep: float = STRAY_SWEEP,
    ) -> None:
        self._sink = sink
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock: WallClock = clock if clock is not None else SystemClock()
        self._shell = shell if shell is not None else default_shell()
        self._log_tz = log_tz
        self._spawner = spawner if spawner is not None else Spawner()
        self._tolerance = tolerance
        self._linger = linger
        self._reap_orphans = reap_orphans
        self._rng = rng if rng is not None else random.Random()
        self._stray_sweep = stray_sweep
        self._slots: dict[int, Slot] = {}
        self._heap: list[tuple[int, int, int]] = []
        self._seq = itertools.count()
        self._nursery: trio.Nursery | None = None
        self._pending: list[tuple[Slot, Run]] = []
        self._wake_scope: trio.CancelScope | None = None
        self._target_ns: int | None = None
        self._closing = False
        self._orphan_groups: set[int] = set()
        self._steps = StepWatch()  # wall-clock steps, told from time passing (_clock rule 4)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The main loop: fire due jobs, sleep until the next fire; returns after ``shutdown``.

        Cancelling it kills and reaps every running job's process group.
        """
        if self._reap_orphans:
            become_subreaper()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for slot, run in self._pending:
                nursery.start_soon(self._execute, slot, run)
            self._pending.clear()
            strays = trio.CancelScope()
            if self._reap_orphans:
                nursery.start_soon(self._sweep_strays, strays)
            task_status.started()
            await self._loop()
            strays.cancel()
        self._nursery = None

    async def _sweep_strays(self, scope: trio.CancelScope) -> None:
        """Reap processes that left their job's session once they exit: a pass after each burst of
        SIGCHLD (any child of jobd exited), or every ``STRAY_PERIOD`` off the main thread."""
        with scope:
            if threading.current_thread() is not threading.main_thread():
                while True:
                    await trio.sleep(STRAY_PERIOD)
                    await trio.to_thread.run_sync(self._spawner.leaders.reap_strays)
            with trio.open_signal_receiver(signal.SIGCHLD) as exits:
                async for _ in exits:
                    await trio.sleep(self._stray_sweep)  # one pass for a burst of exits
                    await trio.to_thread.run_sync(self._spawner.leaders.reap_strays)

    async def _loop(self) -> None:
        while not self._closing:
            now = self._clock.now()
            step = self._steps.observe(trio.current_time(), ns_from_datetime(now))
            if step < 0:
                self._stepped_back(now, timedelta(seconds=-step))
            await self._fire_due(now)
            self._sweep_orphans()
            self._target_ns = self._heap[0][0] if self._heap else None
            with trio.CancelScope() as self._wake_scope:
                if self._orphan_groups:
                    self._wake_scope.deadline = trio.current_time() + ORPHAN_SWEEP
                if self._target_ns is None:
                    await trio.sleep_forever()
                else:
                    await self._clock.sleep_until(datetime_from_ns(self._target_ns))
            self._wake_scope = None

    def _wake(self, fire_ns: int | None = None) -> None:
        if self._wake_scope is None:
            return
        if fire_ns is None or self._target_ns is None or fire_ns < self._target_ns:
            self._wake_scope.cancel()

    async def _fire_due(self, now: datetime) -> None:
        """Handle every instant due by ``now``, yielding every ``FIRE_BATCH`` jobs so that runs
        already fired start spawning (and the loop stays responsive) while the rest are planned."""
        now_ns = ns_from_datetime(now)
        handled = 0
        while self._heap and self._heap[0][0] <= now_ns:
            fire_ns, seq, job_id = heapq.heappop(self._heap)
            slot = self._slots.get(job_id)
            if slot is None or slot.seq != seq:
                continue  # stale: rescheduled, stopped or removed since
            try:
                self._handle_due(slot, datetime_from_ns(fire_ns), now)
            except Exception:  # one job's bad schedule must not stop every other job
                log.exception("job %s: cannot handle its fire; unscheduled", slot.job.name)
                self._unschedule(slot)
            handled += 1
            if handled % FIRE_BATCH == 0:
                await trio.lowlevel.checkpoint()
        if len(self._heap) > 2 * len(self._slots) + 1024:
            self._compact()

    def _handle_due(self, slot: Slot, due: datetime, now: datetime) -> None:
        job = slot.job
        plan = plan_due(job.schedule, due, now, tolerance=self._tolerance)
        if plan.missed:
            job.runtime.missed += plan.missed.count
            self.metrics.fires_missed.inc(amount=plan.missed.count)
            late = (now - due).total_seconds()
            self._log(job, f"missed {plan.missed.describe()} (jobd was {late:.1f}s late)")
        job.last_fire = plan.watermark
        if plan.run is not None:
            self._fire(slot, plan.run)
        self._set_next(slot, plan.next_fire)
        self._sink.job_changed(job)

    def _stepped_back(self, now: datetime, step: timedelta) -> None:
        """The wall clock stepped back: every job's timeline steps back with it (_plan rule 5)."""
        log.warning("wall clock stepped back %.1fs: rescheduling", step.total_seconds())
        for slot in list(self._slots.values()):
            job = slot.job
            rewound = rewind_watermark(job.schedule, job.last_fire, job.runtime.next_run, now, step)
            if rewound is None or rewound == job.last_fire:
                continue
            job.last_fire = rewound
            if job.started and job.runtime.next_run is not None:
                self._set_next(slot, job.schedule.next_after(rewound))  # may be due at once
            self._sink.job_changed(job)

    def _compact(self) -> None:
        self._heap = [item for item in self._heap if self._is_live(item)]
        heapq.heapify(self._heap)

    def _is_live(self, item: tuple[int, int, int]) -> bool:
        slot = self._slots.get(item[2])
        return slot is not None and slot.seq == item[1]

    def _sweep_orphans(self) -> None:
        for pgid in list(self._orphan_groups):
            reap_group(pgid)
            if not group_alive(pgid):
                self._orphan_groups.discard(pgid)

    # -- the registry's verbs --------------------------------------------------------------------

    def add(self, job: Job) -> None:
        """Take a loaded or created job; if started, schedule it, first logging the runs it
        missed while jobd was down (and running the latest one if ``settings.catchup`` is
        ``"latest"``, or if it is only just past)."""
        slot = self._slots.get(job.id)
        if slot is None:
            slot = self._slots[job.id] = Slot(job)
        slot.job = job
        if not job.started:
            self._unschedule(slot)
            return
        now = self._clock.now()
        plan = plan_startup(
            job.schedule, job.last_fire, now,
            catchup=job.settings.catchup, tolerance=self._tolerance,
        )
        if plan.missed:
            job.runtime.missed += plan.missed.count
            self.metrics.fires_missed.inc(amount=plan.missed.count)
            self._log(job, f"missed {plan.missed.describe()} while jobd was down")
        job.last_fire = plan.watermark
        if plan.run is not None:
            self._fire(slot, plan.run)
        self._set_next(slot, plan.next_fire)
        self._sink.job_changed(job)

    async def add_many(self, jobs: Iterable[Job]) -> None:
        """``add`` each job, yielding to the loop every ``ADD_BATCH`` jobs (start-up with 100k
        jobs costs ~70 µs each in schedule look-ups; the loop must keep serving meanwhile)."""
        for count, job in enumerate(jobs, 1):
            self.add(job)
            if count % ADD_BATCH == 0:
                await trio.lowlevel.checkpoint()

    def start(self, job: Job) -> None:
        """``job.started`` was set: schedule its first fire after now (nothing before is owed)."""
        slot = self._slot(job)
        now = self._clock.now()
        if job.last_fire is None or job.last_fire < now:
            job.last_fire = now
        self._set_next(slot, first_fire(job.schedule, now, job.last_fire))
        self._sink.job_changed(job)

    def stop(self, job: Job) -> None:
        """Cancel the job's future fires, its runs not started yet (jitter) and its pending
        retries; a running process goes on. Never blocks."""
        slot = self._slot(job)
        self._unschedule(slot)
        for run in slot.runs:
            run.halt()
        self._sink.job_changed(job)

    def reschedule(self, job: Job) -> None:
        """The schedule (or command) changed: recompute the next fire if the job is started."""
        slot = self._slot(job)
        if job.started:
            self._set_next(slot, first_fire(job.schedule, self._clock.now(), job.last_fire))
        else:
            self._unschedule(slot)
        self._sink.job_changed(job)

    def run_now(self, job: Job) -> None:
        """Run the job once now (``run requested``), per its overlap policy; no jitter."""
        self._log(job, "run requested")
        self._fire(self._slot(job), self._clock.now(), jitter=False)

    async def kill(self, job: Job) -> bool:
        """Terminate the job's runs: SIGTERM to each process group, SIGKILL after
        ``settings.kill_grace`` seconds; returns once they are reaped (the killing goes on if the
        caller is cancelled). False if none was going."""
        slot = self._slots.get(job.id)
        runs = list(slot.runs) if slot is not None else []
        if not runs:
            return False
        await self._kill_all(runs, job.settings.kill_grace)
        return True

    async def remove(self, job: Job) -> None:
        """The job was deleted: unschedule it, kill its runs and wait for them."""
        slot = self._slots.get(job.id)
        if slot is None:
            return
        self._unschedule(slot)
        await self._kill_all(list(slot.runs), job.settings.kill_grace)
        if self._slots.get(job.id) is slot:
            del self._slots[job.id]

    async def shutdown(self, grace: float) -> None:
        """Stop firing; give running jobs ``grace`` seconds to end (nothing new starts, retries
        are dropped), then kill their groups."""
        self._closing = True
        self._wake()
        runs = [run for slot in self._slots.values() for run in slot.runs]
        for run in runs:
            run.halt()
        with trio.move_on_after(grace):
            for run in runs:
                await run.done.wait()
        await self._kill_all([run for run in runs if not run.done.is_set()], 0.0)

    async def _kill_all(self, runs: list[Run], grace: float) -> None:
        finished = [self._request_kill(run, grace) for run in runs]
        for event in finished:
            await event.wait()

    # -- fires -----------------------------------------------------------------------------------

    def _fire(self, slot: Slot, scheduled: datetime, *, jitter: bool = True) -> None:
        job = slot.job
        settings = job.settings
        replaces: tuple[Run, ...] = ()
        going = len(slot.runs)
        if going and (settings.overlap == "skip" or going >= MAX_CONCURRENT):
            job.runtime.skipped += 1
            self.metrics.fires_skipped.inc()
            self._log(job, "skipped: previous run still going" if settings.overlap == "skip"
                      else f"skipped: {going} runs still going (at most {MAX_CONCURRENT} at once)")
            return
        if self._closing:
            return
        if going and settings.overlap == "replace":
            replaces = tuple(slot.runs)
            self._log(job, "replacing the previous run")
            for old in replaces:
                self._request_kill(old, settings.kill_grace)
        delay = self._rng.uniform(0, settings.jitter) if jitter and settings.jitter > 0 else 0.0
        run = Run(scheduled, delay=delay, replaces=replaces)
        slot.runs.append(run)
        if self._nursery is None:
            self._pending.append((slot, run))  # add() before run(): started with the loop
        else:
            self._nursery.start_soon(self._execute, slot, run)

    # -- helpers -------------------------------------------------------------------------------

    def _slot(self, job: Job) -> Slot:
        slot = self._slots.get(job.id)
        if slot is None:
            slot = self._slots[job.id] = Slot(job)
        return slot

    def _set_next(self, slot: Slot, when: datetime | None) -> None:
        slot.seq = next(self._seq)
        slot.job.runtime.next_run = when
        if when is None or self._closing:
            return
        fire_ns = ns_from_datetime(when)
        heapq.heappush(self._heap, (fire_ns, slot.seq, slot.job.id))
        self._wake(fire_ns)

    def _unschedule(self, slot: Slot) -> None:
        slot.seq = next(self._seq)
        slot.job.runtime.next_run = None
