"""Codec speed against py9p (plan9port's C codec behind ctypes), per message, decode + encode.

Run as a script for the table: ``python3 tests/ninep/test_wire_bench.py``. As a test it only
checks a conservative floor (at least 3x faster than py9p over all the messages, 1.5x on each),
measured side by side so machine load affects both alike.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from typing import Any

import py9p

from jobd_9p import wire
from jobd_9p.wire import Dialect

D = Dialect.P9P2000
_Q = wire.Qid(0, 1, 42)
_PQ = py9p.Qid(0, 1, 42)
_STAT = wire.Stat(0, 0, _Q, 0o644, 1, 2, 100, "status", "jobd", "jobd", "jobd")
_PSTAT = py9p.Dir(0, 0, _PQ, 0o644, 1, 2, 100, "status", "jobd", "jobd", "jobd")
NAMES = ("jobs", "backup", "log")

CASES: list[tuple[str, wire.Message, Any]] = [
    ("Twalk", wire.Twalk(1, 1, 2, NAMES), py9p.Twalk(fid=1, newfid=2, wname=NAMES, tag=1)),
    ("Rwalk", wire.Rwalk(1, (_Q, _Q, _Q)), py9p.Rwalk(wqid=(_PQ, _PQ, _PQ), tag=1)),
    ("Tread", wire.Tread(1, 5, 0, 8192), py9p.Tread(fid=5, offset=0, count=8192, tag=1)),
    ("Rread 4k", wire.Rread(1, b"x" * 4096), py9p.Rread(data=b"x" * 4096, tag=1)),
    ("Twrite", wire.Twrite(1, 5, 0, b"start\n"), py9p.Twrite(fid=5, data=b"start\n", tag=1)),
    ("Tclunk", wire.Tclunk(1, 5), py9p.Tclunk(fid=5, tag=1)),
    ("Rclunk", wire.Rclunk(1), py9p.Rclunk(tag=1)),
    ("Rstat", wire.Rstat(1, _STAT), py9p.Rstat(stat=_PSTAT, tag=1)),
    ("Tattach", wire.Tattach(1, 0, wire.NOFID, "root", ""),
     py9p.Tattach(fid=0, uname="root", afid=wire.NOFID, aname="", tag=1)),
    ("Rerror", wire.Rerror(1, "job exists"), py9p.Rerror(ename="job exists", tag=1)),
]  # fmt: skip


def _best(fn: Callable[[], object], number: int) -> float:
    """Seconds per call: the best of 5 repeats."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def measure(number: int = 2000) -> list[tuple[str, float, float, float, float]]:
    """(name, ours encode, ours decode, py9p encode, py9p decode) in microseconds."""
    rows = []
    for name, ours, theirs in CASES:
        frame = wire.encode(ours, D)
        assert frame == py9p.encode_message(theirs)
        row = (
            _best(lambda m=ours: wire.encode(m, D), number * 10),  # type: ignore[misc]
            _best(lambda f=frame: wire.decode(f, D), number * 10),  # type: ignore[misc]
            _best(lambda m=theirs: py9p.encode_message(m), number),  # type: ignore[misc]
            _best(lambda f=frame: py9p.decode_message(f), number),  # type: ignore[misc]
        )
        oe, od, pe, pd = (t * 1e6 for t in row)
        rows.append((name, oe, od, pe, pd))
    return rows


def test_codec_is_much_faster_than_py9p() -> None:
    rows = measure(number=300)
    for name, oe, od, pe, pd in rows:
        assert (pe + pd) / (oe + od) >= 1.5, name  # loose per message: CI machines are noisy
    ours = sum(oe + od for _, oe, od, _, _ in rows)
    theirs = sum(pe + pd for _, _, _, pe, pd in rows)
    assert theirs / ours >= 3


def main() -> None:
    out = sys.stdout
    out.write(f"{'message':10} {'enc us':>7} {'dec us':>7} {'py9p enc':>9} {'py9p dec':>9}"
              f" {'enc x':>6} {'dec x':>6} {'both x':>6}\n")  # fmt: skip
    total_ours = total_theirs = 0.0
    for name, oe, od, pe, pd in measure():
        total_ours += oe + od
        total_theirs += pe + pd
        out.write(f"{name:10} {oe:7.2f} {od:7.2f} {pe:9.2f} {pd:9.2f}"
                  f" {pe / oe:6.1f} {pd / od:6.1f} {(pe + pd) / (oe + od):6.1f}\n")  # fmt: skip
    out.write(f"all messages, decode+encode: {total_theirs / total_ours:.1f}x\n")


if __name__ == "__main__":
    main()
