"""Random request sequences against a session over the real core: every request gets exactly one
reply of the right kind (its R-message or an error), no exception escapes, nothing is logged at
ERROR, and every reply encodes in the session's dialect."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobd_9p import wire
from jobd_9p.session import Session
from jobd_core import CoreConfig, open_core

FIDS = st.integers(0, 6)
NAMES = st.sampled_from(["clone", "jobs", "hello", "ctl", "cmd", "schedule", "log", "status",
                         "..", "", "nope", "a/b"])  # fmt: skip
DATA = st.sampled_from([b"hello:@daily:echo hi", b"start\n", b"stop", b"run", b"bogus",
                        b"0 0 * * *", b"*/0 * * * *", b"x:y", b"", b"\xff\xfe"])  # fmt: skip
PATHS = [(), ("clone",), ("jobs",), ("jobs", "hello"), ("jobs", "hello", "ctl"),
         ("jobs", "hello", "cmd"), ("jobs", "hello", "log"), ("jobs", "hello", "schedule")]
OFFSETS = st.sampled_from([0, 1, 10, 100, 2**32, 2**63])
COUNTS = st.sampled_from([0, 1, 16, 100, 8192, 2**32 - 1])


def _requests(dialect: str) -> st.SearchStrategy[wire.Message]:
    common: list[st.SearchStrategy[wire.Message]] = [
        st.builds(wire.Twalk, tag=st.just(1), fid=st.just(0), newfid=st.integers(1, 6),
                  wnames=st.sampled_from(PATHS)),
        st.builds(wire.Twalk, tag=st.just(1), fid=st.just(0), newfid=st.integers(1, 6),
                  wnames=st.sampled_from(PATHS)),
        st.builds(wire.Twalk, tag=st.just(1), fid=FIDS, newfid=FIDS,
                  wnames=st.lists(NAMES, max_size=4).map(tuple)),
        st.builds(wire.Tread, tag=st.just(1), fid=FIDS, offset=OFFSETS, count=COUNTS),
        st.builds(wire.Twrite, tag=st.just(1), fid=FIDS, offset=OFFSETS, data=DATA),
        st.builds(wire.Tclunk, tag=st.just(1), fid=FIDS),
        st.builds(wire.Tremove, tag=st.just(1), fid=FIDS),
        st.builds(wire.Tstat, tag=st.just(1), fid=FIDS),
        st.builds(wire.Tflush, tag=st.just(1), oldtag=st.integers(0, 3)),
        st.builds(wire.Tattach, tag=st.just(1), fid=FIDS, afid=st.just(wire.NOFID),
                  uname=st.just(""), aname=st.just("")),
    ]  # fmt: skip
    if dialect == "9P2000.L":
        common += [
            st.builds(wire.Tlopen, tag=st.just(1), fid=FIDS,
                      flags=st.sampled_from([0, 1, 2, 0o1001, 0o200000])),
            st.builds(wire.Treaddir, tag=st.just(1), fid=FIDS, offset=OFFSETS, count=COUNTS),
            st.builds(wire.Tgetattr, tag=st.just(1), fid=FIDS, request_mask=st.just(0x3FFF)),
            st.builds(wire.Tsetattr, tag=st.just(1), fid=FIDS, valid=st.sampled_from([8, 0x30, 1]),
                      mode=st.just(0o644), uid=st.just(0), gid=st.just(0),
                      size=st.sampled_from([0, 5]), atime_sec=st.just(0), atime_nsec=st.just(0),
                      mtime_sec=st.just(0), mtime_nsec=st.just(0)),
            st.builds(wire.Tunlinkat, tag=st.just(1), dirfid=FIDS, name=NAMES,
                      flags=st.sampled_from([0, wire.AT_REMOVEDIR])),
        ]  # fmt: skip
    else:
        common.append(st.builds(wire.Topen, tag=st.just(1), fid=FIDS,
                                mode=st.sampled_from([0, 1, 2, 3, 0x11, 0x40])))  # fmt: skip
    return st.one_of(common)


def _expected_reply(request: wire.Message) -> str:
    return "R" + type(request).__name__[1:]


async def _run(dialect: str, requests: list[wire.Message], dbdir: Path) -> None:
    async with open_core(CoreConfig(dbdir=dbdir, shutdown_grace=0.5)) as core:
        session = Session(core.namespace, max_msize=8192)
        d = wire.Dialect(dialect)
        await session.handle(wire.Tversion(tag=wire.NOTAG, msize=8192, version=dialect))
        await session.handle(wire.Tattach(tag=1, fid=0, afid=wire.NOFID, uname="", aname=""))
        opener: wire.Message = (
            wire.Tlopen(tag=1, fid=99, flags=1) if d is wire.Dialect.L
            else wire.Topen(tag=1, fid=99, mode=1)
        )  # fmt: skip
        for setup in (wire.Twalk(tag=1, fid=0, newfid=99, wnames=("clone",)), opener,
                      wire.Twrite(tag=1, fid=99, offset=0, data=b"hello:@daily:echo hi"),
                      wire.Tclunk(tag=1, fid=99)):  # fmt: skip
            assert not isinstance(await session.handle(setup), wire.Rerror | wire.Rlerror)
        for request in requests:
            reply = await session.handle(request)
            assert reply.tag == request.tag
            name = type(reply).__name__
            assert name in (_expected_reply(request), "Rerror", "Rlerror"), (request, reply)
            wire.encode(reply, d)
            if isinstance(reply, wire.Rread):
                assert len(reply.data) <= 8192 - wire.IOHDRSZ
        await session.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dialect=st.sampled_from(["9P2000", "9P2000.u", "9P2000.L"]))
def test_random_requests_always_get_one_proper_reply(data: Any, dialect: str) -> None:
    requests = data.draw(st.lists(_requests(dialect), max_size=40))
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(_run, dialect, requests, Path(tmp) / "db")
