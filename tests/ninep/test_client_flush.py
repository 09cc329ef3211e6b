"""jobd_9p.client's flush(5) handling, driven frame by frame over a memory stream.

Real servers answer too fast for a test to choose what arrives first, so here the server side is
a peer scripted with the project's codec: it decides when the original reply and the Rflush go.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from jobd_9p import wire
from jobd_9p.client import Client, ConnectionClosed

L = wire.Dialect.L
QID = wire.Qid(type=0, version=0, path=7)


class Peer:
    """The server side of a memory stream, one frame at a time."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = wire.Decoder(L, max_size=1 << 20)

    async def recv(self) -> wire.Message:
        with trio.fail_after(5):
            while (msg := self.decoder.next_message()) is None:
                data = await self.stream.receive_some()
                assert data, "client closed the stream"
                self.decoder.feed(data)
        return msg

    async def send(self, msg: wire.Message) -> None:
        await self.stream.send_all(wire.encode(msg, L))


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[Client, Peer, trio.Nursery]]:
    client_side, server_side = trio.testing.memory_stream_pair()
    peer = Peer(server_side)
    async with trio.open_nursery() as nursery:

        async def handshake() -> None:
            version = await peer.recv()
            assert isinstance(version, wire.Tversion) and version.tag == wire.NOTAG
            await peer.send(wire.Rversion(tag=wire.NOTAG, msize=8192, version="9P2000.L"))

        nursery.start_soon(handshake)
        client = await Client.start(client_side, dialect=L, nursery=nursery)
        assert client.msize == 8192
        yield client, peer, nursery
        await client.aclose()


async def test_cancelled_request_is_flushed_and_its_tag_held_until_rflush() -> None:
    async with connected() as (client, peer, nursery):
        scope = trio.CancelScope()
        outcome: list[str] = []

        async def read() -> None:
            with scope:
                await client.read(5, 0, 100)
                outcome.append("returned")
            outcome.append("cancelled" if scope.cancelled_caught else "?")

        nursery.start_soon(read)
        tread = await peer.recv()
        assert isinstance(tread, wire.Tread)
        scope.cancel()
        tflush = await peer.recv()
        assert isinstance(tflush, wire.Tflush) and tflush.oldtag == tread.tag
        assert outcome == []  # the caller waits for the Rflush

        # Until the Rflush, neither tag may be reused by another request.
        nursery.start_soon(client.clunk, 9)
        tclunk = await peer.recv()
        assert isinstance(tclunk, wire.Tclunk)
        assert tclunk.tag not in (tread.tag, tflush.tag)
        await peer.send(wire.Rclunk(tag=tclunk.tag))

        await peer.send(wire.Rflush(tag=tflush.tag))
        await trio.testing.wait_all_tasks_blocked()
        assert outcome == ["cancelled"]
        assert client._calls == {}


async def test_reply_arriving_before_rflush_is_dropped_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with connected() as (client, peer, nursery):
        scope = trio.CancelScope()
        got: list[bytes] = []

        async def read() -> None:
            with scope:
                got.append(await client.read(5, 0, 100))

        nursery.start_soon(read)
        tread = await peer.recv()
        scope.cancel()
        tflush = await peer.recv()
        await peer.send(wire.Rread(tag=tread.tag, data=b"late"))  # flush(5): this may happen
        await peer.send(wire.Rflush(tag=tflush.tag))
        await trio.testing.wait_all_tasks_blocked()
        assert got == []  # the caller was cancelled: the late data is not delivered
        assert client._calls == {}
        assert "unknown tag" not in caplog.text


async def test_walk_completed_before_flush_has_its_new_fid_clunked() -> None:
    async with connected() as (client, peer, nursery):
        scope = trio.CancelScope()

        root = client._alloc_fid()  # as if attached

        async def walk() -> None:
            with scope:
                await client.walk(root, ["jobs"])

        nursery.start_soon(walk)
        twalk = await peer.recv()
        assert isinstance(twalk, wire.Twalk)
        scope.cancel()
        tflush = await peer.recv()
        await peer.send(wire.Rwalk(tag=twalk.tag, wqids=(QID,)))
        await peer.send(wire.Rflush(tag=tflush.tag))
        # The server now holds newfid: the client must release it there before reusing it.
        tclunk = await peer.recv()
        assert isinstance(tclunk, wire.Tclunk) and tclunk.fid == twalk.newfid
        await peer.send(wire.Rclunk(tag=tclunk.tag))
        await trio.testing.wait_all_tasks_blocked()
        assert twalk.newfid in client._free_fids


async def test_walk_flushed_before_reply_frees_its_fid() -> None:
    async with connected() as (client, peer, nursery):
        scope = trio.CancelScope()

        root = client._alloc_fid()  # as if attached

        async def walk() -> None:
            with scope:
                await client.walk(root, ["jobs"])

        nursery.start_soon(walk)
        twalk = await peer.recv()
        scope.cancel()
        tflush = await peer.recv()
        await peer.send(wire.Rflush(tag=tflush.tag))
        await trio.testing.wait_all_tasks_blocked()
        assert twalk.newfid in client._free_fids


async def test_replies_out_of_order_reach_their_callers() -> None:
    async with connected() as (client, peer, nursery):
        results: dict[int, bytes] = {}

        async def read(fid: int) -> None:
            results[fid] = await client.read(fid, 0, 10)

        for fid in range(10):
            nursery.start_soon(read, fid)
        requests = [await peer.recv() for _ in range(10)]
        assert len({r.tag for r in requests}) == 10
        for req in reversed(requests):
            assert isinstance(req, wire.Tread)
            await peer.send(wire.Rread(tag=req.tag, data=f"fid{req.fid}".encode()))
        await trio.testing.wait_all_tasks_blocked()
        assert results == {fid: f"fid{fid}".encode() for fid in range(10)}


async def test_connection_loss_fails_every_pending_call() -> None:
    async with connected() as (client, peer, nursery):
        errors: list[BaseException] = []

        async def read(fid: int) -> None:
            try:
                await client.read(fid, 0, 10)
            except ConnectionClosed as exc:
                errors.append(exc)

        for fid in range(5):
            nursery.start_soon(read, fid)
        for _ in range(5):
            await peer.recv()
        await peer.stream.aclose()
        await trio.testing.wait_all_tasks_blocked()
        assert len(errors) == 5
        assert all(getattr(e, "errno", None) == errno.ENOTCONN for e in errors)
        with pytest.raises(ConnectionClosed):
            await client.read(1, 0, 10)


async def test_error_replies() -> None:
    async with connected() as (client, peer, nursery):
        caught: list[BaseException] = []

        async def walk() -> None:
            try:
                await client.walk(0, ["nope"])
            except Exception as exc:
                caught.append(exc)

        nursery.start_soon(walk)
        twalk = await peer.recv()
        await peer.send(wire.Rlerror(tag=twalk.tag, ecode=errno.ENOENT))
        await trio.testing.wait_all_tasks_blocked()
        assert getattr(caught[0], "errno", None) == errno.ENOENT
        assert twalk.newfid in client._free_fids  # a failed walk gives its fid back
