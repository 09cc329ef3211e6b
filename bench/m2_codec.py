"""#2 codec: decode + encode per message, jobd_9p.wire against py9p's codec (python-9p).

py9p speaks 9P2000 only. Twalk/Rwalk/Tread/Rread are compared on byte-identical 9P2000 frames
(checked equal before timing); jobd's .L Rgetattr and Rreaddir have no py9p counterpart, so
they are compared with the 9P2000 messages that carry the same information: Rstat (a file's
attributes) and an Rread of the same directory bytes (a 9P2000 directory read).
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import py9p

from jobd_9p import wire
from jobd_9p.wire import Dialect

from ._report import Row, median

TARGET = 10.0
C = Dialect.P9P2000
L = Dialect.L
_Q = wire.Qid(0, 1, 42)
_PQ = py9p.Qid(0, 1, 42)
_STAT = wire.Stat(0, 0, _Q, 0o644, 1, 2, 100, "status", "jobd", "jobd", "jobd")
_PSTAT = py9p.Dir(0, 0, _PQ, 0o644, 1, 2, 100, "status", "jobd", "jobd", "jobd")
_NAMES = ("jobs", "job000007", "schedule")
_DIRENTS = wire.encode_dirents(
    [wire.Dirent(wire.Qid(0x80, 0, 100 + i), i + 1, 4, f"job{i:06d}") for i in range(40)]
)
_GETATTR = wire.Rgetattr(
    1, wire.P9_GETATTR_BASIC, _Q, 0o100644, 0, 0, 1, 0, 100, 4096, 1, 1, 2, 1, 2, 1, 2, 0, 0, 0, 0
)

# (name, jobd message, jobd dialect, py9p message, same bytes?)
CASES: list[tuple[str, wire.Message, Dialect, Any, bool]] = [
    (
        "Twalk",
        wire.Twalk(1, 1, 2, _NAMES),
        C,
        py9p.Twalk(fid=1, newfid=2, wname=_NAMES, tag=1),
        True,
    ),
    ("Rwalk", wire.Rwalk(1, (_Q, _Q, _Q)), C, py9p.Rwalk(wqid=(_PQ, _PQ, _PQ), tag=1), True),
    ("Tread", wire.Tread(1, 5, 0, 8192), C, py9p.Tread(fid=5, offset=0, count=8192, tag=1), True),
    ("Rread 4k", wire.Rread(1, b"x" * 4096), C, py9p.Rread(data=b"x" * 4096, tag=1), True),
    ("Rgetattr (py9p: Rstat)", _GETATTR, L, py9p.Rstat(stat=_PSTAT, tag=1), False),
    (
        "Rreaddir 40 (py9p: Rread)",
        wire.Rreaddir(1, _DIRENTS),
        L,
        py9p.Rread(data=_DIRENTS, tag=1),
        False,
    ),
]


def _per_call(fn: Callable[[], object], number: int, repeats: int) -> float:
    """Seconds per call: the median of ``repeats`` timings of ``number`` calls."""
    return median(timeit.repeat(fn, number=number, repeat=repeats)) / number


def check_cases() -> None:
    """The same-bytes cases really encode to the same bytes, and both codecs read them back.

    Raises:
        AssertionError: a mismatch.
    """
    for name, ours, dialect, theirs, same in CASES:
        frame = wire.encode(ours, dialect)
        assert wire.decode(frame, dialect) == ours, name
        if same:
            assert frame == py9p.encode_message(theirs), name
            assert py9p.encode_message(py9p.decode_message(frame)) == frame, name


def measure(number: int = 3000, repeats: int = 5) -> Row:
    """Time every case; the ratio is py9p's total time over jobd's for the whole set."""
    check_cases()
    notes, ours_total, theirs_total = [], 0.0, 0.0
    for name, ours, dialect, theirs, _same in CASES:
        frame = wire.encode(ours, dialect)
        their_frame = py9p.encode_message(theirs)
        o = _per_call(
            lambda m=ours, f=frame, d=dialect: wire.decode(wire.encode(m, d), d),  # type: ignore[misc]
            number,
            repeats,
        )
        t = _per_call(
            lambda m=theirs, f=their_frame: py9p.decode_message(py9p.encode_message(m)),  # type: ignore[misc]
            max(1, number // 5),
            repeats,
        )
        ours_total += o
        theirs_total += t
        notes.append(f"{name}: jobd {o * 1e6:.2f} us, py9p {t * 1e6:.2f} us, {t / o:.1f}x")
    ratio = theirs_total / ours_total
    return Row(
        2,
        "codec: encode + decode per message (Twalk, Rwalk, Tread, Rread, Rgetattr, Rreaddir)",
        f"{ours_total * 1e6 / len(CASES):.2f} us/msg",
        f"py9p {theirs_total * 1e6 / len(CASES):.2f} us/msg",
        f"{ratio:.1f}x faster",
        f">= {TARGET:g}x faster",
        ratio >= TARGET,
        notes,
    )
