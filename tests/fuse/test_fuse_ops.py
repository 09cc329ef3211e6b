"""``JobdOperations`` called directly (no kernel) over the real core: lookup counts, the one error
translation point, flag and attribute mapping."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pyfuse3
import pytest
from pyfuse3 import FUSEError

from jobd_core import Core, CoreConfig, Handle, Kind, Node, OpenMode, Stat, open_core
from jobd_fuse import JobdOperations, entry_attributes, mount_options, open_mode

CTX = cast(pyfuse3.RequestContext, None)  # the handlers never look at it


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Core]:
    async with open_core(CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0)) as c:
        yield c


async def write_file(ops: JobdOperations, inode: int, data: bytes) -> None:
    fi = await ops.open(inode, os.O_WRONLY | os.O_TRUNC, CTX)
    try:
        await ops.write(fi.fh, 0, data)
    finally:
        await ops.release(fi.fh)


async def test_lookup_counts_and_forget(core: Core) -> None:
    ops = JobdOperations(core.namespace)
    clone = await ops.lookup(pyfuse3.ROOT_INODE, b"clone", CTX)
    await write_file(ops, clone.st_ino, b"one:* * * * *:true")
    jobs = await ops.lookup(pyfuse3.ROOT_INODE, b"jobs", CTX)
    one = await ops.lookup(jobs.st_ino, b"one", CTX)
    await ops.lookup(jobs.st_ino, b"one", CTX)
    assert ops.lookup_count(one.st_ino) == 2
    await ops.rmdir(jobs.st_ino, b"one", CTX)  # deleted, but the kernel still holds it
    assert (await ops.getattr(one.st_ino, CTX)).st_ino == one.st_ino
    await ops.forget([(one.st_ino, 1)])
    assert (await ops.getattr(one.st_ino, CTX)).st_ino == one.st_ino
    await ops.forget([(one.st_ino, 1)])
    assert ops.lookup_count(one.st_ino) == 0
    with pytest.raises(FUSEError) as info:
        await ops.getattr(one.st_ino, CTX)  # forgotten and gone: no longer known
    assert info.value.errno == errno.ENOENT
    await ops.forget([(pyfuse3.ROOT_INODE, 5)])
    assert (await ops.getattr(pyfuse3.ROOT_INODE, CTX)).st_ino == pyfuse3.ROOT_INODE


async def test_core_errors_become_their_errno_with_the_reason_logged(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    ops = JobdOperations(core.namespace)
    clone = await ops.lookup(pyfuse3.ROOT_INODE, b"clone", CTX)
    with caplog.at_level(logging.INFO, logger="jobd_fuse"), pytest.raises(FUSEError) as info:
        await write_file(ops, clone.st_ino, b"no colons here")
    assert info.value.errno == errno.EINVAL
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "write rejected: invalid job definition" in record.getMessage()
    for call, expected in [
        (ops.lookup(pyfuse3.ROOT_INODE, b"nope", CTX), errno.ENOENT),
        (ops.mkdir(pyfuse3.ROOT_INODE, b"d", 0o755, CTX), errno.EPERM),
        (ops.create(pyfuse3.ROOT_INODE, b"f", 0o644, os.O_WRONLY, CTX), errno.EPERM),
        (ops.unlink(pyfuse3.ROOT_INODE, b"clone", CTX), errno.EPERM),
        (ops.opendir(clone.st_ino, CTX), errno.ENOTDIR),
        (ops.read(12345, 0, 10), errno.EBADF),
    ]:
        with pytest.raises(FUSEError) as info:
            await call
        assert info.value.errno == expected


class _BrokenNode(Node):
    """A node with a bug: every call raises something that is not a ``JobdError``."""

    id, name, kind = 999, "broken", Kind.FILE

    def stat(self) -> Stat:
        raise RuntimeError("a bug")

    def parent(self) -> Node:
        raise RuntimeError("a bug")

    async def open(self, mode: OpenMode) -> Handle:
        raise RuntimeError("a bug")


class _WithBrokenNode:
    def __init__(self, core: Core) -> None:
        self.root = core.namespace.root
        self._core = core

    def node(self, id: int) -> Node:
        return _BrokenNode() if id == 999 else self._core.namespace.node(id)


@pytest.mark.allow_error_logs
async def test_a_bug_is_eio_with_its_traceback_logged(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    ops = JobdOperations(_WithBrokenNode(core))
    for call in (ops.getattr(999, CTX), ops.open(999, os.O_RDONLY, CTX)):
        with pytest.raises(FUSEError) as info:
            await call
        assert info.value.errno == errno.EIO
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info for r in errors)
    assert (await ops.getattr(pyfuse3.ROOT_INODE, CTX)).st_ino == 1  # and it serves on


def test_open_flags_map_to_open_modes() -> None:
    assert open_mode(os.O_RDONLY) == OpenMode(read=True, write=False, truncate=False)
    assert open_mode(os.O_WRONLY | os.O_TRUNC) == OpenMode(read=False, write=True, truncate=True)
    assert open_mode(os.O_RDWR | os.O_APPEND) == OpenMode(read=True, write=True, truncate=False)


def test_attributes_carry_type_bits_true_size_and_no_file_caching() -> None:
    common: dict[str, Any] = dict(version=1, atime_ns=1, mtime_ns=2_000_000_001, ctime_ns=3,
                                  uid=7, gid=8, owner="u", group="g")
    f = entry_attributes(Stat(id=5, name="log", kind=Kind.FILE, mode=0o444, size=1234, **common))
    assert stat.S_ISREG(f.st_mode) and stat.S_IMODE(f.st_mode) == 0o444
    assert (f.st_ino, f.st_size, f.st_mtime_ns) == (5, 1234, 2_000_000_001)
    assert (f.st_uid, f.st_gid) == (7, 8)
    assert f.attr_timeout == 0 and f.entry_timeout == 0
    d = entry_attributes(Stat(id=1, name="/", kind=Kind.DIR, mode=0o755, size=0, **common))
    assert stat.S_ISDIR(d.st_mode) and d.st_nlink == 2 and d.entry_timeout == 0


def test_mount_options() -> None:
    assert mount_options() == {"fsname=jobd", "subtype=jobd", "default_permissions"}
    opts = mount_options(["ro", ""], allow_other=True, debug=True)
    assert {"ro", "allow_other", "debug", "fsname=jobd"} <= opts and "" not in opts


def test_command_line() -> None:
    from jobd_fuse.cli import _fuse_options, build_parser

    args = build_parser().parse_args(["/mnt/x", "-o", "allow_other,ro", "-o", "noatime"])
    assert args.fsaddr == "127.0.0.1:5640" and not args.no_9p and args.remote is None
    assert {"allow_other", "ro", "noatime", "default_permissions"} <= _fuse_options(
        args.options, args.debug)
    remote = build_parser().parse_args(["--remote", "host:5640", "/mnt/x"])
    assert remote.remote == "host:5640"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["/mnt/x", "--no-9p", "--fsaddr", "127.0.0.1:1"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["/mnt/x", "--daemon", "--foreground"])
