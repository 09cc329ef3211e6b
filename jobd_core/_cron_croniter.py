"""The one module that owns croniter: wall-clock calendar search for a parsed ``CronSpec``.

Rules this module keeps:
1. croniter only ever sees an expression this module writes from the expanded spec: explicit value
   lists, never the user's text, so croniter's own reading of ranges and steps never matters.
2. Calendar math here is on naive wall-clock datetimes (no zone); DST is the caller's business.
3. Every croniter answer is checked against the spec's own day predicate, so a croniter false
   positive can never fire; every search is bounded by the year 2099.

Measured facts (croniter 7.0.0), and who handles what:
- croniter reads a 6-field expression as ``min hour dom mon dow SEC`` unless
  ``second_at_beginning``; cronexpr's 6th field is a YEAR. We always pass 6 fields
  ``sec min hour dom mon dow`` with ``second_at_beginning=True`` and keep the year out of croniter.
- croniter rejects year values such as 2030 or 2099 in the year field ("out of range") and its
  search stops after ``max_years_between_matches``; so jobd handles the YEAR field itself (jump
  to the next allowed year, stop after 2099).
- croniter reads ``5-5`` (dom) and ``5-1`` as every day, and ``*/60`` (minutes) as hourly: jobd
  expands ranges and steps itself (``_cron_parse``) and passes lists.
- croniter rejects ``LW`` and ``5L`` (it spells the latter ``L5``), and ``L`` alone in day-of-week;
  its ``31W`` fires on Feb 27 where jobd's rule is "no such day, no fire": jobd evaluates ``W`` and
  ``LW`` itself, handing croniter a superset of candidate days and filtering them.
- croniter handles correctly (cross-checked by the tests): value lists in every field, ``L`` in
  day-of-month, ``Ln`` (last weekday n), ``n#k``, and the day-of-month/day-of-week union.
"""

from __future__ import annotations

import calendar
import datetime as dt
import threading

from croniter import CroniterBadDateError, croniter

from ._cron_parse import MAX_YEAR, CronSpec

_ONE_SECOND = dt.timedelta(seconds=1)
_ALL_DAYS = frozenset(range(1, 32))
_ALL_WEEKDAYS = frozenset(range(7))


def _join(values: tuple[int, ...] | list[int], full: int) -> str:
    return "*" if len(values) == full else ",".join(str(v) for v in values)


def _day_fields(spec: CronSpec) -> tuple[str, str]:
    """croniter's dom and dow fields: exact, or a superset that ``day_matches`` filters."""
    dom: list[str] = []
    dow: list[str] = []
    if spec.dom_restricted:
        days = set(spec.dom_days)
        for n in spec.dom_nearest_weekday:  # the nearest weekday is within n-2..n+2
            days |= set(range(max(1, n - 2), min(31, n + 2) + 1))
        if spec.dom_last_weekday:
            days |= set(range(26, 32))
        if days >= _ALL_DAYS:
            return "*", "*"
        dom = [str(d) for d in sorted(days)]
        if spec.dom_last:
            dom.append("L")
    if spec.dow_restricted:
        if spec.dow_days >= _ALL_WEEKDAYS:
            return "*", "*"
        dow = [str(d) for d in sorted(spec.dow_days)]
        dow += [f"L{d}" for d in sorted(spec.dow_last)]
        dow += [f"{d}#{k}" for d, k in sorted(spec.dow_nth)]
    return ",".join(dom) or "*", ",".join(dow) or "*"


def croniter_expression(spec: CronSpec) -> str:
    """The six-field (seconds first) croniter expression for everything but the year."""
    dom, dow = _day_fields(spec)
    return " ".join(
        [
            _join(spec.seconds, 60),
            _join(spec.minutes, 60),
            _join(spec.hours, 24),
            dom,
            _join(spec.months, 12),
            dow,
        ]
    )


class WallClockSearch:
    """Finds wall-clock matches of one spec. Safe to share: each step runs under a lock."""

    def __init__(self, spec: CronSpec) -> None:
        self._spec = spec
        self._years = frozenset(spec.years)
        self._lock = threading.Lock()
        self._iter = croniter(
            croniter_expression(spec),
            dt.datetime(2000, 1, 1),
            ret_type=dt.datetime,
            second_at_beginning=True,
            max_years_between_matches=MAX_YEAR - 1970,
        )

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
            candidate = self._croniter_next(after)
            if candidate is None or candidate.year > MAX_YEAR:
                return None
            if candidate.year not in self._years:
                after = candidate
                continue
            if self._spec.day_matches(candidate.year, candidate.month, candidate.day):
                return candidate
            after = _end_of_day(candidate)

    def _next_allowed_year(self, year: int) -> dt.datetime | None:
        later = [y for y in self._years if y > year]
        if not later:
            return None
        return dt.datetime(min(later), 1, 1) - _ONE_SECOND

    def _croniter_next(self, after: dt.datetime) -> dt.datetime | None:
        with self._lock:
            self._iter.set_current(after, force=True)
            try:
                result: dt.datetime = self._iter.get_next(dt.datetime)
            except CroniterBadDateError:
                return None
        return result


def _end_of_day(moment: dt.datetime) -> dt.datetime:
    return dt.datetime(moment.year, moment.month, moment.day, 23, 59, 59)


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]
