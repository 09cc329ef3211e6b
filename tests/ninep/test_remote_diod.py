"""jobd_9p.remote's namespace over a real, independent 9P2000.L server (diod) on loopback.

The remote namespace is generic over the tree it is given, so an exported directory stands in for
jobd's tree here: listing, lookup, stat, read, write, truncate, remove, errors, reconnect.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from _diod import Diod, populate

from jobd_9p import wire
from jobd_9p.remote import RemoteNamespace, RemoteUnavailable, remote_namespace
from jobd_core import IsADirectory, JobdError, Kind, NotADirectory, NotFound, OpenMode


@pytest.fixture
def diod(tmp_path: Path) -> Iterator[Diod]:
    export = tmp_path / "export"
    export.mkdir()
    populate(export)
    (export / "sub" / "inner").write_bytes(b"inside\n")
    server = Diod(export)
    yield server
    server.kill()


@pytest.fixture
async def ns(diod: Diod) -> AsyncIterator[RemoteNamespace]:
    async with remote_namespace(
        diod.addr, dialect=wire.Dialect.L, aname=str(diod.export), poll_interval=0.05
    ) as namespace:
        yield namespace


async def test_tree_through_the_sync_api(ns: RemoteNamespace, diod: Diod) -> None:
    names = [c.name for c in ns.root.children()]
    assert sorted(names) == ["a.txt", "big", "sub"]
    a = ns.root.lookup("a.txt")
    st = a.stat()
    assert (st.kind, st.size, st.name) == (Kind.FILE, 6, "a.txt")
    assert st.id == (diod.export / "a.txt").stat().st_ino  # qid.path is the node id
    assert ns.node(a.id) is a
    assert a.parent() is ns.root and ns.root.parent() is ns.root
    inner = ns.root.lookup("sub").lookup("inner")  # sub-directories are listed when first seen
    assert inner.stat().size == 7
    with pytest.raises(NotFound):
        ns.root.lookup("missing")
    with pytest.raises(NotADirectory):
        a.lookup("x")
    with pytest.raises(NotADirectory):
        a.children()


async def test_read_write_truncate(ns: RemoteNamespace, diod: Diod) -> None:
    a = ns.root.lookup("a.txt")
    handle = await a.open(OpenMode(read=True))
    assert await handle.read(0, 1000) == b"hello\n"
    assert await handle.read(2, 2) == b"ll"
    assert await handle.read(100, 10) == b""
    await handle.close()

    big = ns.root.lookup("big")
    handle = await big.open(OpenMode())
    assert await handle.read(0, 256_000) == bytes(range(256)) * 1000  # many Treads for one read
    await handle.close()

    writer = await a.open(OpenMode(read=False, write=True, truncate=True))
    assert await writer.write(0, b"replaced content\n") == 17
    await writer.close()
    assert (diod.export / "a.txt").read_bytes() == b"replaced content\n"
    assert a.stat().size == 17  # the parent was re-listed after the write

    await a.truncate(0)
    assert (diod.export / "a.txt").read_bytes() == b""
    assert a.stat().size == 0


async def test_remove(ns: RemoteNamespace, diod: Diod) -> None:
    a = ns.root.lookup("a.txt")
    await a.remove()
    assert not (diod.export / "a.txt").exists()
    assert "a.txt" not in [c.name for c in ns.root.children()]
    with pytest.raises(NotFound):
        ns.node(a.id)
    with pytest.raises(NotFound):
        await a.open(OpenMode())
    assert a.stat().name == "a.txt"  # last known values stay


async def test_errors_map_to_the_core_vocabulary(ns: RemoteNamespace) -> None:
    sub = ns.root.lookup("sub")
    with pytest.raises(IsADirectory):
        await sub.open(OpenMode(write=True))
    with pytest.raises(NotFound) as missing:
        await ns.root.alookup("missing")
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(JobdError) as not_empty:
        await sub.remove()  # diod: rmdir of a non-empty directory
    assert not_empty.value.errno in (errno.ENOTEMPTY, errno.EEXIST)


async def test_async_api_sees_outside_changes_at_once(ns: RemoteNamespace, diod: Diod) -> None:
    (diod.export / "new.txt").write_bytes(b"n")
    node = await ns.root.alookup("new.txt")
    assert node.stat().size == 1
    assert "new.txt" in [c.name for c in await ns.root.achildren()]
    (diod.export / "new.txt").write_bytes(b"longer")
    assert (await node.astat()).size == 6
    (diod.export / "new.txt").unlink()
    assert (await node.astat()).size == 6  # gone: the last known values, as the core does
    with pytest.raises(NotFound):
        ns.node(node.id)
    with pytest.raises(NotFound):
        await node.open(OpenMode())


async def test_background_poll_refreshes_directories_in_use(
    ns: RemoteNamespace, diod: Diod
) -> None:
    ns.root.children()  # in use
    (diod.export / "appeared").write_bytes(b"")
    with trio.fail_after(5):
        while "appeared" not in [c.name for c in ns.root.children()]:
            await trio.sleep(0.02)
    (diod.export / "appeared").unlink()
    with trio.fail_after(5):
        while "appeared" in [c.name for c in ns.root.children()]:
            await trio.sleep(0.02)


@pytest.mark.allow_error_logs
async def test_server_going_away_and_coming_back(ns: RemoteNamespace, diod: Diod) -> None:
    a = ns.root.lookup("a.txt")
    handle = await a.open(OpenMode())
    diod.kill()
    with pytest.raises(RemoteUnavailable) as down:
        await a.astat()
    assert down.value.errno == errno.ENOTCONN
    with pytest.raises(RemoteUnavailable):  # still down: reconnecting fails the same way
        await a.open(OpenMode())
    assert a.stat().size == 6  # sync answers keep the last known values

    back = diod.restart()
    try:
        assert (await a.astat()).size == 6  # reconnected and re-walked
        reopened = await a.open(OpenMode())
        assert await reopened.read(0, 100) == b"hello\n"
        await reopened.close()
        assert ns.reconnects == 1
        with pytest.raises(RemoteUnavailable):
            await handle.read(0, 10)  # a handle of the old connection stays failed
        await handle.close()  # ...and closes quietly
    finally:
        back.kill()


async def test_many_concurrent_reads(ns: RemoteNamespace) -> None:
    a = ns.root.lookup("a.txt")
    got: list[bytes] = []

    async def one() -> None:
        handle = await a.open(OpenMode())
        got.append(await handle.read(0, 100))
        await handle.close()

    async with trio.open_nursery() as nursery:
        for _ in range(200):
            nursery.start_soon(one)
    assert got == [b"hello\n"] * 200
