"""Pure scheduling decisions: what runs now, what was missed, when to fire next (time is given).

Rules this module keeps:
1. Nothing here reads a clock, sleeps or spawns; every function is a function of (schedule,
   instants, now), so tests need no clock at all.
2. ``watermark`` (persisted as ``Job.last_fire``) is the latest scheduled instant already handled
   (run, skipped, or counted missed); nothing at or before it fires again, so a wall clock that
   jumps back never repeats a run.
3. Of the instants due by ``now`` only the latest runs, and only if it is at most ``tolerance``
   old (or catch-up is asked for at start-up); the others are missed, counted and logged once:
   a blocked loop or a clock jump forward never causes a burst of catch-up runs.
4. Counting is bounded: at most ``cap`` instants are enumerated ("at least N" beyond that) and the
   latest missed instant is found by binary search, so an every-second job that was down for a year
   costs ~40 schedule look-ups, not 31 million.
5. When the wall clock steps back by D, each job's timeline steps back with it
   (``rewind_watermark``): its next fire becomes the first instant at or after (its pending next
   fire - D), and after now. So a job keeps its pace in real time: nothing fires sooner than it
   would have without the step, no instant that ran repeats within less than D, and a job whose
   period is shorter than D keeps firing at the new wall times instead of going silent until the
   clock catches up (an every-second job after a 1 h step back fires every second; a daily job
   does not repeat today's run). A restart behind the last watermark applies the same rule with
   D = watermark - now (the least the clock went back).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "LATE_TOLERANCE",
    "MISSED_COUNT_CAP",
    "DuePlan",
    "Missed",
    "ScheduleLike",
    "StartupPlan",
    "first_fire",
    "latest_not_after",
    "plan_due",
    "plan_startup",
    "rewind_watermark",
]

LATE_TOLERANCE = timedelta(seconds=2)
MISSED_COUNT_CAP = 100
_SECOND = timedelta(seconds=1)


class ScheduleLike(Protocol):
    """The part of ``jobd_core.schedule.Schedule`` the scheduler uses."""

    def iter_after(self, start: datetime) -> Iterator[datetime]: ...

    def next_after(self, start: datetime) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Missed:
    """How many scheduled instants were missed (``at_least``: the count was capped)."""

    count: int = 0
    at_least: bool = False

    def __bool__(self) -> bool:
        return self.count > 0

    def describe(self) -> str:
        """``1 run``, ``3 runs``, ``at least 100 runs``."""
        noun = "run" if self.count == 1 and not self.at_least else "runs"
        return f"{'at least ' if self.at_least else ''}{self.count} {noun}"


NOTHING_MISSED = Missed()


@dataclass(frozen=True, slots=True)
class DuePlan:
    """What to do with a due instant: run one (or none), the misses, the new watermark and next."""

    run: datetime | None
    missed: Missed
    watermark: datetime
    next_fire: datetime | None


@dataclass(frozen=True, slots=True)
class StartupPlan:
    """A started job at start-up: misses while down, the instant to run now (if any), and next."""

    missed: Missed
    run: datetime | None
    watermark: datetime | None
    next_fire: datetime | None


def first_fire(
    schedule: ScheduleLike, now: datetime, watermark: datetime | None
) -> datetime | None:
    """The next fire strictly after the second containing ``now`` and after ``watermark``."""
    base = now if watermark is None or watermark < now else watermark
    return schedule.next_after(base)


def plan_due(
    schedule: ScheduleLike,
    due: datetime,
    now: datetime,
    *,
    tolerance: timedelta = LATE_TOLERANCE,
    cap: int = MISSED_COUNT_CAP,
    catchup: bool = False,
) -> DuePlan:
    """Handle the instant ``due`` (<= ``now``) and any later ones that are also due by ``now``.

    Only the latest due instant runs, and only when it is within ``tolerance`` of ``now`` (or
    ``catchup``); the earlier ones are missed. When on time, the next fire is the first instant
    after ``due``, so no instant is skipped silently.
    """
    count, latest, nxt, capped = 0, due, None, False
    for t in schedule.iter_after(due):
        if t > now:
            nxt = t
            break
        count += 1  # the previous latest is overtaken: missed
        latest = t
        if count >= cap:
            capped = True
            break
    if capped:
        latest = latest_not_after(schedule, latest, now) or latest
        nxt = schedule.next_after(latest)
    run = latest if catchup or latest >= now - tolerance else None
    missed = Missed(count + (0 if run is not None else 1), capped)
    return DuePlan(run, missed, latest, nxt)


def latest_not_after(
    schedule: ScheduleLike, after: datetime, now: datetime
) -> datetime | None:
    """The latest instant in (``after``, ``now``], by binary search over whole seconds."""
    # Arithmetic in UTC: in a zone with DST, Python adds and compares same-zone datetimes by wall
    # clock and ignores the fold, which would misplace the search in a repeated hour.
    after, now = after.astimezone(UTC), now.astimezone(UTC)
    first = schedule.next_after(after)
    if first is None or first > now:
        return None
    lo, hi = 0, max(1, int((now - after) / _SECOND) + 1)  # next_after(after + hi s) > now
    while hi - lo > 1:
        mid = (lo + hi) // 2
        t = schedule.next_after(after + mid * _SECOND)
        if t is not None and t <= now:
            lo = mid
        else:
            hi = mid
    return schedule.next_after(after + lo * _SECOND)


def plan_startup(
    schedule: ScheduleLike,
    watermark: datetime | None,
    now: datetime,
    *,
    catchup: str = "off",
    tolerance: timedelta = LATE_TOLERANCE,
    cap: int = MISSED_COUNT_CAP,
) -> StartupPlan:
    """A started job being loaded at ``now``, last handled at ``watermark``.

    Instants in (watermark, now] were missed while jobd was down. The latest of them runs anyway
    when it is within ``tolerance`` (a quick restart) or when ``catchup == "latest"``; the others
    are counted. Without a watermark nothing can be judged missed.
    """
    if watermark is None:
        return StartupPlan(NOTHING_MISSED, None, None, first_fire(schedule, now, None))
    if watermark > now:  # the clock went back while jobd was down (rule 5)
        watermark = rewind_watermark(schedule, watermark, None, now, watermark - now) or watermark
    first = schedule.next_after(watermark)
    if first is None or first > now:
        # nothing in (watermark, now]: the first instant after the watermark is also the first
        # after now (instants are whole seconds), which saves a second look-up per job at start-up
        return StartupPlan(NOTHING_MISSED, None, watermark, first)
    plan = plan_due(
        schedule, first, now, tolerance=tolerance, cap=cap, catchup=catchup == "latest"
    )
    return StartupPlan(plan.missed, plan.run, plan.watermark, plan.next_fire)


def rewind_watermark(
    schedule: ScheduleLike,
    watermark: datetime | None,
    next_fire: datetime | None,
    now: datetime,
    step: timedelta,
) -> datetime | None:
    """The watermark after the wall clock stepped back by ``step`` to ``now`` (rule 5).

    ``next_fire`` is the fire that was pending before the step (None: the one after
    ``watermark``). With the result ``w``, the job's next fire is ``schedule.next_after(w)``: the
    first instant at or after ``next_fire - step`` (to the second). It may be due already when
    the step was noticed late; it is then handled as any late instant (``plan_due``).
    """
    if watermark is None or watermark <= now - step:
        return watermark  # nothing handled lies ahead of the new now
    pending = next_fire if next_fire is not None else schedule.next_after(watermark)
    if pending is None:
        return watermark  # the schedule has run out: nothing to rewind
    # next_after(x) is strictly after the second containing x: one second less keeps the target
    return pending - step - _SECOND
