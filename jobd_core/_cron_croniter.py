"""The one module that owns croniter: wall-clock calendar search for a parsed ``CronSpec``.

Rules this module keeps:
1. croniter only ever sees an expression this module writes from the expanded spec: explicit value
   lists, never the user's text, so croniter's own reading of ranges and steps never matters.
2. Calendar math here is on naive wall-clock datetimes (no zone); DST is the caller's business.
3. Every croniter answer is checked against the spec's own day predicate, so a croniter false
   positive can never fire; every search is bounded by the year 2099.
4. Compiled searches are shared between schedules (and threads): each search step holds a lock.

Measured facts (croniter 7.0.0, from 2026-11-28), and who handles what:
- 6 fields: croniter reads them as ``min hour dom mon dow SEC`` (``0 0 1 1 * 2030`` is "out of
  range"), or with ``second_at_beginning`` as ``SEC min hour dom mon dow``; cronexpr's 6th field
  is a YEAR. We always pass six fields ``sec min hour dom mon dow`` with ``second_at_beginning``.
- Years: with a 7th field, croniter finds nothing for ``0 0 0 1 1 * 2027`` or ``... 2099``
  (CroniterBadDateError, even with ``max_years_between_matches=100``). jobd handles the YEAR
  field itself (jump to the next allowed year, stop after 2099); croniter never sees a year.
- Ranges and steps: croniter reads ``5-5`` and ``5-1`` (dom) as every day and ``*/60`` (minutes)
  as hourly. jobd expands fields itself (``_cron_parse``) and passes value lists.
- ``LW``, ``5L`` (croniter spells it ``L5``) and ``L`` alone in day-of-week are refused. croniter
  accepts ``nW`` but fires ``31W`` on Feb 27, where cronexpr skips months without day 31. jobd
  evaluates ``W``/``LW``: croniter gets a superset of candidate days (n-2..n+2, 26..L), and the
  spec's predicate picks the right one.
- Day-field union: croniter drops it when ``L`` or ``Ln``/``n#k`` is involved (``L * 1`` misses
  Dec 31 2026, ``1 * 1#1`` fires only on first Mondays, ``L * L5`` only on last Fridays), and it
  refuses literal weekdays mixed with ``Ln``/``n#k`` (``4,5#5``). jobd runs one croniter search per
  part (day-of-month; literal weekdays; ``Ln``/``n#k``) and takes the earliest.
- Right, and used (cross-checked against croniter itself and a brute-force day scan in the tests):
  value lists in every field, ``L`` in day-of-month, ``Ln``, ``n#k`` and mixes of those two,
  month restrictions, leap days, search from any naive wall time (``set_current``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from croniter import CroniterBadDateError, CroniterError, croniter

from ._cron_parse import MAX_YEAR, CronSpec

logger = logging.getLogger(__name__)

_ONE_SECOND = dt.timedelta(seconds=1)
_ALL_DAYS = frozenset(range(1, 32))
_ALL_WEEKDAYS = frozenset(range(7))


def _join(values: tuple[int, ...] | list[int], full: int) -> str:
    return "*" if len(values) == full else ",".join(str(v) for v in values)


def _dom_field(spec: CronSpec) -> tuple[str, bool]:
    """(croniter day-of-month field, whether it is a superset that needs filtering)."""
    days = set(spec.dom_days)
    for n in spec.dom_nearest_weekday:  # the nearest weekday of day n lies within n-2..n+2
        days |= set(range(max(1, n - 2), min(31, n + 2) + 1))
    if spec.dom_last_weekday:
        days |= set(range(26, 32))
    superset = spec.uses_weekday_rules
    if days >= _ALL_DAYS:
        return "*", superset
    parts = [str(d) for d in sorted(days)] + (["L"] if spec.dom_last else [])
    return ",".join(parts), superset


def _dow_fields(spec: CronSpec) -> list[str]:
    """croniter day-of-week fields; it refuses literal weekdays mixed with ``Ln``/``n#k``."""
    if spec.dow_days >= _ALL_WEEKDAYS:
        return ["*"]
    out = [",".join(str(d) for d in sorted(spec.dow_days))] if spec.dow_days else []
    special = [f"L{d}" for d in sorted(spec.dow_last)]
    special += [f"{d}#{k}" for d, k in sorted(spec.dow_nth)]
    return [*out, ",".join(special)] if special else out


def _branches(spec: CronSpec) -> list[tuple[str, str, bool]]:
    """(dom, dow, needs filtering) per croniter search; their union is the spec's days."""
    if not spec.dom_restricted and not spec.dow_restricted:
        return [("*", "*", False)]
    out = []
    if spec.dom_restricted:
        dom, superset = _dom_field(spec)
        out.append((dom, "*", superset))
    if spec.dow_restricted:
        out += [("*", dow, False) for dow in _dow_fields(spec)]
    return out


def croniter_expressions(spec: CronSpec) -> list[str]:
    """The six-field (seconds first) croniter expressions for everything but the year."""
    times = [_join(spec.seconds, 60), _join(spec.minutes, 60), _join(spec.hours, 24)]
    months = _join(spec.months, 12)
    return [" ".join([*times, dom, months, dow]) for dom, dow, _ in _branches(spec)]


class EngineRefused(Exception):
    """croniter refused an expression this module wrote (a translation gap, not a user error)."""


class _Branch:
    """One croniter search; a superset search is filtered with the spec's day predicate."""

    def __init__(self, expression: str, spec: CronSpec | None) -> None:
        self.expression = expression
        self._filter = spec
        try:
            self._iter = croniter(
                expression,
                dt.datetime(2000, 1, 1),
                ret_type=dt.datetime,
                second_at_beginning=True,
                max_years_between_matches=MAX_YEAR - 1970,
            )
        except CroniterError as e:
            logger.warning("croniter refused %r: %s", expression, e, extra={"cron": expression})
            raise EngineRefused(str(e)) from e

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """Caller holds the lock. None when nothing matches up to the end of 2099."""
        while True:
            self._iter.set_current(after, force=True)
            try:
                found: dt.datetime = self._iter.get_next(dt.datetime)
            except CroniterBadDateError:  # nothing within its search horizon
                return None
            except CroniterError:
                logger.exception("croniter failed on %r after %s", self.expression, after)
                return None
            if found.year > MAX_YEAR:
                return None
            if self._filter is None or self._filter.day_matches(found.year, found.month, found.day):
                return found
            after = _end_of_day(found)


class WallClockSearch:
    """Finds wall-clock matches of one spec. Safe to share: each search runs under a lock."""

    def __init__(self, spec: CronSpec) -> None:
        self._spec = spec
        self._years = frozenset(spec.years)
        self._lock = threading.Lock()
        self._branches = [
            _Branch(expression, spec if superset else None)
            for expression, (_, _, superset) in zip(
                croniter_expressions(spec), _branches(spec), strict=True
            )
        ]

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """The first naive wall-clock time strictly after ``after`` (whole seconds) that matches.

        Returns None when nothing matches up to the end of 2099.
        """
        after = after.replace(microsecond=0)
        while True:
            if after.year > MAX_YEAR:
                return None
            if after.year not in self._years:
                jump = self._next_allowed_year(after.year)
                if jump is None:
                    return None
                after = jump
            candidate = self._earliest(after)
            if candidate is None:
                return None
            if candidate.year not in self._years:
                after = candidate
                continue
            if self._spec.day_matches(candidate.year, candidate.month, candidate.day):
                return candidate
            after = _end_of_day(candidate)  # a croniter false positive: never fire on it

    def _earliest(self, after: dt.datetime) -> dt.datetime | None:
        with self._lock:
            found = [f for b in self._branches if (f := b.next_after(after)) is not None]
        return min(found, default=None)

    def _next_allowed_year(self, year: int) -> dt.datetime | None:
        later = [y for y in self._years if y > year]
        if not later:
            return None
        return dt.datetime(min(later), 1, 1) - _ONE_SECOND


def _end_of_day(moment: dt.datetime) -> dt.datetime:
    return dt.datetime(moment.year, moment.month, moment.day, 23, 59, 59)
