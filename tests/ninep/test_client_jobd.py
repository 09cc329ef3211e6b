"""jobd_9p.client against the real jobd server (core + server in this process, over TCP)."""

from __future__ import annotations

import errno
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from _inproc import Served, jobd

from jobd_9p import wire
from jobd_9p.client import Client, ConnectionClosed, RemoteError

DIALECTS = [wire.Dialect.P9P2000, wire.Dialect.U, wire.Dialect.L]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with jobd(tmp_path / "db") as s:
        yield s


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.value)
async def test_every_dialect(served: Served, dialect: wire.Dialect) -> None:
    client = await Client.connect(served.addr, dialect=dialect)
    assert client.dialect is dialect
    root, qid = await client.attach()
    assert qid.path == 1 and qid.type & wire.QTDIR
    await client.write_file(root, ["clone"], b"hello:@daily:echo hi")
    assert await client.read_file(root, ["jobs", "hello", "cmd"]) == b"echo hi\n"

    jobs, _ = await client.walk(root, ["jobs"])
    await client.open_for(jobs)
    if dialect is wire.Dialect.L:
        names = [e.name for e in await client.readdir_all(jobs)]
    else:
        names = [st.name for st in await client.read_dir(jobs)]
    assert "hello" in names
    await client.clunk(jobs)

    cmd, _ = await client.walk(root, ["jobs", "hello", "cmd"])
    await client.truncate(cmd)  # Twstat "don't touch" + length 0, or Tsetattr size
    await client.open_for(cmd, read=False, write=True)
    await client.write(cmd, 0, b"echo replaced\n")
    await client.clunk(cmd)
    assert await client.read_file(root, ["jobs", "hello", "cmd"]) == b"echo replaced\n"

    with pytest.raises(RemoteError) as dup:
        await client.write_file(root, ["clone"], b"hello:@daily:echo hi")
    assert dup.value.errno == errno.EEXIST
    if dialect is not wire.Dialect.L:
        assert dup.value.message == "job exists: hello"  # the server's own words
    with pytest.raises(RemoteError) as missing:
        await client.walk(root, ["jobs", "nosuch"])
    assert missing.value.errno == errno.ENOENT

    # Delete the job the way rm -r does: Tunlinkat on .L, Tremove of the directory otherwise.
    if dialect is wire.Dialect.L:
        jobs, _ = await client.walk(root, ["jobs"])
        await client.unlinkat(jobs, "hello", wire.AT_REMOVEDIR)
        await client.clunk(jobs)
    else:
        job, _ = await client.walk(root, ["jobs", "hello"])
        await client.remove(job)
    with pytest.raises(RemoteError):
        await client.walk(root, ["jobs", "hello"])
    await client.close()


async def test_many_concurrent_requests(served: Served) -> None:
    client = await Client.connect(served.addr, dialect=wire.Dialect.U)
    root, _ = await client.attach()
    await client.write_file(root, ["clone"], b"c:@daily:true")
    results: list[bytes] = []

    async def one() -> None:
        results.append(await client.read_file(root, ["jobs", "c", "ctl"]))

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(1000):
            nursery.start_soon(one)
    elapsed = time.perf_counter() - started
    assert results == [b"stopped\n"] * 1000
    assert client._calls == {}
    print(f"1000 concurrent walk/open/read/clunk on jobd: {elapsed * 1000:.0f} ms")
    await client.aclose()


async def test_cancellations_leave_client_and_server_consistent(served: Served) -> None:
    client = await Client.connect(served.addr, dialect=wire.Dialect.L)
    root, _ = await client.attach()
    await client.write_file(root, ["clone"], b"c:@daily:true")

    async def reader(delay_checkpoints: int) -> None:
        with trio.CancelScope() as scope:
            scopes.append(scope)
            for _ in range(delay_checkpoints):
                await trio.lowlevel.checkpoint()
            while True:
                await client.read_file(root, ["jobs", "c", "status"])

    scopes: list[trio.CancelScope] = []
    async with trio.open_nursery() as nursery:
        for i in range(100):
            nursery.start_soon(reader, i % 7)
        for _ in range(20):
            await trio.sleep(0.005)
        for scope in scopes:  # requests cut at every stage: sending, waiting, clunking
            scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert client._calls == {}
    assert not client.is_closed
    assert await client.read_file(root, ["jobs", "c", "ctl"]) == b"stopped\n"
    await client.aclose()


async def test_server_going_away(served: Served) -> None:
    client = await Client.connect(served.addr, dialect=wire.Dialect.U)
    root, _ = await client.attach()
    await served.stop_serving()
    with trio.fail_after(5):
        await client.closed_event.wait()
    with pytest.raises(ConnectionClosed) as gone:
        await client.walk(root, ["jobs"])
    assert gone.value.errno == errno.ENOTCONN
    with pytest.raises(ConnectionClosed) as refused:
        await Client.connect(served.addr)
    assert refused.value.errno == errno.ECONNREFUSED


class RecordingClient(Client):
    """The real client, remembering the type of every message it sent."""

    sent: list[str]

    async def _send(self, msg: wire.Message, call: object = None) -> None:
        self.__dict__.setdefault("sent", []).append(type(msg).__name__)
        await super()._send(msg, call)  # type: ignore[arg-type]


async def test_flush_of_a_request_the_server_is_still_working_on(served: Served) -> None:
    # A ctl `kill` of a job that ignores SIGTERM takes the server kill_grace seconds to answer:
    # a request genuinely in progress when the client cancels it.
    client = await RecordingClient.connect(served.addr, dialect=wire.Dialect.U)
    root, _ = await client.attach()
    await client.write_file(root, ["clone"], b"stubborn:@yearly:trap '' TERM; sleep 30")
    await client.write_file(root, ["jobs", "stubborn", "ctl"], b"run")
    with trio.fail_after(10):
        while b"running: -" in await client.read_file(root, ["jobs", "stubborn", "status"]):
            await trio.sleep(0.05)
    started = time.monotonic()
    with trio.move_on_after(0.3) as scope:
        await client.write_file(root, ["jobs", "stubborn", "ctl"], b"kill")
    assert scope.cancelled_caught
    assert client.sent[-3:] == ["Twrite", "Tflush", "Tclunk"]  # flushed, then the fid released
    assert time.monotonic() - started < 10
    assert client._calls == {}
    assert not client.is_closed
    # The connection goes on: kill again (a no-op if the flushed kill had completed).
    await client.write_file(root, ["jobs", "stubborn", "ctl"], b"kill")
    assert b"killed by SIG" in await client.read_file(root, ["jobs", "stubborn", "log"])
    await client.aclose()
