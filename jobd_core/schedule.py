"""jobd's schedule engine: parse cron expressions (the Go original's syntax), list fire times.

Public API: ``parse``, ``Schedule``, ``ScheduleError``. Rules this module keeps:
1. ``parse`` is total and quick: any text gives a ``Schedule`` or a ``ScheduleError`` whose message
   says what is wrong; an expression that can never fire (``0 0 30 2 *``, past years) is rejected.
2. Fire times are aware datetimes in the schedule's zone, strictly increasing, strictly after the
   second containing the start; they end after 2099 (cronexpr's last year).
3. The DST policy is ``_cron_tz``'s; croniter is ``_cron_croniter``'s alone; the syntax is
   ``_cron_parse``'s.

Syntax summary: ``[TZ=Area/City ]`` then 5 fields ``min hour dom mon dow``, 6 fields (those plus a
trailing YEAR), 7 fields (``sec`` first, year last), or a macro (@yearly @annually @monthly @weekly
@daily @midnight @hourly @minutely).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import _cron_tz
from ._cron_croniter import EngineRefused, WallClockSearch
from ._cron_parse import (
    MAX_EXPRESSION_LENGTH,
    MAX_YEAR,
    MIN_YEAR,
    CronSpec,
    ScheduleError,
    _FieldError,
    parse_spec,
)

__all__ = ["Schedule", "ScheduleError", "parse"]

_TZ_PREFIX = re.compile(r"(?i:TZ)=(\S*)\s+(.*)", re.ASCII | re.DOTALL)
_ALLOWED = re.compile(r"[\x20-\x7e\t]*", re.ASCII)
_SHOWN = 60
_EARLIEST = dt.datetime(MIN_YEAR - 1, 12, 31, tzinfo=dt.UTC)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule, equal when text and zone are equal; usually built by ``parse``.

    Constructing it directly compiles ``expression`` (a ``TZ=`` prefix in it is skipped: ``tz``
    rules) but does not check that it ever fires.

    Raises:
        ScheduleError: the expression is invalid.
    """

    expression: str
    tz: dt.tzinfo
    _spec: CronSpec = field(init=False, repr=False, compare=False)
    _search: WallClockSearch = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = self.expression
        if not isinstance(text, str):
            raise ScheduleError(f"invalid schedule: expected text, got {type(text).__name__}")
        try:
            spec = parse_spec(_split_zone(text, self.tz)[1])
            _check_days_exist(spec)
        except _FieldError as e:
            raise ScheduleError(f"invalid schedule '{_shown(text)}': {e}") from None
        try:
            search = _compile(spec)
        except EngineRefused:
            raise ScheduleError(
                f"invalid schedule '{_shown(text)}': this combination is not supported"
            ) from None
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_search", search)

    def iter_after(self, start: dt.datetime) -> Iterator[dt.datetime]:
        """Fire times strictly after the second containing ``start``, ascending, in ``self.tz``.

        Ends after the last fire time before 2100 (or at once, if there is none). Order is real
        time: Python compares (and subtracts) two datetimes of the same zone by wall time, which
        is wrong across a fall-back repeat, so compare and subtract in UTC (``astimezone``).

        Raises:
            ValueError: ``start`` is naive.
        """
        _require_aware(start)
        clamped = _clamp(start)
        if clamped is None:
            return iter(())
        periodic = len(self._spec.hours) == 24
        return _cron_tz.instants(self._search.next_after, self.tz, periodic, clamped)

    def next_after(self, start: dt.datetime) -> dt.datetime | None:
        """The first fire time of ``iter_after(start)``, or None if there is none.

        Raises:
            ValueError: ``start`` is naive.
        """
        return next(self.iter_after(start), None)


def parse(
    expression: str,
    *,
    default_tz: dt.tzinfo | None = None,
    now: dt.datetime | None = None,
) -> Schedule:
    """Parse a schedule expression (``[TZ=Zone ]fields``; see the module docstring).

    ``default_tz`` is the zone when the text has no ``TZ=`` prefix (default: the server's zone).
    ``now`` (aware; default: the current time) is when "can never fire" is judged.

    Raises:
        ScheduleError: the expression is invalid or never fires after ``now``; ``str(e)`` says why.
    """
    if not isinstance(expression, str):
        raise ScheduleError(f"invalid schedule: expected text, got {type(expression).__name__}")
    text = expression.strip()
    try:
        tz = _split_zone(text, default_tz)[0]
    except _FieldError as e:
        raise ScheduleError(f"invalid schedule '{_shown(text)}': {e}") from None
    schedule = Schedule(text, tz)
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    _require_aware(moment)
    if _surely_fires(schedule._spec, moment):
        return schedule
    if schedule.next_after(moment) is None:
        raise ScheduleError(
            f"invalid schedule '{_shown(text)}': can never fire after {moment:%Y-%m-%d %H:%M:%S %Z}"
        )
    return schedule


@functools.lru_cache(maxsize=4096)
def _compile(spec: CronSpec) -> WallClockSearch:
    """Compiled searches are shared (each step is locked): 100k jobs, few distinct specs."""
    return WallClockSearch(spec)


def _split_zone(text: str, default_tz: dt.tzinfo | None) -> tuple[dt.tzinfo, str]:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _FieldError(f"too long ({len(text)} characters, at most {MAX_EXPRESSION_LENGTH})")
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise _FieldError(f"unexpected character U+{ord(bad):04X}")
    if not text:
        raise _FieldError("empty expression")
    m = _TZ_PREFIX.fullmatch(text)
    if m is None:
        if text.upper().startswith("TZ="):
            raise _FieldError("a TZ= prefix must be followed by the schedule fields")
        return (default_tz if default_tz is not None else _cron_tz.local_zone()), text
    return _zone(m.group(1)), m.group(2)


def _zone(name: str) -> dt.tzinfo:
    if not name or len(name) > 64:
        raise _FieldError(f"unknown time zone {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _FieldError(f"unknown time zone {name!r}") from None


def _surely_fires(spec: CronSpec, now: dt.datetime) -> bool:
    """A shortcut past the search: with every year allowed and the day check passed, some day
    matches within 28 years (even ``29 2`` or ``5#5`` in February alone): before 2061 it fires."""
    return spec.all_years and now.year <= 2060


def _check_days_exist(spec: CronSpec) -> None:
    """Reject day-of-month lists that name no day existing in any selected month."""
    if spec.dow_restricted or not spec.dom_restricted or spec.dom_last or spec.dom_last_weekday:
        return
    days = spec.dom_days | spec.dom_nearest_weekday
    longest = {
        1: 31,
        2: 29,
        3: 31,
        4: 30,
        5: 31,
        6: 30,
        7: 31,
        8: 31,
        9: 30,
        10: 31,
        11: 30,
        12: 31,
    }
    if any(min(days) <= longest[m] for m in spec.months):
        return
    months = ",".join(_MONTH_NAMES[m - 1] for m in spec.months)
    shown = ",".join(str(d) for d in sorted(days)[:5])
    raise _FieldError(f"can never fire: day-of-month {shown} does not occur in {months}")


def _clamp(start: dt.datetime) -> dt.datetime | None:
    """``start`` in UTC, moved up to the eve of 1970 if earlier; None if past 2099 (no fires)."""
    try:
        utc = start.astimezone(dt.UTC)
    except OverflowError:  # within a day of datetime.min or datetime.max
        return _EARLIEST if start.year < MIN_YEAR else None
    if utc.year > MAX_YEAR:
        return None
    return max(utc, _EARLIEST)


def _require_aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("start time must be timezone-aware")


def _shown(text: str) -> str:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return shown.encode("unicode_escape").decode("ascii").replace("'", "\\'")
