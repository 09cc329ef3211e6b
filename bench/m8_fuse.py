"""#8 FUSE read cycle: open, read, close of ``jobs/NAME/schedule`` through the jobd-fuse mount,
against the same cycle on a tmpfs file, each from a separate process, alternately."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ._populate import FAR_SCHEDULE, build_db, job_name
from ._procs import run_jobd_fuse, run_load
from ._report import Row, median


def measure(seconds: float = 3.0, repeats: int = 3, jobs: int = 100) -> Row:
    """``repeats`` trials of ``seconds`` each way; median ops/s and their ratio."""
    with tempfile.TemporaryDirectory(prefix="bench8-", dir="/dev/shm") as tmp:
        base = Path(tmp)
        build_db(base / "db", jobs)
        ref = base / "schedule"
        ref.write_text(FAR_SCHEDULE + "\n")
        mnt = base / "mnt"
        mnt.mkdir()
        fuse, tmpfs = [], []
        with run_jobd_fuse(base / "db", mnt):
            target = mnt / "jobs" / job_name(7) / "schedule"
            for _ in range(repeats):
                fuse.append(run_load({"kind": "fileloop", "path": str(target), "seconds": seconds}))
                tmpfs.append(run_load({"kind": "fileloop", "path": str(ref), "seconds": seconds}))
    f = median([r["cycles"] / r["wall"] for r in fuse])
    t = median([r["cycles"] / r["wall"] for r in tmpfs])
    cpu = median([r["cpu"] / r["wall"] for r in fuse])
    notes = [
        f"{repeats} trials of {seconds:g} s; the looping process used {cpu:.0%} of a core "
        "on the FUSE side (its own system calls included)"
    ]
    return Row(
        8,
        "FUSE read cycle (open, read, close)",
        f"{f:,.0f} ops/s",
        f"tmpfs {t:,.0f} ops/s",
        f"{f / t:.3f}x",
        "report the ratio",
        None,
        notes,
    )
