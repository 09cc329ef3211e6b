"""The core's side of access control and limits, on the real core: the read-only view
(``--read-only``), ``--max-jobs`` and ``--run-as`` (as root, with ``nobody``)."""

from __future__ import annotations

import errno
import os
import pwd
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from jobd_core import (
    Core,
    CoreConfig,
    Kind,
    NoSpace,
    OpenMode,
    ReadOnlyFileSystem,
    ReadOnlyNamespace,
    RunAs,
    open_core,
)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    async with open_core(CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0, max_jobs=3)) as c:
        await c.registry.clone(b"hello:@daily:echo hi")
        yield c


async def test_read_only_view_lists_and_reads_but_refuses_every_change(core: Core) -> None:
    view = ReadOnlyNamespace(core.namespace)
    names = [c.name for c in core.namespace.root.children()]
    assert [c.name for c in view.root.children()] == names
    job = view.root.lookup("jobs").lookup("hello")
    assert job.id == core.namespace.root.lookup("jobs").lookup("hello").id
    cmd = job.lookup("cmd")
    handle = await cmd.open(OpenMode(read=True))
    assert await handle.read(0, 100) == b"echo hi\n"
    await handle.close()
    assert cmd.stat() == core.namespace.node(cmd.id).stat()
    assert view.node(cmd.id).parent().id == job.id
    changes = [
        lambda: cmd.open(OpenMode(read=False, write=True)),
        lambda: cmd.open(OpenMode(read=True, truncate=True)),
        lambda: view.root.lookup("clone").open(OpenMode(read=False, write=True)),
        lambda: cmd.truncate(0),
        lambda: job.remove(),
        lambda: view.root.lookup("jobs").create("x", Kind.DIR, 0o755),
    ]
    for change in changes:
        with pytest.raises(ReadOnlyFileSystem) as caught:
            await change()
        assert caught.value.errno == errno.EROFS
        assert "read-only file system" in str(caught.value)
    assert [e.job.name for e in core.registry] == ["hello"]  # nothing changed
    assert [c.name for c in await job.achildren()] == ["ctl", "cmd", "schedule", "log", "status"]
    assert [c.id for c in view.root.lookup("jobs").children_after(0)] == [job.id]


async def test_max_jobs_refuses_creation_with_enospc_and_one_log_line(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    await core.registry.clone(b"two:@daily:true")
    await core.registry.clone(b"three:@daily:true")
    with pytest.raises(NoSpace) as caught:
        await core.registry.clone(b"four:@daily:true")
    assert caught.value.errno == errno.ENOSPC
    assert str(caught.value) == "too many jobs (limit 3)"
    assert [r.getMessage() for r in caplog.records if "too many jobs" in r.getMessage()] == [
        "job four refused: too many jobs (limit 3)"
    ]
    await core.registry.delete(core.registry.get("two"))
    await core.registry.clone(b"four:@daily:true")  # room again after a deletion


def test_run_as_resolves_users_and_refuses_unknown_ones() -> None:
    with pytest.raises(ValueError, match="no such user"):
        RunAs.lookup("no-such-user-jobd")
    me = pwd.getpwuid(os.geteuid())
    assert RunAs.lookup(me.pw_name).uid == me.pw_uid
    assert RunAs.lookup(str(me.pw_uid)).user == me.pw_name


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
async def test_run_as_nobody_runs_jobs_as_nobody(tmp_path: Path) -> None:
    nobody = RunAs.lookup("nobody")
    assert nobody.uid != 0 and nobody.gid != 0 and 0 not in nobody.groups
    config = CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0, run_as=nobody)
    async with open_core(config) as core:
        entry = await core.registry.clone(
            b'who:@daily:echo "$(id -u) $(id -g) $(id -G) $HOME $USER"'
        )
        await core.registry.ctl(entry, b"run")
        expected = f"{nobody.uid} {nobody.gid} {' '.join(map(str, nobody.groups))} " \
            f"{nobody.home} nobody"  # fmt: skip
        with trio.fail_after(10):
            while expected.encode() not in await core.registry.read_log(entry):
                await trio.sleep(0.05)
