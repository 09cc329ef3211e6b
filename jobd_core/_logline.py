"""The log line format: the Go original's ``time.Time.String()`` timestamp, a colon, the text.

Rules this module keeps:
1. A timestamp reads exactly as Go's layout ``2006-01-02 15:04:05.999999999 -0700 MST`` would print
   it: nanoseconds with trailing zeros trimmed (the dot dropped when they are all zero), a numeric
   offset, then the zone abbreviation (or the numeric offset again when the zone has no name).
2. Entries are rendered in one zone: the one passed in, else the server's local zone at that instant
   (so DST changes show in the abbreviation, as in Go).
3. One entry is one line: the caller splits texts on newlines; an embedded newline or carriage
   return is replaced here rather than allowed to forge a second entry.

Timestamps carry nanoseconds because the original's did: pass ``epoch_ns`` (as ``time.time_ns()``
gives) to keep them; a plain ``datetime`` has microseconds only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

__all__ = ["format_entry", "format_entry_ns", "format_timestamp", "format_timestamp_ns"]

_NS_PER_S = 1_000_000_000


def _zone_name(at: datetime) -> str:
    """The zone abbreviation Go would print (Go's ``MST``), else the ``-0700`` form."""
    offset = at.utcoffset() or timedelta(0)
    name = at.tzname()
    if name and not (name.startswith("UTC") and len(name) > 3):
        # datetime.timezone without a name calls itself "UTC-06:00": Go has no name there.
        return name
    return _numeric_offset(offset)


def _numeric_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{mins:02d}"


def _fraction(nanosecond: int) -> str:
    if nanosecond == 0:
        return ""
    return "." + f"{nanosecond:09d}".rstrip("0")


def format_timestamp(at: datetime, *, nanosecond: int | None = None) -> str:
    """Render an aware instant as Go's ``time.Time.String()`` does (without the monotonic part).

    Args:
        at: the instant, aware; rendered in its own zone.
        nanosecond: the sub-second part in nanoseconds (0..999_999_999); defaults to
            ``at.microsecond * 1000``.

    Raises:
        ValueError: ``at`` is naive or ``nanosecond`` is out of range.
    """
    offset = at.utcoffset()
    if offset is None:
        raise ValueError("log timestamps need an aware datetime")
    ns = at.microsecond * 1000 if nanosecond is None else nanosecond
    if not 0 <= ns < _NS_PER_S:
        raise ValueError(f"nanosecond out of range: {ns}")
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} "
        f"{at.hour:02d}:{at.minute:02d}:{at.second:02d}{_fraction(ns)} "
        f"{_numeric_offset(offset)} {_zone_name(at)}"
    )


def format_timestamp_ns(epoch_ns: int, tz: tzinfo | None = None) -> str:
    """Render nanoseconds since the Unix epoch in ``tz`` (``None``: the server's local zone).

    Raises:
        OverflowError: the instant is outside the years ``datetime`` can show.
    """
    seconds, ns = divmod(epoch_ns, _NS_PER_S)
    utc = datetime.fromtimestamp(seconds, UTC)
    local = utc.astimezone(tz) if tz is not None else utc.astimezone()
    return format_timestamp(local, nanosecond=ns)


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        return text.replace("\r", "\\r").replace("\n", "\\n")
    return text


def format_entry(at: datetime, text: str, *, nanosecond: int | None = None) -> str:
    """One log entry, ``<timestamp>:<text>``, without a trailing newline.

    Raises:
        ValueError: as ``format_timestamp``.
    """
    return f"{format_timestamp(at, nanosecond=nanosecond)}:{_one_line(text)}"


def format_entry_ns(epoch_ns: int, text: str, tz: tzinfo | None = None) -> str:
    """One log entry stamped with nanoseconds since the epoch, in ``tz`` (``None``: local zone).

    Raises:
        OverflowError: as ``format_timestamp_ns``.
    """
    return f"{format_timestamp_ns(epoch_ns, tz)}:{_one_line(text)}"
