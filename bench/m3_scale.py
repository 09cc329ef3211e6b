"""#3 listing and walking as the tree grows, #5 memory and start-up, from the same jobd runs.

For each size a database of that many started jobs (scheduled once a year) is written through
the core's store; jobd is started on it (start-up: spawn until it serves; settled: until its
background planning of every job's next fire is done and it idles), then a separate process
lists ``jobs/`` (Treaddir with 1 MiB msize) several times and walks to single jobs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ._populate import build_db, job_name
from ._procs import bare_rss_kib, run_jobd, run_load, settle, status_kib
from ._report import Row, median

LIST_TARGET_S = 1.0
KIB_PER_JOB_TARGET = 4.0
STARTUP_TARGET_S = 3.0


@dataclass
class ScaleRun:
    jobs: int
    startup: float  # spawn -> serving
    settled: float  # spawn -> idle
    rss_kib: int  # after settling
    rss_listed_kib: int  # after the listings
    listing: float  # median seconds per full listing
    entries: int
    walk: float  # median seconds per walk+clunk
    client_cpu: float  # seconds of the lister's CPU per listing


def scale_runs(
    sizes: tuple[int, ...] = (1000, 10_000, 100_000), repeats: int = 5
) -> list[ScaleRun]:
    """One jobd per size; the figures of #3 and #5."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench3-", dir="/dev/shm") as tmp:
        for n in sizes:
            db = Path(tmp) / f"db{n}"
            build_db(db, n)
            with run_jobd(db, timeout=120) as jobd:
                settled = jobd.startup + settle(jobd.pid)
                rss = status_kib(jobd.pid, "VmRSS")
                walks = [job_name(i) for i in range(0, n, max(1, n // 50))]
                got = run_load(
                    {
                        "kind": "list",
                        "addr": jobd.addr,
                        "path": ["jobs"],
                        "repeats": repeats,
                        "walks": walks,
                    }
                )
                runs.append(
                    ScaleRun(
                        n,
                        jobd.startup,
                        settled,
                        rss,
                        status_kib(jobd.pid, "VmRSS"),
                        median(got["listings"]),
                        got["entries"],
                        median(got["walks"]),
                        got["cpu"] / repeats,
                    )
                )
            for f in db.iterdir():
                f.unlink()
    return runs


def listing_row(runs: list[ScaleRun]) -> Row:
    """Row #3: listing time per size, growth against the smallest, walk time."""
    base, big = runs[0], runs[-1]
    growth = (big.listing / base.listing) / (big.jobs / base.jobs)
    walk_growth = big.walk / base.walk
    notes = [
        f"{r.jobs:,} jobs: listing {r.listing * 1e3:,.1f} ms ({r.entries:,} entries; "
        f"{r.listing / r.jobs * 1e6:.1f} us/entry; lister CPU {r.client_cpu * 1e3:,.0f} ms), "
        f"walk+clunk {r.walk * 1e6:,.0f} us"
        for r in runs
    ]
    notes.append(
        "linearity = (time ratio) / (size ratio) against the smallest size: 1.0 is "
        "linear; walk growth = walk time at the largest / at the smallest size"
    )
    ok = big.listing < LIST_TARGET_S and growth < 2.0 and walk_growth < 2.0
    return Row(
        3,
        f"ls jobs/ at {', '.join(f'{r.jobs:,}' for r in runs)}; walk to one job",
        " / ".join(f"{r.listing * 1e3:,.0f} ms" for r in runs) + f"; walk {big.walk * 1e6:,.0f} us",
        f"itself at {base.jobs:,}: {base.listing * 1e3:,.1f} ms; walk {base.walk * 1e6:,.0f} us",
        f"linearity {growth:.2f}; walk x{walk_growth:.2f}",
        f"{big.jobs:,} listing < {LIST_TARGET_S:g} s, linear, walk flat",
        ok,
        notes,
    )


def memory_row(runs: list[ScaleRun]) -> Row:
    """Row #5: RSS per job over the bare interpreter, start-up at the largest size."""
    bare = bare_rss_kib()
    big = runs[-1]
    per_job = (big.rss_listed_kib - bare) / big.jobs
    notes = [
        f"{r.jobs:,} jobs: RSS {r.rss_kib / 1024:,.1f} MiB after start-up, "
        f"{r.rss_listed_kib / 1024:,.1f} MiB after the listings; serving after "
        f"{r.startup:.2f} s, idle after {r.settled:.2f} s"
        for r in runs
    ]
    notes.append(
        f"reference: bare interpreter with jobd's packages imported {bare / 1024:.1f} MiB; "
        f"per job = (RSS after listings - bare) / jobs"
    )
    ok = per_job <= KIB_PER_JOB_TARGET and big.startup < STARTUP_TARGET_S
    return Row(
        5,
        f"memory and start-up at {', '.join(f'{r.jobs:,}' for r in runs)} jobs",
        " / ".join(f"{r.rss_listed_kib / 1024:,.0f} MiB" for r in runs)
        + f"; start-up {big.jobs:,}: {big.startup:.2f} s (idle {big.settled:.2f} s)",
        f"bare interpreter {bare / 1024:.1f} MiB",
        f"{per_job:.2f} KiB/job",
        f"<= {KIB_PER_JOB_TARGET:g} KiB/job; start-up {big.jobs:,} < {STARTUP_TARGET_S:g} s",
        ok,
        notes,
    )
