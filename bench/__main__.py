"""``python3 -m bench [--quick] [--only N ...]``: run the measurements, print the table, write
``bench/RESULTS.md`` (``--out`` elsewhere). ``--quick`` uses tiny sizes (the smoke test's run:
its figures mean nothing). A benchmark never fails on a missed target; it exits non-zero only
when a measurement could not be taken."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import m1_roundtrip, m2_codec, m3_scale, m4_firing, m6_create, m7_log, m8_fuse
from ._procs import BENCH_DIR
from ._report import Row, document, table

log = logging.getLogger("bench")

# measurement number -> keyword arguments, full and quick
FULL: dict[int, dict[str, Any]] = {
    1: {"seconds": 3.0, "repeats": 3, "jobs": 100},
    2: {"number": 3000, "repeats": 5},
    3: {"sizes": (1000, 10_000, 100_000), "repeats": 3},
    4: {"ks": (1, 100, 1000), "rounds_k1": 10},
    6: {"jobs": 3000, "repeats": 3},
    7: {"mbytes": 100, "repeats": 3},
    8: {"seconds": 3.0, "repeats": 3},
}
QUICK: dict[int, dict[str, Any]] = {
    1: {"seconds": 0.3, "repeats": 1, "jobs": 10},
    2: {"number": 50, "repeats": 2},
    3: {"sizes": (20, 100), "repeats": 1},
    4: {"ks": (1, 5), "rounds_k1": 1},
    6: {"jobs": 50, "repeats": 1},
    7: {"mbytes": 1, "repeats": 1},
    8: {"seconds": 0.2, "repeats": 1, "jobs": 10},
}


def _scale(kw: dict[str, Any], numbers: set[int]) -> list[Row]:
    runs = m3_scale.scale_runs(**kw)
    rows = [m3_scale.listing_row(runs)] if 3 in numbers else []
    return rows + ([m3_scale.memory_row(runs)] if 5 in numbers else [])


def _one(fn: Callable[..., Row], kw: dict[str, Any]) -> list[Row]:
    return [fn(**kw)]


def _plan(
    sizes: dict[int, dict[str, Any]], only: set[int]
) -> list[tuple[str, Callable[[], list[Row]]]]:
    plan: list[tuple[str, Callable[[], list[Row]]]] = []
    simple: dict[int, Callable[..., Row]] = {
        1: m1_roundtrip.measure,
        2: m2_codec.measure,
        4: m4_firing.measure,
        6: m6_create.measure,
        7: m7_log.measure,
        8: m8_fuse.measure,
    }
    for n in sorted(only):
        if n in simple:
            fn, kw = simple[n], sizes[n]
            plan.append((f"#{n}", functools.partial(_one, fn, kw)))
        elif n == 3 or (n == 5 and 3 not in only):
            plan.append(("#3/#5", lambda: _scale(sizes[3], only & {3, 5})))
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run; the exit status (1 if a measurement failed to run)."""
    p = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument(
        "--only",
        type=int,
        action="append",
        choices=range(1, 9),
        metavar="N",
        help="run only measurement N (repeatable)",
    )
    p.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md", help="results file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench %(message)s")
    only = set(args.only or range(1, 9))
    rows: list[Row] = []
    failed = []
    t0 = time.perf_counter()
    for label, run in _plan(QUICK if args.quick else FULL, only):
        t = time.perf_counter()
        try:
            rows += run()
        except Exception:  # one failed measurement must not cost the others
            log.error("%s failed:\n%s", label, traceback.format_exc())
            failed.append(label)
            continue
        log.info("%s done in %.0f s", label, time.perf_counter() - t)
    rows.sort(key=lambda r: r.number)
    command = (
        "python3 -m bench"
        + (" --quick" if args.quick else "")
        + "".join(f" --only {n}" for n in sorted(args.only or []))
    )
    text = document(rows, quick=args.quick, command=command, seconds=time.perf_counter() - t0)
    if failed:
        text += f"\nFailed to run: {', '.join(failed)} (see the log).\n"
    args.out.write_text(text)
    sys.stdout.write(table(rows) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
