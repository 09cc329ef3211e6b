"""Wall clocks for the scheduler: the real one and a test one driven by trio's (mock) clock.

Rules this module keeps:
1. Only the scheduler's run loop (and the runner, for timestamps) reads a ``WallClock``; every
   decision about schedules takes the time as a parameter.
2. ``sleep_until`` sleeps on trio's monotonic clock in slices of at most ``recheck_interval``
   seconds and re-reads the wall clock after each, so a wall-clock jump (NTP step, suspend, manual
   change) is noticed within that interval; the caller's cancel scope may cut it short.
3. ``MockWallClock`` is wall time = start + trio time elapsed + jumps, so tests on
   ``trio.testing.MockClock(autojump_threshold=0)`` never sleep for real, and ``jump`` moves the
   wall clock without moving trio's clock (as a real clock step does; a suspend is the same: trio's
   monotonic clock stands still while the wall clock moves on).
4. A step is told from normal time by ``StepWatch``: the wall clock moved more or less than trio's
   monotonic clock since the last look, by over ``STEP_THRESHOLD`` (plus NTP-slew allowance).
   ``sleep_until`` returns early when it sees the wall clock step back, so its caller re-plans
   at once instead of sleeping out a target that moved away.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import trio

__all__ = [
    "RECHECK_INTERVAL",
    "STEP_THRESHOLD",
    "MockWallClock",
    "StepWatch",
    "SystemClock",
    "WallClock",
    "datetime_from_ns",
    "ns_from_datetime",
]

NS_PER_S = 1_000_000_000
RECHECK_INTERVAL = 60.0  # seconds: longest sleep before the wall clock is read again
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEP_THRESHOLD = 1.0  # seconds: wall and monotonic time disagreeing by more is a clock step
SLEW_ALLOWANCE = 1e-3  # NTP slews at most 500 ppm: tolerated per second of monotonic time
_MIN_SLICE = 1e-6  # float rounding must never leave the sleep loop spinning on zero-length sleeps


def ns_from_datetime(at: datetime) -> int:
    """Nanoseconds since the Unix epoch of an aware instant, exactly (no float rounding).

    Raises:
        ValueError: ``at`` is naive.
    """
    if at.utcoffset() is None:
        raise ValueError("an aware datetime is needed")
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def datetime_from_ns(epoch_ns: int) -> datetime:
    """The aware UTC instant of ``epoch_ns`` nanoseconds since the epoch (truncated to µs)."""
    return _EPOCH + timedelta(microseconds=epoch_ns // 1000)


class WallClock(Protocol):
    """What the scheduler needs of the wall clock."""

    def now(self) -> datetime:
        """The current wall time, aware, in UTC."""
        ...

    def now_ns(self) -> int:
        """The current wall time in nanoseconds since the epoch (for log timestamps)."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once the wall clock reads ``when`` or later (or when cancelled)."""
        ...


class StepWatch:
    """Tells wall-clock steps from the passage of time (rule 4): feed it (trio time, wall time)
    pairs; it answers how far the wall clock stepped since the previous pair."""

    def __init__(
        self, *, threshold: float = STEP_THRESHOLD, slew: float = SLEW_ALLOWANCE
    ) -> None:
        self.threshold = threshold
        self.slew = slew
        self._last: tuple[float, int] | None = None

    def observe(self, monotonic: float, wall_ns: int) -> float:
        """Seconds the wall clock stepped since the last observation (negative: back; a
        suspend shows as forward), or 0.0 when it kept pace with ``monotonic`` within the
        threshold. The first observation answers 0.0."""
        last, self._last = self._last, (monotonic, wall_ns)
        if last is None:
            return 0.0
        elapsed = monotonic - last[0]
        step = (wall_ns - last[1]) / NS_PER_S - elapsed
        if abs(step) <= self.threshold + self.slew * abs(elapsed):
            return 0.0
        return step


class _SlicedSleep:
    """``sleep_until`` shared by both clocks: trio sleeps of at most ``recheck_interval``."""

    recheck_interval: float

    def now_ns(self) -> int:
        raise NotImplementedError

    def now(self) -> datetime:
        """The current wall time, aware, in UTC."""
        return datetime_from_ns(self.now_ns())

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until the wall clock reads ``when``, re-reading it every ``recheck_interval`` s;
        return early if the wall clock steps back meanwhile (rule 4).

        Raises:
            ValueError: ``when`` is naive.
            trio.Cancelled: the caller's scope was cancelled.
        """
        target = ns_from_datetime(when)
        watch = StepWatch()
        while True:
            now_ns = self.now_ns()
            if watch.observe(trio.current_time(), now_ns) < 0:
                await trio.lowlevel.checkpoint()
                return  # stepped back: the caller's plan is stale
            remaining = (target - now_ns) / NS_PER_S
            if remaining <= 0:
                await trio.lowlevel.checkpoint()
                return
            await trio.sleep(min(max(remaining, _MIN_SLICE), self.recheck_interval))


class SystemClock(_SlicedSleep):
    """The real wall clock (``time.time_ns``)."""

    def __init__(self, *, recheck_interval: float = RECHECK_INTERVAL) -> None:
        self.recheck_interval = recheck_interval

    def now_ns(self) -> int:
        """Nanoseconds since the epoch, from the system's real-time clock."""
        return time.time_ns()


class MockWallClock(_SlicedSleep):
    """A wall clock that follows trio's clock from ``start``; ``jump`` steps it like an NTP step.

    Create it inside a trio run (or read it first inside one): it anchors ``start`` to the trio
    time at that moment.
    """

    def __init__(self, start: datetime, *, recheck_interval: float = RECHECK_INTERVAL) -> None:
        self.recheck_interval = recheck_interval
        self._start_ns = ns_from_datetime(start)
        self._jumped_ns = 0
        self._anchor: float | None = None
        try:
            self._anchor = trio.current_time()
        except RuntimeError:
            self._anchor = None  # outside trio: anchored on first read

    def now_ns(self) -> int:
        """``start`` + trio time elapsed since the anchor + all jumps, in ns since the epoch.

        Raises:
            RuntimeError: called outside a trio run.
        """
        current = trio.current_time()
        if self._anchor is None:
            self._anchor = current
        elapsed_ns = round((current - self._anchor) * NS_PER_S)
        return self._start_ns + elapsed_ns + self._jumped_ns

    def jump(self, delta: timedelta) -> None:
        """Step the wall clock by ``delta`` (negative: backwards) without moving trio's clock."""
        self._jumped_ns += round(delta.total_seconds() * NS_PER_S)

    def set(self, when: datetime) -> None:
        """Step the wall clock to read ``when`` now.

        Raises:
            RuntimeError: called outside a trio run.
            ValueError: ``when`` is naive.
        """
        self._jumped_ns += ns_from_datetime(when) - self.now_ns()
