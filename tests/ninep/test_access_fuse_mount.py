"""``jobd-fuse --read-only`` as a real FUSE mount driven by coreutils: listing and reading work,
every change fails with "Read-only file system", the mount is ``ro``, and its 9P server (same
process) is read-only too."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fuse"))
from fuse_daemon import FuseDaemon
from test_limits_support import ignore_sigpipe, open_raw  # noqa: F401

from jobd_9p import wire
from jobd_core import CoreConfig, open_core


async def _one_job(dbdir: Path) -> None:
    async with open_core(CoreConfig(dbdir=dbdir, shutdown_grace=1.0)) as core:
        await core.registry.clone(b"hello:@daily:echo hi")


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[FuseDaemon]:
    trio.run(_one_job, tmp_path / "db")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    daemon = FuseDaemon(mnt, tmp_path / "db", tmp_path / "jobd-fuse.log",
                        ["--read-only", "--fsaddr", f"unix:{tmp_path}/9p.sock"])
    try:
        yield daemon.start()
    finally:
        daemon.cleanup()
        assert not daemon.unexpected_log_errors()


def test_read_only_fuse_mount(mounted: FuseDaemon) -> None:
    out = mounted.sh('ls $M/jobs; cat $M/jobs/hello/{cmd,ctl}; grep " $M " /proc/mounts')
    lines = out.stdout.splitlines()
    assert lines[:3] == ["hello", "echo hi", "stopped"]
    assert "ro" in lines[3].split()[3].split(",")
    for change in ("echo 'x:@daily:true' > $M/clone", "echo start > $M/jobs/hello/ctl",
                   "rm -r $M/jobs/hello", "mkdir $M/jobs/new", ": > $M/jobs/hello/cmd"):
        result = mounted.sh(change, check=False)
        assert result.returncode != 0 and "Read-only file system" in result.stderr, change
    assert mounted.sh("cat $M/jobs/hello/ctl").stdout == "stopped\n"


async def test_read_only_fuse_serves_9p_read_only(mounted: FuseDaemon, tmp_path: Path) -> None:
    raw = await open_raw(f"unix:{tmp_path}/9p.sock", version="9P2000.L")
    assert isinstance(await raw.walk(1, "jobs", "hello", "ctl"), wire.Rwalk)
    reply = await raw.rpc(wire.Tlopen, fid=1, flags=1)
    assert isinstance(reply, wire.Rlerror) and reply.ecode == errno.EROFS
    await raw.stream.aclose()
