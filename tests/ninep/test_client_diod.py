"""jobd_9p.client against a real, independent 9P2000.L server: diod, over TCP on loopback.

diod is the reference .L server (Debian package ``diod``); it answers exactly as the Linux kernel
expects, so the client's .L path is checked against a peer we did not write.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from _diod import DIOD, Diod, free_port, populate

from jobd_9p import wire
from jobd_9p.client import Client, ConnectionClosed, RemoteError


@pytest.fixture
def diod(tmp_path: Path) -> Iterator[Diod]:
    export = tmp_path / "export"
    export.mkdir()
    populate(export)
    server = Diod(export)
    yield server
    server.kill()


async def _attached(d: Diod) -> tuple[Client, int]:
    client = await Client.connect(d.addr, dialect=wire.Dialect.L, msize=8192 + wire.IOHDRSZ)
    root, qid = await client.attach(aname=str(d.export))
    assert qid.type & wire.QTDIR
    return client, root


async def test_walk_open_read_getattr_readdir(diod: Diod) -> None:
    client, root = await _attached(diod)
    assert client.dialect is wire.Dialect.L
    assert client.msize == 8192 + wire.IOHDRSZ
    fid, qids = await client.walk(root, ["a.txt"])
    assert len(qids) == 1 and not qids[0].type & wire.QTDIR
    attr = await client.getattr(fid)
    assert attr.size == 6 and attr.qid == qids[0]
    await client.lopen(fid, wire.P9_DOTL_RDONLY)
    assert await client.read_all(fid) == b"hello\n"
    await client.clunk(fid)

    big, _ = await client.walk(root, ["big"])
    await client.open_for(big)
    assert await client.read_all(big) == bytes(range(256)) * 1000  # many msize-sized reads
    await client.clunk(big)

    d, _ = await client.walk(root, [])
    await client.lopen(d, wire.P9_DOTL_RDONLY | wire.P9_DOTL_DIRECTORY)
    names = {e.name for e in await client.readdir_all(d)}
    assert {"a.txt", "big", "sub"} <= names
    await client.clunk(d)
    await client.aclose()


async def test_write_truncate_remove(diod: Diod) -> None:
    client, root = await _attached(diod)
    fid, _ = await client.walk(root, ["a.txt"])
    await client.truncate(fid, 0)
    assert (diod.export / "a.txt").read_bytes() == b""
    await client.open_for(fid, read=False, write=True)
    payload = b"x" * 20000  # more than one Twrite
    assert await client.write(fid, 0, payload) == len(payload)
    await client.clunk(fid)
    assert (diod.export / "a.txt").read_bytes() == payload

    sub, _ = await client.walk(root, ["sub"])
    await client.remove(sub)
    assert not (diod.export / "sub").exists()
    fid, _ = await client.walk(root, ["a.txt"])
    await client.remove(fid)
    assert not (diod.export / "a.txt").exists()
    await client.aclose()


async def test_errors_carry_errno(diod: Diod) -> None:
    client, root = await _attached(diod)
    with pytest.raises(RemoteError) as first:
        await client.walk(root, ["missing"])
    assert first.value.errno == errno.ENOENT
    with pytest.raises(RemoteError) as partial:
        await client.walk(root, ["sub", "missing"])  # Rwalk with fewer qids, not an error reply
    assert partial.value.errno == errno.ENOENT and "missing" in partial.value.message
    fid, _ = await client.walk(root, ["sub"])
    with pytest.raises(RemoteError) as isdir:
        await client.lopen(fid, wire.P9_DOTL_WRONLY)
    assert isdir.value.errno == errno.EISDIR
    await client.clunk(fid)
    # The connection stays usable and no fid or tag leaked.
    assert await client.getattr(root)
    assert client._calls == {}
    await client.aclose()


async def test_many_concurrent_requests(diod: Diod) -> None:
    client, root = await _attached(diod)
    results: list[bytes] = []

    async def one() -> None:
        fid, _ = await client.walk(root, ["a.txt"])
        await client.lopen(fid, wire.P9_DOTL_RDONLY)
        results.append(await client.read_all(fid))
        await client.clunk(fid)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(500):
            nursery.start_soon(one)
    elapsed = time.perf_counter() - started
    assert results == [b"hello\n"] * 500
    assert client._calls == {}
    # Tags and fids were reused: far fewer than 500 * 4 of either were ever allocated.
    assert client._next_tag <= 500 * 4
    print(f"500 concurrent walk/open/read/clunk sequences: {elapsed * 1000:.0f} ms")
    await client.aclose()


async def test_server_going_away_fails_pending_and_later_calls(diod: Diod) -> None:
    client, root = await _attached(diod)
    diod.kill()
    with trio.fail_after(5):
        await client.closed_event.wait()
    with pytest.raises(ConnectionClosed) as later:
        await client.getattr(root)
    assert later.value.errno == errno.ENOTCONN


async def test_connection_refused() -> None:
    with pytest.raises(ConnectionClosed) as refused:
        await Client.connect(f"127.0.0.1:{free_port()}")
    assert refused.value.errno == errno.ECONNREFUSED
    assert "cannot connect" in str(refused.value)


async def test_dialect_the_server_does_not_speak(diod: Diod) -> None:
    # diod speaks only 9P2000.L (it answers a .u Tversion with Rlerror, invalid in .u).
    with pytest.raises(RemoteError) as refused:
        await Client.connect(diod.addr, dialect=wire.Dialect.U)
    assert refused.value.errno == errno.EPROTONOSUPPORT


def test_no_sockets_outside_the_client() -> None:
    # The codec stays sans-IO: the client is where bytes meet the network.
    source = Path(wire.__file__).parent
    for path in source.glob("*.py"):
        text = path.read_text()
        assert "import socket" not in text and "import trio" not in text, path
    assert os.path.exists(DIOD)
