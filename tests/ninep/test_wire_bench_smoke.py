"""The correctness half of the old codec speed test: the messages the benchmark times
(``bench/m2_codec.py``) encode to the same bytes as py9p's independent codec, and each codec
reads the other's frames back. No timing here: speed is measured by ``python3 -m bench``."""

from __future__ import annotations

from typing import Any

import py9p
import pytest

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
    (
        "Tattach",
        wire.Tattach(1, 0, wire.NOFID, "root", ""),
        py9p.Tattach(fid=0, uname="root", afid=wire.NOFID, aname="", tag=1),
    ),
    ("Rerror", wire.Rerror(1, "job exists"), py9p.Rerror(ename="job exists", tag=1)),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES, ids=[c[0] for c in CASES])
def test_same_bytes_as_py9p_both_ways(name: str, ours: wire.Message, theirs: Any) -> None:
    frame = wire.encode(ours, D)
    assert frame == py9p.encode_message(theirs), name
    assert wire.decode(frame, D) == ours
    assert py9p.encode_message(py9p.decode_message(frame)) == frame


def test_the_benchmark_cases_agree_with_py9p() -> None:
    """``bench/m2_codec.py`` checks its own cases before timing them; run that check here."""
    from bench.m2_codec import check_cases

    check_cases()
