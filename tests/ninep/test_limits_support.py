"""Helpers for the limit and access tests: the real core served over real sockets, and a raw
client speaking frames over a trio stream (nothing checked for the caller).

Also checks the helpers themselves once.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from jobd_9p import wire
from jobd_9p.server import open_listeners, parse_fsaddr, serve_9p
from jobd_core import Core, CoreConfig, open_core


@pytest.fixture(autouse=True)
def ignore_sigpipe() -> Iterator[None]:
    """Writes to a socket the server closed must raise, not kill pytest: jobctl's ``main``
    (run in-process by other tests) sets SIGPIPE to its default action for ``| head``."""
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGPIPE, previous)


class Raw:
    """A 9P client over one stream: frames out, replies in, nothing validated."""

    def __init__(self, stream: trio.abc.Stream, dialect: wire.Dialect = wire.Dialect.L) -> None:
        self.stream = stream
        self.dialect = dialect
        self.decoder = wire.Decoder(dialect, 1 << 24)
        self.tag = 0

    async def send(self, msg: wire.Message) -> None:
        await self.stream.send_all(wire.encode(msg, self.dialect))

    async def recv(self) -> wire.Message | None:
        """The next reply, or None once the server closed the connection."""
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                return msg
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset by the server
                return None
            if not data:
                return None
            self.decoder.feed(data)

    async def rpc(self, cls: type[wire.Message], **fields: Any) -> wire.Message:
        self.tag = (self.tag + 1) % 0xFFFF
        await self.send(cls(tag=self.tag, **fields))
        reply = await self.recv()
        assert reply is not None, "connection closed"
        return reply

    async def connect(self, version: str = "9P2000.L", msize: int = 8192 + 24) -> None:
        reply = await self.rpc(wire.Tversion, msize=msize, version=version)
        assert isinstance(reply, wire.Rversion) and reply.version == version, reply
        self.dialect = self.decoder.dialect = wire.Dialect(version)
        reply = await self.rpc(wire.Tattach, fid=0, afid=wire.NOFID, uname="", aname="")
        assert isinstance(reply, wire.Rattach), reply

    async def walk(self, newfid: int, *names: str) -> wire.Message:
        return await self.rpc(wire.Twalk, fid=0, newfid=newfid, wnames=names)

    async def closed(self) -> bool:
        """Read until the server closes the connection (replies already sent are dropped)."""
        while True:
            if await self.recv() is None:
                return True


def errno_of(reply: wire.Message) -> int:
    assert isinstance(reply, wire.Rlerror), reply
    return reply.ecode


async def open_raw(addr: str, **connect: Any) -> Raw:
    parsed = parse_fsaddr(addr)
    if isinstance(parsed, str):
        stream: trio.abc.Stream = await trio.open_unix_socket(parsed)
    else:
        stream = await trio.open_tcp_stream(*parsed)
    raw = Raw(stream)
    if connect:
        await raw.connect(**connect)
    return raw


@asynccontextmanager
async def served(
    dbdir: Path, fsaddr: str = "127.0.0.1:0", *, namespace: Any = None, **serve: Any
) -> AsyncIterator[tuple[Core, str]]:
    """The real core served over a real socket with ``serve_9p(**serve)``: (core, address)."""
    socket_mode = serve.pop("socket_mode", None)
    max_jobs = serve.pop("max_jobs", None)
    config = CoreConfig(dbdir=dbdir, shutdown_grace=1.0, max_jobs=max_jobs)
    async with open_core(config) as core, trio.open_nursery() as nursery:
        listeners = await open_listeners(fsaddr, socket_mode=socket_mode)
        ns = core.namespace if namespace is None else namespace(core.namespace)
        addresses = await nursery.start(partial_serve(ns, listeners, serve))
        yield core, addresses[0]
        nursery.cancel_scope.cancel()


def partial_serve(ns: Any, listeners: Any, serve: dict[str, Any]) -> Any:
    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve_9p(ns, listeners, task_status=task_status, **serve)

    return run


async def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 10) -> str:
    """The first log message containing ``text``, waiting up to ``timeout`` seconds for it."""
    with trio.fail_after(timeout):
        while True:
            for record in caplog.records:
                if text in record.getMessage():
                    return record.getMessage()
            await trio.sleep(0.02)


def messages(
    caplog: pytest.LogCaptureFixture, text: str, level: int = logging.WARNING
) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and r.levelno >= level]


async def test_helpers_serve_and_speak_9p(tmp_path: Path) -> None:
    async with served(tmp_path / "db") as (_, addr):
        raw = await open_raw(addr, version="9P2000.L")
        assert isinstance(await raw.walk(1, "jobs"), wire.Rwalk)
        await raw.stream.aclose()
