"""Parser and validator for jobd schedule expressions (gorhill/cronexpr syntax, the Go original's).

Rules this module keeps:
1. Parsing is pure and total: any text yields a ``CronSpec`` or raises ``_FieldError``; nothing
   else escapes, and the work is bounded by the (capped) input length, never by the numbers in it.
2. The spec is fully expanded (sets of values), so later stages never re-read the text: equal ranges
   (``5-5``), names, ``7`` = Sunday and ``a/b`` (= ``a``..max step ``b``) are settled here.
3. Everything cronexpr would silently mis-read is rejected with a reason: reversed ranges, steps of
   0 or beyond the field, values out of range, years past 2099, malformed ``L``/``W``/``#`` forms.

Field order (cronexpr): 5 fields ``min hour dom mon dow``; 6 fields add a trailing YEAR (not
seconds); 7 fields are ``sec min hour dom mon dow year``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from ._errors import InvalidArgument

MAX_EXPRESSION_LENGTH = 1024
MIN_YEAR = 1970
MAX_YEAR = 2099

_MACROS = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@midnight": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
    "@minutely": "0 * * * * * *",
}

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for name in names
}
_DAYS = {
    name: i
    for i, names in enumerate(
        [
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ]
    )
    for name in names
}

_ATOM = r"[0-9]{1,4}|[a-z]{3,9}"
_RANGE_RE = re.compile(rf"({_ATOM})(?:-({_ATOM}))?(?:/([0-9]{{1,4}}))?", re.ASCII)
_STAR_RE = re.compile(r"[*?](?:/([0-9]{1,4}))?", re.ASCII)
_WEEKDAY_RE = re.compile(rf"({_ATOM})w", re.ASCII)
_LAST_DOW_RE = re.compile(rf"({_ATOM})l", re.ASCII)
_NTH_DOW_RE = re.compile(rf"({_ATOM})#([0-9]{{1,4}})", re.ASCII)


class ScheduleError(InvalidArgument):
    """An invalid schedule expression, or one that can never fire (errno EINVAL, a ValueError)."""


class _FieldError(Exception):
    """A reason, without the expression; ``parse`` wraps it into ``ScheduleError``."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    step_limit: int  # cronexpr: a step may not exceed the field's maximum (years: the span)
    names: dict[str, int] | None = None


SECOND = _Field("second", 0, 59, 59)
MINUTE = _Field("minute", 0, 59, 59)
HOUR = _Field("hour", 0, 23, 23)
DOM = _Field("day-of-month", 1, 31, 31)
MONTH = _Field("month", 1, 12, 12, _MONTHS)
DOW = _Field("day-of-week", 0, 7, 6, _DAYS)  # 7 is Sunday, folded to 0
YEAR = _Field("year", MIN_YEAR, MAX_YEAR, MAX_YEAR - MIN_YEAR)


@dataclass(frozen=True)
class CronSpec:
    """A fully expanded schedule. Day rules: when both day fields are restricted, either matches."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    years: tuple[int, ...]
    dom_restricted: bool
    dom_days: frozenset[int]
    dom_last: bool  # L
    dom_last_weekday: bool  # LW
    dom_nearest_weekday: frozenset[int]  # nW
    dow_restricted: bool
    dow_days: frozenset[int]  # 0 = Sunday
    dow_last: frozenset[int]  # nL: the last weekday n of the month
    dow_nth: frozenset[tuple[int, int]]  # n#k: the k-th weekday n of the month

    @property
    def all_years(self) -> bool:
        return len(self.years) == MAX_YEAR - MIN_YEAR + 1

    @property
    def uses_weekday_rules(self) -> bool:
        """True when day-of-month holds ``W`` or ``LW`` (evaluated by jobd, not croniter)."""
        return self.dom_last_weekday or bool(self.dom_nearest_weekday)

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the date matches the day fields (cronexpr union semantics)."""
        if not self.dom_restricted and not self.dow_restricted:
            return True
        if self.dom_restricted and self._dom_matches(year, month, day):
            return True
        return self.dow_restricted and self._dow_matches(year, month, day)

    def _dom_matches(self, year: int, month: int, day: int) -> bool:
        last = calendar.monthrange(year, month)[1]
        if day in self.dom_days or (self.dom_last and day == last):
            return True
        if self.dom_last_weekday and day == nearest_weekday(year, month, last, last):
            return True
        return any(
            n <= last and day == nearest_weekday(year, month, n, last)
            for n in self.dom_nearest_weekday
        )

    def _dow_matches(self, year: int, month: int, day: int) -> bool:
        weekday = (calendar.weekday(year, month, day) + 1) % 7  # 0 = Sunday
        if weekday in self.dow_days:
            return True
        last = calendar.monthrange(year, month)[1]
        if weekday in self.dow_last and day + 7 > last:
            return True
        return (weekday, (day - 1) // 7 + 1) in self.dow_nth


def nearest_weekday(year: int, month: int, day: int, last: int) -> int:
    """The Monday-Friday day nearest ``day`` within its month (never crossing the month's ends)."""
    weekday = calendar.weekday(year, month, day)  # 0 = Monday
    if weekday == 5:  # Saturday: Friday before, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, unless that leaves the month
        return day + 1 if day < last else day - 2
    return day


def parse_spec(text: str) -> CronSpec:
    """Parse the cron part of an expression (no ``TZ=`` prefix).

    Raises:
        _FieldError: with a readable reason.
    """
    lowered = text.lower()
    if lowered.startswith("@"):
        if lowered not in _MACROS:
            raise _FieldError(f"unknown macro {text!r} (expected one of {', '.join(_MACROS)})")
        lowered = _MACROS[lowered]
    fields = lowered.split()
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    elif len(fields) != 7:
        raise _FieldError(f"expected 5, 6 or 7 fields, got {len(fields)}")
    sec, minute, hour, dom, month, dow, year = fields
    dom_parts = _parse_dom(dom)
    dow_parts = _parse_dow(dow)
    return CronSpec(
        seconds=_sorted(_parse_plain(sec, SECOND)),
        minutes=_sorted(_parse_plain(minute, MINUTE)),
        hours=_sorted(_parse_plain(hour, HOUR)),
        months=_sorted(_parse_plain(month, MONTH)),
        years=_sorted(_parse_plain(year, YEAR)),
        dom_restricted=dom_parts[0],
        dom_days=dom_parts[1],
        dom_last=dom_parts[2],
        dom_last_weekday=dom_parts[3],
        dom_nearest_weekday=dom_parts[4],
        dow_restricted=dow_parts[0],
        dow_days=dow_parts[1],
        dow_last=dow_parts[2],
        dow_nth=dow_parts[3],
    )


def _sorted(values: set[int]) -> tuple[int, ...]:
    return tuple(sorted(values))


def _entries(text: str, field: _Field) -> list[str]:
    entries = text.split(",")
    if any(not e for e in entries):
        raise _FieldError(f"empty list entry in {field.name} field")
    return entries


def _parse_plain(text: str, field: _Field) -> set[int]:
    values: set[int] = set()
    for entry in _entries(text, field):
        got = _parse_entry(entry, field)
        if got is None:
            raise _FieldError(f"syntax error in {field.name} field: {entry!r}")
        values |= got
    return values


def _parse_entry(entry: str, field: _Field) -> set[int] | None:
    """``*``, ``?``, ``*/s``, ``v``, ``a-b``, ``v/s`` (v..max), ``a-b/s``; None if none of those."""
    star = _STAR_RE.fullmatch(entry)
    if star:
        step = _step(star.group(1), field) if star.group(1) else 1
        return _fold(set(range(field.low, _top(field) + 1, step)), field)
    m = _RANGE_RE.fullmatch(entry)
    if not m:
        return None
    first = _value(m.group(1), field)
    if m.group(2) is not None:
        last = _value(m.group(2), field)
        if last < first:
            raise _FieldError(
                f"reversed range {entry!r} in {field.name} field (start must not exceed end)"
            )
    else:
        last = _top(field) if m.group(3) is not None else first
    step = _step(m.group(3), field) if m.group(3) is not None else 1
    return _fold(set(range(first, last + 1, step)), field)


def _top(field: _Field) -> int:
    """The largest value ``*`` and ``a/b`` reach (day-of-week stops at 6: 7 repeats Sunday)."""
    return 6 if field is DOW else field.high


def _fold(values: set[int], field: _Field) -> set[int]:
    if field is DOW and 7 in values:
        values = (values - {7}) | {0}
    return values


def _value(token: str, field: _Field) -> int:
    if token.isdigit():
        number = int(token)
    elif field.names is not None and token in field.names:
        number = field.names[token]
    else:
        raise _FieldError(f"invalid value {token!r} in {field.name} field")
    if not field.low <= number <= field.high:
        raise _FieldError(
            f"value {number} out of range in {field.name} field ({field.low}-{field.high})"
        )
    return number


def _step(token: str, field: _Field) -> int:
    step = int(token)
    if step < 1:
        raise _FieldError(f"step must be at least 1 in {field.name} field")
    if step > field.step_limit:
        raise _FieldError(
            f"step {step} too large in {field.name} field (at most {field.step_limit})"
        )
    return step


def _parse_dom(text: str) -> tuple[bool, frozenset[int], bool, bool, frozenset[int]]:
    """(restricted, days, L, LW, nW days) for the day-of-month field."""
    restricted, last, last_weekday = True, False, False
    days: set[int] = set()
    nearest: set[int] = set()
    for entry in _entries(text, DOM):
        if entry in ("*", "?"):
            restricted = False
        elif entry == "l":
            last = True
        elif entry == "lw":
            last_weekday = True
        elif (w := _WEEKDAY_RE.fullmatch(entry)) is not None:
            if not w.group(1).isdigit():
                raise _FieldError(f"syntax error in day-of-month field: {entry!r}")
            nearest.add(_value(w.group(1), DOM))
        else:
            got = _parse_entry(entry, DOM)
            if got is None:
                raise _FieldError(f"syntax error in day-of-month field: {entry!r}")
            days |= got
    return restricted, frozenset(days), last, last_weekday, frozenset(nearest)


def _parse_dow(
    text: str,
) -> tuple[bool, frozenset[int], frozenset[int], frozenset[tuple[int, int]]]:
    """(restricted, weekdays, nL weekdays, (weekday, k) pairs) for the day-of-week field."""
    restricted = True
    days: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for entry in _entries(text, DOW):
        if entry in ("*", "?"):
            restricted = False
        elif (lm := _LAST_DOW_RE.fullmatch(entry)) is not None:
            last.add(_value(lm.group(1), DOW) % 7)
        elif (hm := _NTH_DOW_RE.fullmatch(entry)) is not None:
            k = int(hm.group(2))
            if not 1 <= k <= 5:
                raise _FieldError(
                    f"occurrence {k} out of range in day-of-week field {entry!r} (1-5)"
                )
            nth.add((_value(hm.group(1), DOW) % 7, k))
        else:
            got = _parse_entry(entry, DOW)
            if got is None:
                raise _FieldError(f"syntax error in day-of-week field: {entry!r}")
            days |= got
    return restricted, frozenset(days), frozenset(last), frozenset(nth)
