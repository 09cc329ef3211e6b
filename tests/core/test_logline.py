"""The log line format, checked byte for byte against the original's sample (the seed README)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jobd_core._logline import (
    format_entry,
    format_entry_ns,
    format_timestamp,
    format_timestamp_ns,
)

CHICAGO = ZoneInfo("America/Chicago")

# (hour, minute, second, nanosecond, text) -> the seed's lines, verbatim.
SEED = [
    ((9, 42, 33, 454707331, "started"), "2014-02-11 09:42:33.454707331 -0600 CST:started"),
    ((9, 42, 35, 4655691, "hello world"), "2014-02-11 09:42:35.004655691 -0600 CST:hello world"),
    ((9, 42, 40, 3579265, "hello world"), "2014-02-11 09:42:40.003579265 -0600 CST:hello world"),
    ((9, 42, 45, 3220637, "hello world"), "2014-02-11 09:42:45.003220637 -0600 CST:hello world"),
    ((9, 42, 50, 2940030, "hello world"), "2014-02-11 09:42:50.00294003 -0600 CST:hello world"),
]


@pytest.mark.parametrize(("parts", "expected"), SEED)
def test_seed_lines_byte_for_byte(parts: tuple[int, int, int, int, str], expected: str) -> None:
    hour, minute, second, ns, text = parts
    at = datetime(2014, 2, 11, hour, minute, second, tzinfo=CHICAGO)
    assert format_entry(at, text, nanosecond=ns) == expected
    epoch_ns = int(at.timestamp()) * 1_000_000_000 + ns
    assert format_entry_ns(epoch_ns, text, CHICAGO) == expected


def test_whole_second_drops_the_dot() -> None:
    at = datetime(2014, 2, 11, 9, 42, 35, tzinfo=CHICAGO)
    assert format_timestamp(at) == "2014-02-11 09:42:35 -0600 CST"


def test_microseconds_from_datetime() -> None:
    at = datetime(2014, 2, 11, 9, 42, 35, 120000, tzinfo=CHICAGO)
    assert format_timestamp(at) == "2014-02-11 09:42:35.12 -0600 CST"


def test_summer_time_abbreviation() -> None:
    at = datetime(2014, 7, 1, 12, 0, 0, tzinfo=CHICAGO)
    assert format_timestamp(at, nanosecond=1) == "2014-07-01 12:00:00.000000001 -0500 CDT"


def test_utc_and_unnamed_offsets_as_go() -> None:
    utc = datetime(2014, 2, 11, 15, 42, 35, tzinfo=UTC)
    assert format_timestamp(utc) == "2014-02-11 15:42:35 +0000 UTC"
    fixed = datetime(2014, 2, 11, 15, 42, 35, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_timestamp(fixed) == "2014-02-11 15:42:35 +0530 +0530"
    named = datetime(2014, 2, 11, 15, 42, 35, tzinfo=timezone(timedelta(hours=-6), "CST"))
    assert format_timestamp(named) == "2014-02-11 15:42:35 -0600 CST"
    # tzdata zones without a letter abbreviation print the digits, as Go does.
    sp = datetime(2020, 1, 1, tzinfo=ZoneInfo("America/Sao_Paulo"))
    assert format_timestamp(sp) == "2020-01-01 00:00:00 -0300 -03"


def test_server_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    try:
        at = datetime(2014, 2, 11, 9, 42, 35, tzinfo=CHICAGO)
        epoch_ns = int(at.timestamp()) * 1_000_000_000 + 4655691
        assert format_timestamp_ns(epoch_ns) == "2014-02-11 09:42:35.004655691 -0600 CST"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_one_entry_is_one_line() -> None:
    at = datetime(2014, 2, 11, 9, 42, 35, tzinfo=CHICAGO)
    line = format_entry(at, "a\nb\rc")
    assert "\n" not in line and "\r" not in line
    assert line.endswith(":a\\nb\\rc")


def test_naive_and_bad_nanoseconds_rejected() -> None:
    with pytest.raises(ValueError):
        format_timestamp(datetime(2014, 2, 11))
    with pytest.raises(ValueError):
        format_timestamp(datetime(2014, 2, 11, tzinfo=CHICAGO), nanosecond=10**9)
