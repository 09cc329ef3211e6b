"""The namespace over a real core: every file, every verb, ids, sizes, versions, snapshots."""

from __future__ import annotations

import os
import pwd
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from jobd_core import (
    AccessDenied,
    Core,
    CoreConfig,
    Exists,
    InvalidArgument,
    IsADirectory,
    Kind,
    Node,
    NotADirectory,
    NotFound,
    OpenMode,
    PermissionDenied,
    open_core,
)

RW = OpenMode(read=True, write=True)
W = OpenMode(read=False, write=True)
FAR = "0 0 1 1 *"  # never fires during a test


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    async with open_core(CoreConfig(dbdir=tmp_path)) as opened:
        yield opened


async def read_all(node: Node, chunk: int = 7) -> bytes:
    handle = await node.open(OpenMode())
    data = b""
    while True:
        part = await handle.read(len(data), chunk)
        if not part:
            break
        data += part
    await handle.close()
    return data


async def write(node: Node, data: bytes, *, truncate: bool = False) -> None:
    if truncate:
        await node.truncate(0)
    handle = await node.open(OpenMode(read=False, write=True, truncate=truncate))
    assert await handle.write(0, data) == len(data)
    await handle.close()


async def clone(core: Core, text: str) -> Node:
    await write(core.namespace.root.lookup("clone"), text.encode())
    return core.namespace.root.lookup("jobs").lookup(text.split(":", 1)[0])


def path(core: Core, *names: str) -> Node:
    node = core.namespace.root
    for name in names:
        node = node.lookup(name)
    return node


async def test_fixed_tree(core: Core) -> None:
    root = core.namespace.root
    assert (root.id, root.kind, root.parent()) == (1, Kind.DIR, root)
    assert [(n.id, n.name) for n in root.children()] == [(2, "clone"), (3, "jobs"), (4, "stats")]
    assert core.namespace.node(2) is root.lookup("clone")
    assert path(core, "jobs").children() == []
    st = root.stat()
    assert (st.mode, st.uid, st.gid) == (0o755, os.geteuid(), os.getegid())
    assert st.owner == pwd.getpwuid(os.geteuid()).pw_name
    assert path(core, "clone").stat().mode == 0o644
    with pytest.raises(NotFound):
        root.lookup("nope")
    with pytest.raises(NotADirectory):
        path(core, "clone").lookup("x")
    with pytest.raises(NotFound):
        core.namespace.node(5)


async def test_job_files_ids_modes_and_content(core: Core) -> None:
    job = await clone(core, f"hello:{FAR}:echo hello: world\n")
    base = job.id
    assert base == 16 + 8 * 1
    kids = job.children()
    assert [(n.id - base, n.name) for n in kids] == [
        (1, "ctl"), (2, "cmd"), (3, "schedule"), (4, "log"), (5, "status")
    ]
    assert [n.stat().mode for n in kids] == [0o644, 0o644, 0o644, 0o444, 0o444]
    assert all(n.parent() is job for n in kids)
    assert job.parent() is path(core, "jobs")
    assert core.namespace.node(base + 2) is job.lookup("cmd")
    assert await read_all(job.lookup("ctl")) == b"stopped\n"
    assert await read_all(job.lookup("cmd")) == b"echo hello: world\n"
    assert await read_all(job.lookup("schedule")) == f"{FAR}\n".encode()
    assert await read_all(job.lookup("log")) == b""
    status = (await read_all(job.lookup("status"))).decode()
    assert status.splitlines()[:3] == ["state: stopped", f"schedule: {FAR}", "next: -"]
    keys = [line.split(":", 1)[0] for line in status.splitlines()]
    assert keys == ["state", "schedule", "next", "last_start", "last_end", "last_result",
                    "last_lateness", "runs", "skipped", "missed", "running", "timeouts",
                    "retried", "timeout", "grace", "overlap", "catchup", "jitter", "retries",
                    "dir", "output", "history"]
    for bad in (base + 6, base + 7):
        with pytest.raises(NotFound):
            core.namespace.node(bad)


async def sizes_match(job: Node) -> None:
    for node in job.children():
        assert node.stat().size == len(await read_all(node)), node.name


async def test_sizes_are_read_lengths(core: Core) -> None:
    job = await clone(core, f"sz:{FAR}:echo é")
    await sizes_match(job)
    await write(job.lookup("ctl"), b"start")
    await sizes_match(job)
    await core.registry.sink.flush()
    await sizes_match(job)
    await write(job.lookup("cmd"), "printf 'ü%.0s' 1 2 3\n".encode())
    await sizes_match(job)
    core.registry.sink.append(core.registry.get("sz").job, ["x" * 10, "ß"])
    await sizes_match(job)  # pending lines count before they are committed
    await core.registry.sink.flush()
    await sizes_match(job)


async def test_clone_errors_change_nothing(core: Core) -> None:
    clone_file = path(core, "clone")
    await clone(core, f"taken:{FAR}:true")
    cases = [
        (b"", InvalidArgument, "expected name:schedule:command"),
        (b"one", InvalidArgument, "expected name:schedule:command"),
        (b"one:two", InvalidArgument, "expected name:schedule:command"),
        (f":{FAR}:true".encode(), InvalidArgument, "invalid job name"),
        (f"a b:{FAR}:true".encode(), InvalidArgument, "invalid job name 'a b'"),
        (f"a/b:{FAR}:true".encode(), InvalidArgument, "invalid job name"),
        (f"..:{FAR}:true".encode(), InvalidArgument, "invalid job name"),
        (f".:{FAR}:true".encode(), InvalidArgument, "invalid job name"),
        (f"a\0b:{FAR}:true".encode(), InvalidArgument, "NUL"),
        (("x" * 65 + f":{FAR}:true").encode(), InvalidArgument, "64 bytes"),
        (b"ok:*/0 * * * *:true", InvalidArgument, "schedule"),
        (b"ok:0 0 30 2 *:true", InvalidArgument, "schedule"),
        (f"ok:{FAR}:".encode(), InvalidArgument, "command"),
        (f"ok:{FAR}:  \n".encode(), InvalidArgument, "command"),
        (b"\xff\xfe:x:y", InvalidArgument, "UTF-8"),
        (f"taken:{FAR}:other".encode(), Exists, "job exists: taken"),
    ]
    for data, error, text in cases:
        handle = await clone_file.open(W)
        with pytest.raises(error, match=text):
            await handle.write(0, data)
    assert [n.name for n in path(core, "jobs").children()] == ["taken"]
    assert [r.name for r in await core.store.load_jobs()] == ["taken"]


async def test_clone_name_limits_and_read_back(core: Core) -> None:
    handle = await path(core, "clone").open(RW)
    assert await handle.read(0, 100) == b""
    name = "A-z_0.9" + "x" * 57
    await handle.write(0, f"{name}:{FAR}:a:b:c\r\n".encode())
    assert await handle.read(0, 100) == f"{name}\n".encode()
    assert await read_all(path(core, "jobs", name, "cmd")) == b"a:b:c\n"
    handle2 = await path(core, "clone").open(RW)
    assert await handle2.read(0, 100) == b""


async def test_ctl_verbs(core: Core) -> None:
    job = await clone(core, f"v:{FAR}:true")
    ctl = job.lookup("ctl")
    v0 = ctl.stat().version
    await write(ctl, b"  START \n")
    assert await read_all(ctl) == b"started\n"
    v1 = ctl.stat().version
    assert v1 > v0
    await write(ctl, b"start\n")  # idempotent: no change, no log entry
    assert ctl.stat().version == v1
    await write(ctl, b"Stop")
    assert await read_all(ctl) == b"stopped\n"
    await write(ctl, b"stop")
    await core.registry.sink.flush()
    log = (await read_all(job.lookup("log"))).decode().splitlines()
    assert [line.rsplit(":", 1)[1] for line in log] == ["started", "stopped"]
    handle = await ctl.open(W)
    with pytest.raises(InvalidArgument, match="unknown ctl verb 'frob'"):
        await handle.write(0, b"frob\n")
    assert await read_all(ctl) == b"stopped\n"


async def test_state_survives_restart(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        job = await clone(core, f"keep:{FAR}:echo 1")
        await write(job.lookup("ctl"), b"start")
        await write(job.lookup("cmd"), b"echo 2\n")
        ids = {n.name: n.id for n in job.children()} | {"dir": job.id}
    async with open_core(CoreConfig(dbdir=tmp_path)) as core:
        job = path(core, "jobs", "keep")
        assert {n.name: n.id for n in job.children()} | {"dir": job.id} == ids
        assert await read_all(job.lookup("ctl")) == b"started\n"
        assert await read_all(job.lookup("cmd")) == b"echo 2\n"
        assert (await read_all(job.lookup("log"))).endswith(b":started\n")
        await sizes_match(job)


async def test_cmd_writes_replace_accumulate_and_validate(core: Core) -> None:
    job = await clone(core, f"c:{FAR}:old")
    cmd = job.lookup("cmd")
    v0 = cmd.stat().version
    await write(cmd, b"new command\n", truncate=True)
    assert await read_all(cmd) == b"new command\n"
    assert cmd.stat().version > v0
    handle = await cmd.open(W)
    await handle.write(0, b"echo ")
    await handle.write(5, b"chunked\n")
    assert await read_all(cmd) == b"echo chunked\n"
    with pytest.raises(InvalidArgument):
        await handle.write(100, b"hole")
    bad = await cmd.open(W)
    with pytest.raises(InvalidArgument, match="empty"):
        await bad.write(0, b"\n")
    with pytest.raises(InvalidArgument, match="NUL"):
        await bad.write(0, b"a\0b")
    assert await read_all(cmd) == b"echo chunked\n"
    appender = await cmd.open(W)
    await appender.write(len(b"echo chunked\n"), b"echo more\n")  # >> appends a line
    assert await read_all(cmd) == b"echo chunked\necho more\n"
    await write(cmd, b"echo chunked")
    await cmd.truncate(0)  # accepted, changes nothing by itself
    assert await read_all(cmd) == b"echo chunked\n"
    with pytest.raises(InvalidArgument):
        await cmd.truncate(3)


async def test_schedule_writes(core: Core) -> None:
    job = await clone(core, f"s:{FAR}:true")
    sched = job.lookup("schedule")
    await write(sched, b"@daily\n")
    assert (await read_all(sched)).splitlines()[0] == b"@daily"
    await write(job.lookup("ctl"), b"start")
    content = await read_all(sched)
    await write(sched, content)  # what was read back (with any next: line) is accepted
    assert (await read_all(sched)).splitlines()[0] == b"@daily"
    for bad in (b"* * *\n", b"@daily\nrm -rf /\n", b"*/0 * * * *"):
        handle = await sched.open(W)
        with pytest.raises(InvalidArgument):
            await handle.write(0, bad)
    assert (await read_all(sched)).splitlines()[0] == b"@daily"
    assert (await read_all(job.lookup("status"))).splitlines()[1] == b"schedule: @daily"


async def test_read_only_files_and_dirs(core: Core) -> None:
    job = await clone(core, f"ro:{FAR}:true")
    for name in ("log", "status"):
        with pytest.raises(AccessDenied):
            await job.lookup(name).open(W)
        with pytest.raises(AccessDenied):
            await job.lookup(name).truncate(0)
    for node in (core.namespace.root, path(core, "jobs"), job):
        with pytest.raises(IsADirectory):
            await node.open(W)
        with pytest.raises(IsADirectory):
            await node.truncate(0)
        with pytest.raises(IsADirectory):
            await (await node.open(OpenMode())).read(0, 10)
    handle = await job.lookup("status").open(OpenMode())
    with pytest.raises(AccessDenied):
        await handle.write(0, b"x")
    handle = await job.lookup("ctl").open(W)
    with pytest.raises(AccessDenied):
        await handle.read(0, 10)
    for node in (core.namespace.root, path(core, "jobs"), path(core, "clone")):
        with pytest.raises(PermissionDenied):
            await node.remove()
        with pytest.raises(PermissionDenied):
            await node.create("x", Kind.FILE, 0o644)


async def test_reads_are_snapshots_per_open(core: Core) -> None:
    job = await clone(core, f"snap:{FAR}:one")
    status = await job.lookup("status").open(OpenMode())
    cmd = await job.lookup("cmd").open(OpenMode())
    first = await status.read(0, 5)
    await write(job.lookup("ctl"), b"start")
    await write(job.lookup("cmd"), b"two")
    rest = await status.read(5, 1000)
    assert (first + rest).startswith(b"state: stopped\n")
    assert await cmd.read(0, 100) == b"one\n"
    assert await read_all(job.lookup("cmd")) == b"two\n"


async def test_log_streams_by_offset(core: Core) -> None:
    job = await clone(core, f"tail:{FAR}:true")
    entry = core.registry.get("tail")
    core.registry.sink.append(entry.job, ["first"])
    log = await job.lookup("log").open(OpenMode())
    data = await log.read(0, 1000)
    assert data == b"first\n"
    assert await log.read(len(data), 1000) == b""
    core.registry.sink.append(entry.job, ["second", "third"])
    assert await log.read(len(data), 1000) == b"second\nthird\n"
    await core.registry.sink.flush()
    assert await log.read(len(data), 1000) == b"second\nthird\n"
    v = job.lookup("log").stat().version
    core.registry.sink.append(entry.job, ["fourth"])
    assert job.lookup("log").stat().version > v


async def test_versions_and_jobs_dir(core: Core) -> None:
    jobs = path(core, "jobs")
    v0 = jobs.stat().version
    job = await clone(core, f"ver:{FAR}:true")
    assert jobs.stat().version > v0
    status, sched = job.lookup("status"), job.lookup("schedule")
    vs, vsched = status.stat().version, sched.stat().version
    await write(job.lookup("ctl"), b"start")
    assert status.stat().version > vs
    assert sched.stat().version > vsched
    v1 = jobs.stat().version
    await job.remove()
    assert jobs.stat().version > v1


async def test_remove_and_deleted_nodes(core: Core) -> None:
    job = await clone(core, f"gone:{FAR}:true")
    other = await clone(core, f"stay:{FAR}:true")
    files = job.children()
    handle = await job.lookup("cmd").open(OpenMode())
    for node in files:
        await node.remove()  # rm -r removes the files first: accepted, nothing happens
    assert path(core, "jobs", "gone") is job
    await job.remove()
    assert [n.name for n in path(core, "jobs").children()] == ["stay"]
    assert job.stat().name == "gone"
    assert all(n.stat().id for n in files)  # stat still answers
    for call in (job.children, lambda: job.lookup("ctl"), lambda: path(core, "jobs", "gone"),
                 lambda: core.namespace.node(job.id), lambda: core.namespace.node(files[0].id)):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound):
        await job.remove()
    with pytest.raises(NotFound):
        await files[0].remove()
    with pytest.raises(NotFound):
        await files[1].open(OpenMode())
    with pytest.raises(NotFound):
        await handle.read(0, 10)
    assert [r.name for r in await core.store.load_jobs()] == ["stay"]
    again = await clone(core, f"gone:{FAR}:true")
    assert again.id > other.id > job.id


async def test_delete_verb(core: Core) -> None:
    job = await clone(core, f"del:{FAR}:true")
    await write(job.lookup("ctl"), b"delete\n")
    with pytest.raises(NotFound):
        path(core, "jobs", "del")
    assert await core.store.load_jobs() == []


async def test_children_sorted_by_id(core: Core) -> None:
    for name in ("b", "a", "c"):
        await clone(core, f"{name}:{FAR}:true")
    kids = path(core, "jobs").children()
    assert [n.name for n in kids] == ["b", "a", "c"]
    assert [n.id for n in kids] == sorted(n.id for n in kids)


async def test_children_after_resumes_from_a_cookie(core: Core) -> None:
    for i in range(30):
        await clone(core, f"j{i}:{FAR}:true")
    jobs = path(core, "jobs")
    await path(core, "jobs", "j5").remove()
    everything = jobs.children()
    assert [n.id for n in jobs.children_after(0)] == [n.id for n in everything]
    for cookie in (1, 17, everything[3].id, everything[3].id + 2, everything[-1].id):
        assert [n.id for n in jobs.children_after(cookie)] == [
            n.id for n in everything if n.id > cookie
        ]
    job = everything[0]
    assert [n.name for n in job.children_after(job.id + 2)] == ["schedule", "log", "status"]
    assert [n.name for n in core.namespace.root.children_after(2)] == ["jobs", "stats"]
    await job.remove()
    with pytest.raises(NotFound):
        job.children_after(0)


async def test_entries_after_list_what_children_after_and_stat_say(core: Core) -> None:
    from jobd_core import DirEntry, ReadOnlyNamespace

    for i in range(12):
        await clone(core, f"e{i}:{FAR}:true")
    await path(core, "jobs", "e3").remove()
    jobs = path(core, "jobs")
    directories = [core.namespace.root, jobs, path(core, "jobs", "e7")]
    directories.append(ReadOnlyNamespace(core.namespace).root.lookup("jobs"))
    for directory in directories:
        for cookie in [0, *(child.id for child in directory.children())]:
            expected = [
                DirEntry(c.id, c.name, c.kind, c.stat().version)
                for c in directory.children_after(cookie)
            ]
            assert list(directory.entries_after(cookie)) == expected, (directory.name, cookie)
    assert [e.name for e in jobs.entries_after(0)] == [f"e{i}" for i in range(12) if i != 3]
    job = path(core, "jobs", "e7")
    await job.remove()
    with pytest.raises(NotFound):
        list(job.entries_after(0))
