"""The FUSE front in the test's own trio loop, next to the real core: lookup counts and ``forget``.

File system calls go through ``trio.to_thread`` (a call from the trio thread would wait for the
very loop that must answer it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import trio

from jobd_core import CoreConfig, open_core
from jobd_fuse import JobdOperations, serve_fuse

T = TypeVar("T")


async def run(fn: Callable[..., T], *args: object) -> T:
    return await trio.to_thread.run_sync(fn, *args)


@asynccontextmanager
async def mounted(tmp_path: Path) -> AsyncIterator[tuple[Path, JobdOperations]]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    config = CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0)
    async with open_core(config) as core, trio.open_nursery() as nursery:
        ops = await nursery.start(serve_fuse, core.namespace, mnt)
        try:
            yield mnt, ops
        finally:
            nursery.cancel_scope.cancel()
    assert not os.path.ismount(mnt)


def drop_caches() -> None:
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not check():
            await run(drop_caches)  # nudge the kernel to forget unused inodes
            await trio.sleep(0.05)  # the real kernel on the real clock


async def test_deleted_job_stays_valid_until_forgotten(tmp_path: Path) -> None:
    async with mounted(tmp_path) as (mnt, ops):
        await run((mnt / "clone").write_bytes, b"held:* * * * *:echo held")
        cmd = mnt / "jobs/held/cmd"
        inode = (await run(os.stat, cmd)).st_ino
        assert ops.lookup_count(inode) >= 1
        fd = await run(os.open, cmd, os.O_RDONLY)
        try:
            await run(shutil.rmtree, mnt / "jobs/held")
            assert not await run(os.path.exists, mnt / "jobs/held")
            assert ops.lookup_count(inode) >= 1  # the open file pins the inode
            st = await run(os.fstat, fd)
            assert st.st_ino == inode and st.st_size == len("echo held\n")
        finally:
            await run(os.close, fd)
        await until(lambda: ops.lookup_count(inode) == 0, "the kernel to forget the inode")
        assert ops.open_handles == 0


async def test_forget_releases_what_listings_looked_up(tmp_path: Path) -> None:
    async with mounted(tmp_path) as (mnt, ops):
        for k in range(30):
            await run((mnt / "clone").write_bytes, f"many{k}:* * * * *:true".encode())
        names = await run(os.listdir, mnt / "jobs")
        assert sorted(names) == sorted(f"many{k}" for k in range(30))
        assert ops.known_inodes >= 30  # readdirplus counts a lookup per entry
        for k in range(30):
            await run(os.rmdir, mnt / f"jobs/many{k}")
        await until(lambda: ops.known_inodes <= 2, "the kernel to forget the deleted jobs")
        assert await run(os.listdir, mnt / "jobs") == []
