"""Invalid, unsatisfiable and hostile schedule expressions: a clear ScheduleError, quickly."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobd_core._cron_parse import parse_spec
from jobd_core.schedule import Schedule, ScheduleError, parse

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)

REJECTED = [
    ("", "empty expression"),
    ("   \n", "empty expression"),
    ("*/0 * * * *", "step must be at least 1 in minute field"),
    ("*/60 * * * *", "step 60 too large in minute field (at most 59)"),
    ("0 */24 * * *", "step 24 too large in hour field"),
    ("0 0 * * */7", "step 7 too large in day-of-week field"),
    ("*/9999 * * * *", "step 9999 too large"),
    ("5-1 * * * *", "reversed range '5-1' in minute field"),
    ("0 0 * * SAT-SUN", "reversed range 'sat-sun' in day-of-week field"),
    ("60 * * * *", "value 60 out of range in minute field (0-59)"),
    ("* 24 * * *", "value 24 out of range in hour field (0-23)"),
    ("* * 0 * *", "value 0 out of range in day-of-month field (1-31)"),
    ("* * 32 * *", "value 32 out of range in day-of-month field"),
    ("* * * 13 *", "value 13 out of range in month field (1-12)"),
    ("* * * 0 *", "value 0 out of range in month field"),
    ("* * * * 8", "value 8 out of range in day-of-week field (0-7)"),
    ("0 0 1 1 * 2100", "value 2100 out of range in year field (1970-2099)"),
    ("0 0 1 1 * 1969", "value 1969 out of range in year field"),
    ("0 0 0 1 1 * 2100", "out of range in year field"),
    ("99999999999999999999 * * * *", "syntax error in minute field"),
    ("1-99999 * * * *", "syntax error in minute field"),
    ("mon * * * *", "invalid value 'mon' in minute field"),
    ("* * * *", "expected 5, 6 or 7 fields, got 4"),
    ("* * * * * * * *", "expected 5, 6 or 7 fields, got 8"),
    ("1,,2 * * * *", "empty list entry in minute field"),
    ("1- * * * *", "syntax error in minute field: '1-'"),
    ("-1 * * * *", "syntax error in minute field"),
    ("*/ * * * *", "syntax error in minute field"),
    ("0 0 W * *", "syntax error in day-of-month field"),
    ("0 0 1-5W * *", "syntax error in day-of-month field"),
    ("0 0 LW-3 * *", "syntax error in day-of-month field"),
    ("0 0 * * L", "syntax error in day-of-week field: 'l'"),
    ("0 0 L * * LW", "syntax error in year field"),
    ("0 0 * * 1#6", "occurrence 6 out of range in day-of-week field"),
    ("0 0 * * 1#0", "occurrence 0 out of range"),
    ("0 0 * * 8#1", "value 8 out of range in day-of-week field"),
    ("0 0 * * 1L-2", "syntax error in day-of-week field"),
    ("@reboot", "unknown macro '@reboot'"),
    ("@every 5m", "unknown macro"),
    ("TZ=Mars/Olympus 0 0 * * *", "unknown time zone 'Mars/Olympus'"),
    ("TZ=../../etc/passwd 0 * * * *", "unknown time zone"),
    ("TZ=/etc/localtime 0 * * * *", "unknown time zone"),
    ("TZ=UTC", "a TZ= prefix must be followed by the schedule fields"),
    ("TZ= 0 * * * *", "unknown time zone ''"),
    # can never fire
    ("0 0 30 2 *", "can never fire: day-of-month 30 does not occur in Feb"),
    ("0 0 31 4 *", "day-of-month 31 does not occur in Apr"),
    ("0 0 31 4 ?", "day-of-month 31 does not occur in Apr"),
    ("0 0 31 2,4,6,9,11 *", "does not occur in Feb,Apr,Jun,Sep,Nov"),
    ("0 0 30W 2 *", "does not occur in Feb"),
    ("0 0 1 1 * 2020", "can never fire after 2026-11-28 12:00:00 UTC"),
    ("0 0 29 2 * 2027", "can never fire after"),
    ("0 0 * 2 5#5 2027-2030", "can never fire after"),
    # hostile text
    ("x" * 10_000, "too long (10000 characters, at most 1024)"),
    ("0 0 * * *\x00", "unexpected character U+0000"),
    ("\x00", "unexpected character U+0000"),
    ("\u0663 * * * *", "unexpected character U+0663"),  # ARABIC-INDIC DIGIT THREE
    ("\uff10 * * * *", "unexpected character U+FF10"),  # FULLWIDTH DIGIT ZERO
    ("0\u00a00 * * *", "unexpected character U+00A0"),
    ("0 0 * * * \U0001f600", "unexpected character U+1F600"),
]


@pytest.mark.parametrize(("expression", "reason"), REJECTED, ids=[r[1][:40] for r in REJECTED])
def test_rejected_with_a_clear_reason(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse(expression, default_tz=UTC, now=NOW)
    message = str(info.value)
    assert message.startswith("invalid schedule '")
    assert reason in message
    assert len(message) < 300
    assert "\x00" not in message


def test_non_text_is_rejected() -> None:
    with pytest.raises(ScheduleError, match="expected text"):
        parse(b"* * * * *", default_tz=UTC)  # type: ignore[arg-type]
    with pytest.raises(ScheduleError, match="expected text"):
        Schedule(None, UTC)  # type: ignore[arg-type]


def test_equal_ranges_and_boundaries_are_valid() -> None:
    for expression in [
        "5-5 * * * *",
        "59 23 31 12 7",
        "0 0 1 1 * 2099",
        "0-59 0-23 1-31 1-12 0-7",
        "0 0 * * 7-7",
        "0 0 * * 7#1",
        "0 0 * * 7L",
        "0 0 1 1 * 1970-2099",
    ]:
        assert isinstance(parse(expression, default_tz=UTC, now=NOW), Schedule)


@pytest.mark.parametrize(
    "expression",
    [f"0 0 * 2 {d}#5" for d in range(7)]
    + ["0 0 29 2 *", "0 0 29W 2 *", "0 0 29 2 1#5", "0 0 L 2 *"],
)
def test_rare_days_fire_within_any_28_years(expression: str) -> None:
    # parse skips its "never fires" search for all-year schedules before 2061; from 2061 it searches
    later = dt.datetime(2061, 1, 1, tzinfo=UTC)
    schedule = parse(expression, default_tz=UTC, now=later)
    fire = schedule.next_after(later)
    assert fire is not None and fire.year < 2061 + 28


# The building blocks of cron text, so that fuzzing reaches deep into the parser and engine.
_TOKEN = st.sampled_from(
    [
        "*",
        "?",
        "0",
        "1",
        "5",
        "7",
        "15",
        "29",
        "30",
        "31",
        "59",
        "60",
        "2027",
        "2099",
        "L",
        "W",
        "LW",
        "#",
        "/",
        ",",
        "-",
        "mon",
        "FRI",
        "jan",
        "dec",
        "sunday",
        "3L",
        "15W",
        "2#3",
        "0/5",
        "*/2",
        "1-5",
        "5-1",
        "9999",
        "@daily",
        "TZ=UTC",
        "TZ=America/New_York",
        "TZ=Nope/Zone",
    ]
)
_FIELD = st.lists(_TOKEN, min_size=1, max_size=3).map("".join)
_STRUCTURED = st.lists(_FIELD, min_size=1, max_size=8).map(" ".join)


def _entry(low: int, high: int, extra: list[str]) -> st.SearchStrategy[str]:
    value = st.integers(low, high).map(str)
    ranged = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: f"{min(ab)}-{max(ab)}"
    )
    stepped = st.tuples(st.sampled_from(["*", str(low)]), st.integers(1, 12)).map(
        lambda p: f"{p[0]}/{p[1]}"
    )
    return st.one_of(st.just("*"), value, ranged, stepped, st.sampled_from(extra or ["*"]))


def _list(entry: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(entry, min_size=1, max_size=3).map(",".join)


_DOM_ENTRY = _entry(1, 31, ["L", "LW", "1W", "15W", "31W", "?"])
_DOW_ENTRY = _entry(0, 7, ["mon-fri", "SUN", "5L", "0L", "1#1", "fri#5", "?"])
_MONTH_ENTRY = _entry(1, 12, ["jan", "FEB-apr", "dec"])
_VALID_ISH = st.builds(
    lambda zone, sec, minute, hour, dom, month, dow, year, shape: " ".join(
        part
        for part in [
            zone,
            sec if shape == 7 else "",
            minute,
            hour,
            dom,
            month,
            dow,
            year if shape in (6, 7) else "",
        ]
        if part
    ),
    st.sampled_from(["", "", "TZ=America/New_York", "TZ=Europe/Berlin"]),
    _list(_entry(0, 59, [])),
    _list(_entry(0, 59, [])),
    _list(_entry(0, 23, [])),
    _list(_DOM_ENTRY),
    _list(_MONTH_ENTRY),
    _list(_DOW_ENTRY),
    _list(_entry(2020, 2099, [])),
    st.sampled_from([5, 6, 7]),
)


def _parse_quickly(text: str) -> Schedule | None:
    began = time.perf_counter()
    try:
        schedule = parse(text, default_tz=UTC, now=NOW)
    except ScheduleError as e:
        assert str(e).startswith("invalid schedule")
        schedule = None
    assert time.perf_counter() - began < 2.0
    return schedule


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_schedule_or_the_error(text: str) -> None:
    _parse_quickly(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_STRUCTURED, _VALID_ISH, _VALID_ISH, _VALID_ISH))
def test_cron_like_text_gives_a_schedule_or_the_error_and_fires_correctly(text: str) -> None:
    schedule = _parse_quickly(text)
    if schedule is None:
        return
    body = text.split(None, 1)[1] if text.startswith("TZ=") else text
    spec = parse_spec(body)
    began = time.perf_counter()
    times = list(itertools.islice(schedule.iter_after(NOW), 5))
    assert time.perf_counter() - began < 2.0
    assert times, "parse promised at least one fire time"
    real = [t.astimezone(UTC) for t in [NOW, *times]]
    assert all(a < b for a, b in itertools.pairwise(real))
    for moment in times:
        wall = moment.astimezone(schedule.tz)
        assert spec.day_matches(wall.year, wall.month, wall.day)
        assert wall.month in spec.months and wall.year in spec.years
        earlier = (moment - dt.timedelta(seconds=1)).astimezone(schedule.tz)
        if earlier.utcoffset() != wall.utcoffset():
            continue  # a fire moved to the end of a DST gap
        assert wall.hour in spec.hours
        assert wall.minute in spec.minutes
        assert wall.second in spec.seconds
