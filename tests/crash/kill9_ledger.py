"""The client-side ledger of the kill -9 test: what the server acknowledged, and what was in flight.

Each job name has a set of *possible* states. An operation about to be sent widens the set to
{before, after}; its reply narrows it to {after}. A crash leaves the in-flight operation's set
wide: after the restart the observed state must be one of them, and the set narrows to it.

A log line is *acknowledged* once a client has read it through the ``log`` file: the lines read
last (``seen``) must be, after any crash, the first lines of the log, in order, once each.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class JobState:
    """What a client can observe of a job's definition."""

    command: str
    schedule: str
    started: bool


@dataclass(slots=True)
class Entry:
    possible: list[JobState | None]
    seen: list[str] = field(default_factory=list)  # the log as last read (acknowledged lines)

    @property
    def certain(self) -> JobState | None:
        """The one possible state (None: certainly absent)."""
        assert len(self.possible) == 1
        return self.possible[0]


class Ledger:
    """Per job name: possible states and acknowledged log lines (see the module docstring)."""

    def __init__(self) -> None:
        self.jobs: dict[str, Entry] = {}
        self.acked = 0
        self.in_doubt = 0
        self.lines_checked = 0

    def begin(self, name: str, after: JobState | None) -> None:
        """An operation that would leave ``name`` in ``after`` is about to be sent."""
        entry = self.jobs.setdefault(name, Entry([None]))
        before = entry.certain
        entry.possible = [before, after] if before != after else [before]

    def ack(self, name: str, after: JobState | None) -> None:
        """The server acknowledged the operation begun last for ``name``."""
        self.jobs[name].possible = [after]
        self.acked += 1

    def is_certain(self, name: str) -> bool:
        return len(self.jobs[name].possible) == 1

    def live(self, prefix: str) -> list[str]:
        """Names under ``prefix`` that certainly exist."""
        return [
            name for name, e in self.jobs.items()
            if name.startswith(prefix) and len(e.possible) == 1 and e.possible[0] is not None
        ]  # fmt: skip

    def observe(self, name: str, state: JobState | None) -> None:
        """After a restart: ``name`` is observed in ``state``; it must be a possible one.

        Raises:
            AssertionError: an acknowledged operation is missing, or a state nobody asked for.
        """
        entry = self.jobs.get(name)
        if entry is None:
            raise AssertionError(f"{name}: present but never created by a client")
        if state not in entry.possible:
            raise AssertionError(f"{name}: observed {state}, expected one of {entry.possible}")
        if len(entry.possible) > 1:
            self.in_doubt += 1
        entry.possible = [state]
        if state is None:
            entry.seen = []

    def check_log(self, name: str, lines: list[str]) -> None:
        """The log read after a restart: the acknowledged lines first, in order, once each.

        Raises:
            AssertionError: an acknowledged line was lost, reordered or duplicated.
        """
        entry = self.jobs[name]
        seen = entry.seen
        if lines[: len(seen)] != seen:
            lost = [line for line in seen if line not in lines]
            raise AssertionError(
                f"{name}: acknowledged log lines lost or reordered ({len(lost)} lost, e.g. "
                f"{lost[:3]}); before: {seen[-3:]}, after: {lines[: len(seen)][-3:]}"
            )
        again = set(seen) & set(lines[len(seen) :])
        if again:
            raise AssertionError(f"{name}: acknowledged log lines duplicated: {sorted(again)[:3]}")
        self.lines_checked += len(seen)
        entry.seen = lines

    def read_log(self, name: str, lines: list[str]) -> None:
        """A client read the log while serving: these lines are acknowledged now.

        Raises:
            AssertionError: the log did not grow from what was read before (lost or reordered).
        """
        entry = self.jobs[name]
        if lines[: len(entry.seen)] != entry.seen:
            raise AssertionError(f"{name}: log changed under a reader: {entry.seen[-2:]} -> "
                                 f"{lines[: len(entry.seen)][-2:]}")  # fmt: skip
        entry.seen = lines
