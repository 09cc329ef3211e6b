"""Rows of the results table, small statistics, and ``bench/RESULTS.md``."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ("#", "measurement", "jobd", "reference", "ratio", "target", "met?")


@dataclass
class Row:
    """One line of the table. ``met`` is None where the target is only "report"."""

    number: int
    measurement: str
    jobd: str
    reference: str
    ratio: str
    target: str
    met: bool | None
    notes: list[str] = field(default_factory=list)

    def cells(self) -> tuple[str, ...]:
        met = "-" if self.met is None else ("yes" if self.met else "**no**")
        return (
            str(self.number),
            self.measurement,
            self.jobd,
            self.reference,
            self.ratio,
            self.target,
            met,
        )


def median(values: Sequence[float]) -> float:
    """The median (0.0 for no values)."""
    return statistics.median(values) if values else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line naming when and where the run happened."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{now}; {os.cpu_count()} cores ({platform.processor() or platform.machine()}); "
        f"Python {sys.version.split()[0]}; {platform.system()} {platform.release()}; "
        f"load average {load} at the end (1/5/15 min; the machine is shared, other work "
        "ran beside this run)"
    )


def document(rows: Sequence[Row], *, quick: bool, command: str, seconds: float) -> str:
    """The whole RESULTS.md text: machine line, table, notes per measurement."""
    out = [
        "# jobd benchmark results",
        "",
        f"Run: {machine()}. Command: `{command}` ({seconds:.0f} s"
        f"{', quick sizes: not representative' if quick else ''}).",
        "",
        "Each reference runs in the same run, side by side; figures are medians of the "
        "repeats unless said otherwise. Load comes from a separate process "
        "(`bench/_load.py`, a pipelining 9P2000.L client).",
        "",
        table(rows),
        "",
    ]
    for r in rows:
        if r.notes:
            out.append(f"**#{r.number} {r.measurement}**")
            out.append("")
            out += [f"- {n}" for n in r.notes]
            out.append("")
    return "\n".join(out)


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (replacing it)."""
    path.write_text(text)
