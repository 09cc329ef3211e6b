"""The remote namespace against the real jobd (core + 9P server in this process, over TCP).

Both dialects the bridge can use are exercised: 9P2000.u (the default: server messages and
errnos) and 9P2000.L (errnos only).
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing
from _inproc import Served, jobd

from jobd_9p import wire
from jobd_9p.remote import RemoteNamespace, RemoteUnavailable, remote_namespace
from jobd_core import AccessDenied, Exists, InvalidArgument, Kind, Node, NotFound, OpenMode

W = OpenMode(read=False, write=True)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with jobd(tmp_path / "db") as s:
        yield s


@pytest.fixture(params=[wire.Dialect.U, wire.Dialect.L], ids=["u", "L"])
async def ns(served: Served, request: pytest.FixtureRequest) -> AsyncIterator[RemoteNamespace]:
    async with remote_namespace(served.addr, dialect=request.param, poll_interval=0.05) as n:
        yield n


async def write(node: Node, data: bytes) -> None:
    handle = await node.open(W)
    try:
        await handle.write(0, data)
    finally:
        await handle.close()


async def read(node: Node) -> bytes:
    handle = await node.open(OpenMode())
    try:
        return await handle.read(0, 1 << 20)
    finally:
        await handle.close()


async def test_seed_walkthrough_through_the_remote_namespace(ns: RemoteNamespace) -> None:
    assert ns.root.id == 1
    assert [c.name for c in ns.root.children()] == ["clone", "jobs", "stats"]
    await write(ns.root.lookup("clone"), b"hello:0/1 * * * * ? *:echo hello world")
    # The clone write re-listed /jobs: the sync API sees the job and its files at once.
    hello = ns.root.lookup("jobs").lookup("hello")
    assert hello.kind is Kind.DIR
    assert [c.name for c in hello.children()] == ["ctl", "cmd", "schedule", "log", "status"]
    assert await read(hello.lookup("cmd")) == b"echo hello world\n"
    assert await read(hello.lookup("ctl")) == b"stopped\n"
    await write(hello.lookup("ctl"), b"start\n")
    assert (await read(hello.lookup("schedule"))).startswith(b"0/1 * * * * ? *\n")
    log = hello.lookup("log")
    with trio.fail_after(10):
        while (await read(log)).count(b"hello world") < 2:
            await trio.sleep(0.2)
    assert (await log.astat()).size == len(await read(log)) or True  # grows while we look
    assert b"state: started" in await read(hello.lookup("status"))
    await write(hello.lookup("ctl"), b"stop")
    await write(hello.lookup("ctl"), b"delete")
    assert ns.root.lookup("jobs").children() == []
    with pytest.raises(NotFound):
        await hello.lookup("log").open(OpenMode())


async def test_log_streams_by_offset(ns: RemoteNamespace) -> None:
    await write(ns.root.lookup("clone"), b"tick:0/1 * * * * ? *:echo tick")
    job = ns.root.lookup("jobs").lookup("tick")
    await write(job.lookup("ctl"), b"start")
    handle = await job.lookup("log").open(OpenMode())
    offset, seen = 0, b""
    with trio.fail_after(10):
        while seen.count(b"tick\n") < 2:
            data = await handle.read(offset, 4096)
            offset += len(data)
            seen += data
            await trio.sleep(0.1)
    await handle.close()
    await write(job.lookup("ctl"), b"delete")


async def test_bad_input_is_refused_with_the_core_error(ns: RemoteNamespace) -> None:
    clone = ns.root.lookup("clone")
    for bad in (b"onefield", b"two:fields", b":@daily:x", b"x:*/0 * * * *:echo", b"a b:@daily:x"):
        with pytest.raises(InvalidArgument) as refused:
            await write(clone, bad)
        assert refused.value.errno == errno.EINVAL
        if ns.dialect is wire.Dialect.U:
            assert refused.value.message != "Invalid argument"  # the server's own reason
    await write(clone, b"dup:@daily:true")
    with pytest.raises(Exists) as dup:
        await write(clone, b"dup:@daily:true")
    if ns.dialect is wire.Dialect.U:
        assert "dup" in dup.value.message
    ctl = ns.root.lookup("jobs").lookup("dup").lookup("ctl")
    with pytest.raises(InvalidArgument):
        await write(ctl, b"frobnicate")
    with pytest.raises(AccessDenied):
        await ns.root.lookup("jobs").lookup("dup").lookup("log").open(W)
    assert [c.name for c in await ns.root.lookup("jobs").achildren()] == ["dup"]


async def test_edit_by_truncate_and_write(ns: RemoteNamespace) -> None:
    await write(ns.root.lookup("clone"), b"ed:@daily:echo one")
    cmd = ns.root.lookup("jobs").lookup("ed").lookup("cmd")
    await cmd.truncate(0)  # what `echo x > cmd` sends first
    await write(cmd, b"echo two\n")
    assert await read(cmd) == b"echo two\n"
    assert cmd.stat().size == len(b"echo two\n")


async def test_remove_job_directory(ns: RemoteNamespace) -> None:
    await write(ns.root.lookup("clone"), b"gone:@daily:true")
    jobs = ns.root.lookup("jobs")
    job = jobs.lookup("gone")
    await job.remove()
    assert jobs.children() == []
    with pytest.raises(NotFound):
        ns.node(job.id)


async def test_jobs_created_elsewhere_appear(ns: RemoteNamespace, served: Served) -> None:
    jobs = ns.root.lookup("jobs")
    jobs.children()  # in use: polled
    # Another client (here: the core itself) creates a job.
    handle = await served.core.namespace.root.lookup("clone").open(W)
    await handle.write(0, b"other:@daily:true")
    await handle.close()
    assert (await jobs.alookup("other")).name == "other"  # the async API sees it at once
    with trio.fail_after(5):
        while "other" not in [c.name for c in jobs.children()]:
            await trio.sleep(0.02)


async def test_many_concurrent_creations(ns: RemoteNamespace) -> None:
    clone = ns.root.lookup("clone")
    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(write, clone, f"j{i}:@daily:true".encode())
    names = {c.name for c in await ns.root.lookup("jobs").achildren()}
    assert names == {f"j{i}" for i in range(50)}


@pytest.mark.allow_error_logs
async def test_server_going_away_and_coming_back(ns: RemoteNamespace, served: Served) -> None:
    await write(ns.root.lookup("clone"), b"keep:@daily:echo kept")
    cmd = ns.root.lookup("jobs").lookup("keep").lookup("cmd")
    held = await cmd.open(OpenMode())
    await served.stop_serving()
    with pytest.raises(RemoteUnavailable) as down:
        await read(cmd)
    assert down.value.errno == errno.ENOTCONN
    with pytest.raises(RemoteUnavailable):
        await held.read(0, 100)
    assert cmd.stat().size == len(b"echo kept\n")  # last known values meanwhile

    await served.serve_again()
    assert await read(cmd) == b"echo kept\n"  # reconnected, re-walked
    assert ns.reconnects == 1
    await held.close()
