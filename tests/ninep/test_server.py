"""The trio server over in-memory streams: tags, Tflush, Tversion, malformed frames, disconnects,
limits and the debug trace. (TCP and real clients: test_server_tcp.py.) Tests that wait use
pytest-trio's ``autojump_clock``: their sleeps cost no real time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from test_session_support import core  # noqa: F401

from jobd_9p import wire
from jobd_9p.server import brief, serve_connection
from jobd_core import Handle, Kind, Node, NotFound, OpenMode, Stat

Clock = trio.testing.MockClock


class RawClient:
    """Frames in, frames out over a stream; nothing checked for the caller."""

    def __init__(self, stream: trio.abc.Stream, dialect: wire.Dialect = wire.Dialect.L) -> None:
        self.stream = stream
        self.dialect = dialect
        self.decoder = wire.Decoder(dialect, 1 << 24)

    async def send(self, msg: wire.Message) -> None:
        await self.stream.send_all(wire.encode(msg, self.dialect))

    async def recv(self) -> wire.Message | None:
        """The next reply, or None when the server closed the connection."""
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                return msg
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.decoder.feed(data)

    async def rpc(self, msg: wire.Message) -> wire.Message:
        await self.send(msg)
        reply = await self.recv()
        assert reply is not None
        return reply

    async def connect(self, version: str = "9P2000.L", msize: int = 8192) -> None:
        reply = await self.rpc(wire.Tversion(tag=wire.NOTAG, msize=msize, version=version))
        assert isinstance(reply, wire.Rversion) and reply.version == version
        self.dialect = wire.Dialect(version)
        self.decoder.dialect = self.dialect
        reply = await self.rpc(wire.Tattach(tag=1, fid=0, afid=wire.NOFID, uname="", aname=""))
        assert isinstance(reply, wire.Rattach)

    async def open(self, name: str, fid: int) -> None:
        reply = await self.rpc(wire.Twalk(tag=2, fid=0, newfid=fid, wnames=(name,)))
        assert isinstance(reply, wire.Rwalk) and len(reply.wqids) == 1, reply
        reply = await self.rpc(wire.Tlopen(tag=2, fid=fid, flags=0))
        assert isinstance(reply, wire.Rlopen), reply


# ----------------------------------------------------------------- a namespace that blocks
class _Gate:
    def __init__(self) -> None:
        self.release = trio.Event()
        self.entered = 0
        self.cancelled = 0
        self.closed = 0
        self.written = 0


class _SlowHandle(Handle):
    def __init__(self, gate: _Gate) -> None:
        self.gate = gate

    async def read(self, offset: int, count: int) -> bytes:
        self.gate.entered += 1
        try:
            await self.gate.release.wait()
        except trio.Cancelled:
            self.gate.cancelled += 1
            raise
        return b"done"[offset : offset + count]

    async def write(self, offset: int, data: bytes) -> int:
        self.gate.entered += 1
        await self.gate.release.wait()
        self.gate.written += len(data)
        return len(data)

    async def close(self) -> None:
        self.gate.closed += 1


class _File(Node):
    def __init__(self, parent: Node, node_id: int, name: str, gate: _Gate) -> None:
        self.id, self.name, self.kind = node_id, name, Kind.FILE
        self._parent, self.gate = parent, gate

    def stat(self) -> Stat:
        return Stat(self.id, self.name, Kind.FILE, 0o644, 4, 0, 0, 0, 0, 0, 0, "u", "g")

    def parent(self) -> Node:
        return self._parent

    async def open(self, mode: OpenMode) -> Handle:
        return _SlowHandle(self.gate)


class _Root(Node):
    def __init__(self, gate: _Gate) -> None:
        self.id, self.name, self.kind = 1, "/", Kind.DIR
        self.files = {"slow": _File(self, 2, "slow", gate)}

    def stat(self) -> Stat:
        return Stat(1, "/", Kind.DIR, 0o755, 0, 0, 0, 0, 0, 0, 0, "u", "g")

    def parent(self) -> Node:
        return self

    def lookup(self, name: str) -> Node:
        try:
            return self.files[name]
        except KeyError:
            raise NotFound(name) from None

    def children(self) -> list[Node]:
        return list(self.files.values())

    async def open(self, mode: OpenMode) -> Handle:
        return _SlowHandle(_Gate())


class _Namespace:
    def __init__(self) -> None:
        self.gate = _Gate()
        self.root: Node = _Root(self.gate)


@asynccontextmanager
async def served(namespace: Any, **kw: Any) -> AsyncIterator[tuple[RawClient, trio.Event]]:
    """A RawClient connected to a server connection; the event is set when the server is done."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    finished = trio.Event()

    async def serve() -> None:
        await serve_connection(namespace, server_stream, **kw)
        finished.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield RawClient(client_stream), finished
        nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------------- tests
async def test_many_outstanding_tags(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, _):
        await client.connect()
        await client.open("slow", 10)
        for tag in range(20, 30):
            await client.send(wire.Tread(tag=tag, fid=10, offset=0, count=100))
        while ns.gate.entered < 10:
            await trio.sleep(0.001)
        ns.gate.release.set()
        replies = [await client.recv() for _ in range(10)]
        assert sorted(r.tag for r in replies if isinstance(r, wire.Rread)) == list(range(20, 30))


async def test_flush_cancels_and_rflush_comes_last(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, _):
        await client.connect()
        await client.open("slow", 10)
        await client.send(wire.Tread(tag=5, fid=10, offset=0, count=100))
        while ns.gate.entered < 1:
            await trio.sleep(0.001)
        await client.send(wire.Tflush(tag=6, oldtag=5))
        assert await client.recv() == wire.Rflush(tag=6)
        assert ns.gate.cancelled == 1
        # the flushed tag is free again and no late Rread for tag 5 arrives
        ns.gate.release.set()
        reply = await client.rpc(wire.Tread(tag=5, fid=10, offset=0, count=100))
        assert reply == wire.Rread(tag=5, data=b"done")


async def test_flush_lets_a_write_complete_and_drops_its_reply(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, finished):
        await client.connect()
        await client.open("slow", 10)
        reply = await client.rpc(wire.Twalk(tag=2, fid=0, newfid=11, wnames=("slow",)))
        assert isinstance(await client.rpc(wire.Tlopen(tag=2, fid=11, flags=1)), wire.Rlopen)
        await client.send(wire.Twrite(tag=5, fid=11, offset=0, data=b"start"))
        while ns.gate.entered < 1:
            await trio.sleep(0.001)
        await client.send(wire.Tflush(tag=6, oldtag=5))
        await trio.sleep(0.05)
        assert ns.gate.written == 0  # Rflush waits for the write
        ns.gate.release.set()
        assert await client.recv() == wire.Rflush(tag=6)
        assert ns.gate.written == 5
        # a disconnect mid-write lets the write finish too
        ns.gate.release = trio.Event()
        await client.send(wire.Twrite(tag=7, fid=11, offset=0, data=b"again"))
        while ns.gate.entered < 2:
            await trio.sleep(0.001)
        await client.stream.aclose()
        await trio.sleep(0.05)
        assert not finished.is_set()
        ns.gate.release.set()
        await finished.wait()
        assert ns.gate.written == 10 and isinstance(reply, wire.Rwalk)


async def test_flush_of_unknown_or_finished_tag() -> None:
    ns = _Namespace()
    ns.gate.release.set()
    async with served(ns) as (client, _):
        await client.connect()
        assert await client.rpc(wire.Tflush(tag=9, oldtag=1234)) == wire.Rflush(tag=9)
        await client.open("slow", 10)
        assert isinstance(await client.rpc(wire.Tread(tag=5, fid=10, offset=0, count=9)),
                          wire.Rread)  # fmt: skip
        assert await client.rpc(wire.Tflush(tag=9, oldtag=5)) == wire.Rflush(tag=9)


async def test_duplicate_inflight_tag_is_an_error(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, _):
        await client.connect()
        await client.open("slow", 10)
        await client.send(wire.Tread(tag=5, fid=10, offset=0, count=100))
        while ns.gate.entered < 1:
            await trio.sleep(0.001)
        dup = await client.rpc(wire.Tclunk(tag=5, fid=10))
        assert isinstance(dup, wire.Rlerror) and dup.tag == 5
        assert ns.gate.entered == 1 and ns.gate.closed == 0  # the duplicate did not run
        ns.gate.release.set()
        assert await client.recv() == wire.Rread(tag=5, data=b"done")


async def test_tversion_aborts_outstanding_requests_and_clunks(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, _):
        await client.connect()
        await client.open("slow", 10)
        await client.send(wire.Tread(tag=5, fid=10, offset=0, count=100))
        while ns.gate.entered < 1:
            await trio.sleep(0.001)
        reply = await client.rpc(wire.Tversion(tag=wire.NOTAG, msize=8192, version="9P2000"))
        assert reply == wire.Rversion(tag=wire.NOTAG, msize=8192, version="9P2000")
        assert ns.gate.cancelled == 1 and ns.gate.closed == 1


async def test_disconnect_mid_request_cancels_and_clunks(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns) as (client, finished):
        await client.connect()
        await client.open("slow", 10)
        await client.send(wire.Tread(tag=5, fid=10, offset=0, count=100))
        while ns.gate.entered < 1:
            await trio.sleep(0.001)
        await client.stream.aclose()
        await finished.wait()
        assert ns.gate.cancelled == 1 and ns.gate.closed == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x00\x00\x00garbage",  # size below the header
        b"\x10\x00\x00\x00\xff\x01\x00" + b"\x00" * 9,  # unknown type
        b"\xff\xff\xff\x7f\x64\x00\x00",  # frame larger than msize
        b"\x0b\x00\x00\x00\x78\x01\x00\x01\x00",  # truncated Tclunk body (size says 11)
        b"\x0f\x00\x00\x00\x78\x01\x00\x01\x00\x00\x00\xff\xff\xff\xff",  # Tclunk with junk after
    ],
)
async def test_malformed_frame_closes_only_that_connection(
    garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    ns = _Namespace()
    ns.gate.release.set()
    async with served(ns) as (bad, bad_done), served(ns) as (good, _):
        await bad.connect()
        await good.connect()
        await bad.stream.send_all(garbage)
        if len(garbage) == 9:  # truncated frame: the server waits for the rest, then EOF
            assert isinstance(bad.stream, trio.StapledStream)
            await bad.stream.send_eof()
        assert await bad.recv() is None
        await bad_done.wait()
        assert any("closing 9P connection" in r.getMessage() for r in caplog.records) or \
            len(garbage) == 9  # fmt: skip
        await good.open("slow", 10)
        assert await good.rpc(wire.Tread(tag=3, fid=10, offset=0, count=9)) == wire.Rread(
            tag=3, data=b"done"
        )


async def test_frame_larger_than_negotiated_msize(caplog: pytest.LogCaptureFixture) -> None:
    ns = _Namespace()
    async with served(ns, max_msize=4096) as (client, done):
        reply = await client.rpc(wire.Tversion(tag=wire.NOTAG, msize=8192, version="9P2000.L"))
        assert isinstance(reply, wire.Rversion) and reply.msize == 4096
        client.dialect = wire.Dialect.L
        await client.rpc(wire.Tattach(tag=1, fid=0, afid=wire.NOFID, uname="", aname=""))
        await client.open("slow", 10)
        await client.send(wire.Twrite(tag=4, fid=10, offset=0, data=b"x" * 5000))
        assert await client.recv() is None
        await done.wait()
    assert any("outside" in r.getMessage() for r in caplog.records)


async def test_debug_traces_every_message(caplog: pytest.LogCaptureFixture) -> None:
    ns = _Namespace()
    with caplog.at_level(logging.DEBUG, logger="jobd_9p.trace"):
        async with served(ns, debug=True) as (client, _):
            await client.connect()
    trace = [r.getMessage() for r in caplog.records if r.name == "jobd_9p.trace"]
    assert any("<- Tversion(" in line for line in trace)
    assert any("-> Rversion(" in line for line in trace)
    assert any("-> Rattach(" in line for line in trace)


def test_brief_shortens_data() -> None:
    text = brief(wire.Rread(tag=1, data=b"x" * 1000))
    assert "1000 bytes" in text and len(text) < 120


async def test_outstanding_limit_pauses_reading(autojump_clock: Clock) -> None:
    ns = _Namespace()
    async with served(ns, max_outstanding=2) as (client, _):
        await client.connect()
        await client.open("slow", 10)
        for tag in (20, 21, 22):
            await client.send(wire.Tread(tag=tag, fid=10, offset=0, count=100))
        while ns.gate.entered < 2:
            await trio.sleep(0.001)
        await trio.sleep(0.05)
        assert ns.gate.entered == 2  # the third waits for a slot
        ns.gate.release.set()
        tags = sorted(r.tag for r in [await client.recv() for _ in range(3)] if r is not None)
        assert tags == [20, 21, 22]


async def _garbage_run(payload: bytes) -> None:
    ns = _Namespace()
    ns.gate.release.set()
    async with served(ns) as (client, finished):
        await client.connect()
        await client.stream.send_all(payload)
        await client.stream.send_eof()  # type: ignore[attr-defined]
        while await client.recv() is not None:  # replies, until the server closes
            pass
        await finished.wait()


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_end_in_replies_or_a_close(payload: bytes) -> None:
    trio.run(_garbage_run, payload)  # fails on an escaping exception or an ERROR log


_REQUEST_TYPES = [cls.TYPE for cls in (*wire.CLASSIC_MESSAGES, *wire.DOTL_MESSAGES)
                  if cls.__name__.startswith("T")]  # fmt: skip


def _frame(kind: int, tag: int, body: bytes) -> bytes:
    return (7 + len(body)).to_bytes(4, "little") + bytes([kind]) + tag.to_bytes(2, "little") + body


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_REQUEST_TYPES), st.integers(0, 3),
                          st.binary(max_size=40)), max_size=8))  # fmt: skip
def test_well_framed_random_bodies_never_break_the_server(
    frames: list[tuple[int, int, bytes]],
) -> None:
    trio.run(_garbage_run, b"".join(_frame(kind, tag, body) for kind, tag, body in frames))
