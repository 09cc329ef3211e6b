"""#7 log: read a big job log over 9P (msize 1 MiB, reads pipelined) and through FUSE.

The log is written into the database through the core's store (100-byte lines). Over 9P a
separate process streams it with ``depth`` Treads in flight; through FUSE, ``cat`` copies it to
/dev/null. The reference is ``cat`` of the same bytes from tmpfs. Peak RSS: the server's
VmHWM after the read against its VmRSS before ("flat" = grew by under a tenth of the log).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from ._populate import build_db, job_name
from ._procs import run_jobd, run_jobd_fuse, run_load, status_kib
from ._report import Row, median

TARGET_MBS = 100.0


def _cat(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def measure(mbytes: int = 100, repeats: int = 3, depth: int = 2) -> Row:
    """Read a ``mbytes`` MB log ``repeats`` times each way; median MB/s."""
    size = mbytes * 1_000_000
    with tempfile.TemporaryDirectory(prefix="bench7-", dir="/dev/shm") as tmp:
        base = Path(tmp)
        build_db(base / "db", 1, started=False, log_bytes=size)
        ref = base / "ref.log"
        with ref.open("wb") as f:
            f.write((b"x" * 99 + b"\n") * (size // 100))
        ref_s = median([_cat(ref) for _ in range(repeats)])
        with run_jobd(base / "db", "--log-limit", str(2 * size)) as jobd:
            before = status_kib(jobd.pid, "VmRSS")
            nine = [
                run_load(
                    {
                        "kind": "stream",
                        "addr": jobd.addr,
                        "aname": "",
                        "path": ["jobs", job_name(0), "log"],
                        "msize": 1 << 20,
                        "depth": depth,
                    }
                )
                for _ in range(repeats)
            ]
            nine_peak = status_kib(jobd.pid, "VmHWM") - before
        mnt = base / "mnt"
        mnt.mkdir()
        with run_jobd_fuse(base / "db", mnt) as pid:
            fbefore = status_kib(pid, "VmRSS")
            fuse_s = median([_cat(mnt / "jobs" / job_name(0) / "log") for _ in range(repeats)])
            fuse_peak = status_kib(pid, "VmHWM") - fbefore
    got = nine[0]["bytes"]
    nine_mbs = median([r["bytes"] / r["wall"] for r in nine]) / 1e6
    fuse_mbs, ref_mbs = size / fuse_s / 1e6, size / ref_s / 1e6
    flat = max(nine_peak, fuse_peak) * 1024 < size / 10
    notes = [
        f"log of {got:,} bytes; 9P: {nine_mbs:,.0f} MB/s (load generator CPU "
        f"{median([r['cpu'] / r['wall'] for r in nine]):.0%}), jobd peak RSS +"
        f"{nine_peak / 1024:,.1f} MiB over its {before / 1024:,.1f} MiB",
        f"FUSE: {fuse_mbs:,.0f} MB/s, jobd-fuse peak RSS +{fuse_peak / 1024:,.1f} MiB over its "
        f"{fbefore / 1024:,.1f} MiB",
        f"reference: cat from tmpfs {ref_mbs:,.0f} MB/s",
    ]
    return Row(
        7,
        f"read a {mbytes} MB log: 9P (msize 1 MiB) / FUSE",
        f"9P {nine_mbs:,.0f} MB/s; FUSE {fuse_mbs:,.0f} MB/s; peak RSS +{nine_peak / 1024:,.0f} / "
        f"+{fuse_peak / 1024:,.0f} MiB",
        f"cat tmpfs {ref_mbs:,.0f} MB/s",
        f"{nine_mbs / ref_mbs:.3f}x / {fuse_mbs / ref_mbs:.3f}x",
        f">= {TARGET_MBS:g} MB/s, RSS flat",
        min(nine_mbs, fuse_mbs) >= TARGET_MBS and flat and got == size,
        notes,
    )
