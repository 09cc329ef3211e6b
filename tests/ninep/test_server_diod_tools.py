"""diod's client tools (9P2000.L, an independent C client: Tauth probe, listxattr, walks from an
open directory) against the server with the real core."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from test_server_tcp import _connect, _write

from jobd_9p.server import open_listeners, serve_9p
from jobd_core import CoreConfig, open_core


@pytest.fixture
async def address(tmp_path: Path) -> AsyncIterator[str]:
    assert shutil.which("diodls"), "diod's client tools are missing (apt-get install diod)"
    async with open_core(CoreConfig(dbdir=tmp_path / "db")) as core, \
            trio.open_nursery() as nursery:  # fmt: skip
        listeners = await open_listeners("127.0.0.1:0")
        addresses = await nursery.start(serve_9p, core.namespace, listeners)
        yield addresses[0]
        nursery.cancel_scope.cancel()


async def _tool(*argv: str) -> str:
    done = await trio.run_process(list(argv), capture_stdout=True, capture_stderr=True,
                                  check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def _create(address: str) -> None:
    # diod's tools only read; create the job with py9p over the same server
    def make() -> None:
        c = _connect(address)
        try:
            _write(c, 1, "clone", b"hello:@daily:echo hi")
        finally:
            c.close()

    await trio.to_thread.run_sync(make)


async def test_diodls_and_diodcat(address: str) -> None:
    await _create(address)
    assert (await _tool("diodls", "-s", address, "-a", "/")).split() == ["clone", "jobs", "stats"]
    long = await _tool("diodls", "-s", address, "-a", "/", "-l", "jobs/hello")
    rows = {line.split()[-1]: line.split() for line in long.splitlines()}
    assert sorted(rows) == ["cmd", "ctl", "log", "schedule", "status"]
    assert rows["cmd"][0].startswith("-rw-r--r--") and rows["cmd"][4] == str(len("echo hi\n"))
    assert rows["log"][0].startswith("-r--r--r--")
    out = await _tool("diodcat", "-s", address, "-a", "/", "jobs/hello/cmd", "jobs/hello/ctl")
    assert out == "echo hi\nstopped\n"
