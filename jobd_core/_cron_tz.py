"""Turning wall-clock matches into real instants in a zone, across DST gaps and repeats.

Rules this module keeps (the DST policy; "no double runs, no lost day"):
1. A schedule whose hour field covers all 24 hours is *periodic*: it follows real time. A wall time
   that does not exist (spring-forward gap) is skipped; a wall time that occurs twice (fall-back
   repeat) fires at both instants. An hourly job therefore stays one real hour apart across both.
2. Any other schedule is a *calendar appointment*: it fires once per matching wall time. A wall time
   inside a gap fires at the first instant after the gap (the transition itself, e.g. 03:00 in
   America/New_York); a repeated wall time fires at its first occurrence only.
3. Output is strictly increasing real time, and strictly after the second that contains the start.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator

_UTC = dt.UTC
_ONE_SECOND = dt.timedelta(seconds=1)
_ZONEINFO_PREFIX = "/usr/share/zoneinfo/"


def local_zone() -> dt.tzinfo:
    """The server's local zone as a DST-aware tzinfo ($TZ, else /etc/localtime, else UTC)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass  # not a zone name (e.g. a POSIX rule): fall back to the system zone below
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    key = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    try:
        if key:
            return zoneinfo.ZoneInfo(key)
        with open("/etc/localtime", "rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return _UTC


def _offset(moment: dt.datetime) -> dt.timedelta:
    offset = moment.utcoffset()
    return offset if offset is not None else dt.timedelta(0)


def _wall(instant_utc: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return instant_utc.astimezone(tz).replace(tzinfo=None)


def _transition(wall: dt.datetime, tz: dt.tzinfo, before: dt.timedelta) -> dt.datetime:
    """The UTC instant ending the gap containing ``wall`` (first second with a later wall time)."""
    high = (wall - before).replace(tzinfo=_UTC)  # maps past the gap
    low = high - dt.timedelta(days=1)  # gaps are shorter than a day: maps before it
    while high - low > _ONE_SECOND:
        mid = low + (high - low) // 2
        mid = mid.replace(microsecond=0)
        if _wall(mid, tz) > wall:
            high = mid
        else:
            low = mid
    return high


def instants(
    next_wall: Callable[[dt.datetime], dt.datetime | None],
    tz: dt.tzinfo,
    periodic: bool,
    start: dt.datetime,
) -> Iterator[dt.datetime]:
    """Aware datetimes in ``tz``, strictly increasing, after the second containing ``start``.

    ``next_wall(w)`` returns the first naive wall time > ``w`` that matches, or None.
    """
    floor = start.astimezone(_UTC).replace(microsecond=0)
    cursor = _wall(floor, tz)
    if periodic:  # a repeat's second occurrence of an earlier wall time may still lie ahead
        early = _offset(cursor.replace(tzinfo=tz, fold=0)) - _offset(
            cursor.replace(tzinfo=tz, fold=1)
        )
        cursor -= max(early, dt.timedelta(0))
    cursor -= _ONE_SECOND
    last = floor
    deferred: deque[dt.datetime] = deque()
    while True:
        wall = next_wall(cursor)
        if wall is None:
            break
        found, cursor = _resolve(wall, tz, periodic, deferred)
        for instant in found:
            while deferred and deferred[0] < instant:
                late = deferred.popleft()
                if late > last:
                    last = late
                    yield late.astimezone(tz)
            if instant > last:
                last = instant
                yield instant.astimezone(tz)
    for late in deferred:
        if late > last:
            last = late
            yield late.astimezone(tz)


def _resolve(
    wall: dt.datetime, tz: dt.tzinfo, periodic: bool, deferred: deque[dt.datetime]
) -> tuple[list[dt.datetime], dt.datetime]:
    """(UTC instants to emit now, next search cursor) for one matching wall time."""
    before = _offset(wall.replace(tzinfo=tz, fold=0))
    after = _offset(wall.replace(tzinfo=tz, fold=1))
    if before == after:
        return [(wall - before).replace(tzinfo=_UTC)], wall
    if before > after:  # a repeat: the wall time happens twice
        if periodic:
            deferred.append((wall - after).replace(tzinfo=_UTC))
        return [(wall - before).replace(tzinfo=_UTC)], wall
    end = _transition(wall, tz, before)  # a gap: skip to its end
    resume = _wall(end, tz) - _ONE_SECOND
    return ([] if periodic else [end]), max(resume, wall)
