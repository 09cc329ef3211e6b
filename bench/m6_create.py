"""#6 creation: jobs per second through ``clone`` over 9P, durably committed.

A separate process keeps ``connections`` x ``depth`` clone cycles in flight (Twalk clone,
Tlopen O_WRONLY, Twrite "NAME:SCHEDULE:true", Tclunk); every reply means "committed". To show
it, jobd is then killed with SIGKILL and the database is counted: every job acknowledged must
be there.
"""

from __future__ import annotations

import signal
import sqlite3
import tempfile
from pathlib import Path

from jobd_core import DB_NAME

from ._populate import FAR_SCHEDULE
from ._procs import run_jobd, run_load
from ._report import Row, median, percentile

TARGET = 2000.0


def measure(jobs: int = 3000, connections: int = 4, depth: int = 8, repeats: int = 3) -> Row:
    """Create ``jobs`` jobs ``repeats`` times (a fresh database each time); median jobs/s."""
    rates, lat, cpu, durable = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench6-", dir="/dev/shm") as tmp:
        for r in range(repeats):
            db = Path(tmp) / f"db{r}"
            with run_jobd(db) as jobd:
                got = run_load(
                    {
                        "kind": "create",
                        "addr": jobd.addr,
                        "aname": "",
                        "prefix": f"c{r}x",
                        "schedule": FAR_SCHEDULE,
                        "connections": connections,
                        "depth": depth,
                        "seconds": 120,
                        "max_cycles": jobs,
                    }
                )
                jobd.proc.send_signal(signal.SIGKILL)
                jobd.proc.wait()
            with sqlite3.connect(db / DB_NAME) as conn:
                stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
            rates.append(got["cycles"] / got["wall"])
            lat += [x / 1e6 for x in got["lat_ns"]]
            cpu.append(got["cpu"] / got["wall"])
            durable.append(stored >= got["cycles"])
    rate = median(rates)
    notes = [
        f"{repeats} runs of {jobs:,} creations, {connections} connections x {depth} in "
        f"flight: {', '.join(f'{x:,.0f}' for x in rates)} jobs/s; latency p50 "
        f"{percentile(lat, 50):.1f} ms p99 {percentile(lat, 99):.1f} ms; load generator "
        f"CPU {median(cpu):.0%} of one core",
        "after SIGKILL every acknowledged job was in the database: "
        f"{'yes' if all(durable) else 'NO'}",
    ]
    return Row(
        6,
        "creation through clone over 9P, durably committed",
        f"{rate:,.0f} jobs/s",
        "-",
        "-",
        f">= {TARGET:,.0f}/s",
        rate >= TARGET and all(durable),
        notes,
    )
