"""Fuzz input -> a sequence of 9P requests (deterministic: the same bytes give the same requests,
with or without atheris, so every input in ``fuzz/corpus/`` replays exactly in CI).

The requests aim at the protocol's edges: fid reuse, reads of unopened fids, walks past files,
writes to directories, Tflush of unknown tags, counts beyond msize, msize below the minimum,
dialect switches midway, and raw frames decoded from the input itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from jobd_9p import wire

FIDS = (0, 1, 2, 3, 4, 5, 6, 7, wire.NOFID)
TAGS = (0, 1, 2, 3, wire.NOTAG)
NAMES = ("clone", "jobs", "j0", "j1", "ctl", "cmd", "schedule", "log", "status", "stats", "..",
         ".", "", "nope", "a/b", "x" * 300)  # fmt: skip
DATA = (b"start", b"stop\n", b"run", b"kill", b"delete", b"bogus verb", b"j0:@daily:echo x",
        b"j1:* * * * * * *:true", b"j2:*/0 * * * *:x", b"0 0 * * *", b"echo changed", b"",
        b"\xff\xfe", b"a:b", b"j3:@hourly:" + b"y" * 5000)  # fmt: skip
OFFSETS = (0, 1, 7, 100, 2**31, 2**32, 2**63, 2**64 - 1)
COUNTS = (0, 1, 7, 24, 100, 4096, 8168, 8192, 65536, 2**32 - 1)
MSIZES = (0, 7, 100, 511, 512, 513, 4096, 8192 + 24, 1 << 20, 2**32 - 1)
VERSIONS = ("9P2000", "9P2000.u", "9P2000.L", "9P2000.X", "9P", "", "9P2000.L.x", "unknown")
OPEN_MODES = (0, 1, 2, 3, 0x10, 0x11, 0x40, 0x41, 0x80, 0xFF)
LFLAGS = (0, 1, 2, 0o1000, 0o1001, 0o100, 0o300, 0o200000, 0o40000, 0xFFFFFFFF)
SETATTR_VALID = (0, 1, 2, 4, 8, 0x10, 0x30, 0x180, 0x1FF, 0xFFFFFFFF)
GETATTR_MASK = (0, 0x7FF, 0x3FFF, 0xFFFFFFFFFFFFFFFF)


class Reader:
    """Reads small choices out of the fuzz input; past its end every read gives 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def pick(self, choices: tuple[object, ...]) -> object:
        return choices[self.byte() % len(choices)]

    def take(self, limit: int) -> bytes:
        n = min(self.byte() % (limit + 1), self.left)
        self.pos += n
        return self.data[self.pos - n : self.pos]


def _name(r: Reader) -> str:
    if r.byte() % 8 == 0:
        return r.take(16).decode("utf-8", "replace")
    return str(r.pick(NAMES))


def _data(r: Reader) -> bytes:
    return r.take(64) if r.byte() % 6 == 0 else bytes(r.pick(DATA))  # type: ignore[call-overload]


def _int(r: Reader, choices: tuple[int, ...]) -> int:
    return int(r.pick(choices))  # type: ignore[call-overload]


def _fid(r: Reader) -> int:
    return _int(r, FIDS)


def _wstat(r: Reader) -> wire.Stat:
    keep = r.byte() % 4
    return wire.Stat(
        type=0xFFFF, dev=0xFFFFFFFF, qid=wire.Qid(0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF),
        mode=0xFFFFFFFF if keep else _int(r, (0o644, 0o777, 0x80000000 | 0o755)),
        atime=0xFFFFFFFF, mtime=_int(r, (0xFFFFFFFF, 0, 12345)),
        length=_int(r, (0xFFFFFFFFFFFFFFFF, 0, 0, 5)), name="" if keep != 1 else _name(r),
        uid="", gid="", muid="", extension="",
        n_uid=0xFFFFFFFF, n_gid=0xFFFFFFFF, n_muid=0xFFFFFFFF,
    )  # fmt: skip


Builder = Callable[[Reader, int], wire.Message]

_BUILDERS: tuple[Builder, ...] = (
    lambda r, t: wire.Tversion(tag=t, msize=_int(r, MSIZES), version=str(r.pick(VERSIONS))),
    lambda r, t: wire.Tattach(tag=t, fid=_fid(r), afid=_fid(r), uname="u", aname=_name(r)),
    lambda r, t: wire.Tauth(tag=t, afid=_fid(r), uname="u", aname=""),
    lambda r, t: wire.Twalk(tag=t, fid=_fid(r), newfid=_fid(r),
                            wnames=tuple(_name(r) for _ in range(r.byte() % 5))),
    lambda r, t: wire.Twalk(tag=t, fid=_fid(r), newfid=_fid(r),
                            wnames=tuple(_name(r) for _ in range(r.byte() % 20))),
    lambda r, t: wire.Topen(tag=t, fid=_fid(r), mode=_int(r, OPEN_MODES)),
    lambda r, t: wire.Tlopen(tag=t, fid=_fid(r), flags=_int(r, LFLAGS)),
    lambda r, t: wire.Tread(tag=t, fid=_fid(r), offset=_int(r, OFFSETS), count=_int(r, COUNTS)),
    lambda r, t: wire.Twrite(tag=t, fid=_fid(r), offset=_int(r, OFFSETS), data=_data(r)),
    lambda r, t: wire.Tclunk(tag=t, fid=_fid(r)),
    lambda r, t: wire.Tremove(tag=t, fid=_fid(r)),
    lambda r, t: wire.Tstat(tag=t, fid=_fid(r)),
    lambda r, t: wire.Twstat(tag=t, fid=_fid(r), stat=_wstat(r)),
    lambda r, t: wire.Tflush(tag=t, oldtag=_int(r, TAGS)),
    lambda r, t: wire.Tcreate(tag=t, fid=_fid(r), name=_name(r),
                              perm=_int(r, (0o644, 0x80000000 | 0o755)), mode=r.byte() % 4),
    lambda r, t: wire.Tlcreate(tag=t, fid=_fid(r), name=_name(r), flags=_int(r, LFLAGS),
                               mode=0o644, gid=0),
    lambda r, t: wire.Tmkdir(tag=t, dfid=_fid(r), name=_name(r), mode=0o755, gid=0),
    lambda r, t: wire.Tgetattr(tag=t, fid=_fid(r), request_mask=_int(r, GETATTR_MASK)),
    lambda r, t: wire.Tsetattr(tag=t, fid=_fid(r), valid=_int(r, SETATTR_VALID), mode=0o644,
                               uid=_int(r, (0, 1000)), gid=0, size=_int(r, (0, 0, 3)),
                               atime_sec=0, atime_nsec=0, mtime_sec=0, mtime_nsec=0),
    lambda r, t: wire.Treaddir(tag=t, fid=_fid(r), offset=_int(r, (*OFFSETS, 19, 24, 27)),
                               count=_int(r, COUNTS)),
    lambda r, t: wire.Tunlinkat(tag=t, dirfid=_fid(r), name=_name(r),
                                flags=_int(r, (0, wire.AT_REMOVEDIR, 0xFFFFFFFF))),
    lambda r, t: wire.Txattrwalk(tag=t, fid=_fid(r), newfid=_fid(r), name=_name(r)),
    lambda r, t: wire.Tstatfs(tag=t, fid=_fid(r)),
    lambda r, t: wire.Tfsync(tag=t, fid=_fid(r), datasync=r.byte() % 2),
    lambda r, t: wire.Treadlink(tag=t, fid=_fid(r)),
    lambda r, t: wire.Trenameat(tag=t, olddirfid=_fid(r), oldname=_name(r),
                                newdirfid=_fid(r), newname=_name(r)),
)  # fmt: skip


def requests(data: bytes, dialect: wire.Dialect) -> Iterator[wire.Message]:
    """The requests of one fuzz input. Each begins with an opcode byte; opcode 255 is a raw
    frame taken from the input and decoded in ``dialect`` (skipped unless it decodes to a
    T-message)."""
    r = Reader(data)
    while r.left:
        op = r.byte()
        tag = _int(r, TAGS)
        if op == 255:
            frame = r.take(128)
            try:
                msg = wire.decode(frame, dialect)
            except wire.ProtocolError:
                continue
            if type(msg).__name__.startswith("T"):
                yield msg
            continue
        yield _BUILDERS[op % len(_BUILDERS)](r, tag)
