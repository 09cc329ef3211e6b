"""Helpers for driving a ``Session`` directly (no sockets): a tiny client over ``handle``.

Imported by the other session tests; it also checks the helpers themselves once.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from jobd_9p import wire
from jobd_9p.session import Session
from jobd_core import CoreConfig, open_core

M = TypeVar("M", bound=wire.Message)

ALL_DIALECTS = ("9P2000", "9P2000.u", "9P2000.L")


class Failed(Exception):
    """An error reply: ``ename`` (9P2000/.u, "" on .L) and ``errno`` (.u/.L, 0 on 9P2000)."""

    def __init__(self, ename: str, err: int) -> None:
        super().__init__(f"{ename} (errno {err})")
        self.ename = ename
        self.errno = err


class Peer:
    """A client of one session, speaking messages (not bytes)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect: wire.Dialect | None = None
        self._tag = 0
        self._fid = 100

    def next_fid(self) -> int:
        self._fid += 1
        return self._fid

    async def rpc(self, cls: type[wire.Message], **fields: Any) -> wire.Message:
        self._tag = (self._tag + 1) % 0xFFFF
        fields.setdefault("tag", self._tag)
        return await self.session.handle(cls(**fields))

    async def ok(self, cls: type[wire.Message], expect: type[M], **fields: Any) -> M:
        reply = await self.rpc(cls, **fields)
        if isinstance(reply, wire.Rerror):
            raise Failed(reply.ename, reply.errno)
        if isinstance(reply, wire.Rlerror):
            raise Failed("", reply.ecode)
        assert isinstance(reply, expect), reply
        return reply

    async def fail(self, cls: type[wire.Message], **fields: Any) -> Failed:
        reply = await self.rpc(cls, **fields)
        if isinstance(reply, wire.Rerror):
            if self.dialect is wire.Dialect.U:
                assert reply.errno != 0
            return Failed(reply.ename, reply.errno)
        assert isinstance(reply, wire.Rlerror), f"expected an error, got {reply!r}"
        assert self.dialect is wire.Dialect.L
        return Failed("", reply.ecode)

    def expect_errno(self, failure: Failed, err: int) -> None:
        """On .u/.L the errno must be ``err``; on 9P2000 there is only text (non-empty)."""
        if self.dialect is wire.Dialect.P9P2000:
            assert failure.ename
        else:
            assert failure.errno == err, (failure, errno.errorcode.get(err))

    async def connect(self, version: str = "9P2000.L", msize: int = 8192 + 24) -> int:
        reply = await self.ok(wire.Tversion, wire.Rversion, tag=wire.NOTAG, msize=msize,
                              version=version)  # fmt: skip
        self.dialect = wire.Dialect(reply.version)
        await self.ok(wire.Tattach, wire.Rattach, fid=0, afid=wire.NOFID, uname="test", aname="")
        return 0

    @property
    def dotl(self) -> bool:
        return self.dialect is wire.Dialect.L

    async def walk(self, path: str, fid: int = 0) -> int:
        newfid = self.next_fid()
        names = tuple(p for p in path.split("/") if p)
        reply = await self.ok(wire.Twalk, wire.Rwalk, fid=fid, newfid=newfid, wnames=names)
        assert len(reply.wqids) == len(names)
        return newfid

    async def open(self, path: str, *, write: bool = False, read: bool = True,
                   trunc: bool = False) -> int:  # fmt: skip
        fid = await self.walk(path)
        if self.dotl:
            flags = wire.P9_DOTL_RDWR if read and write else (
                wire.P9_DOTL_WRONLY if write else wire.P9_DOTL_RDONLY)
            flags |= wire.P9_DOTL_TRUNC if trunc else 0
            await self.ok(wire.Tlopen, wire.Rlopen, fid=fid, flags=flags)
        else:
            mode = wire.ORDWR if read and write else (wire.OWRITE if write else wire.OREAD)
            mode |= wire.OTRUNC if trunc else 0
            await self.ok(wire.Topen, wire.Ropen, fid=fid, mode=mode)
        return fid

    async def clunk(self, fid: int) -> None:
        await self.ok(wire.Tclunk, wire.Rclunk, fid=fid)

    async def read_fid(self, fid: int, count: int = 8192) -> bytes:
        out = b""
        while True:
            reply = await self.ok(wire.Tread, wire.Rread, fid=fid, offset=len(out), count=count)
            if not reply.data:
                return out
            out += reply.data

    async def cat(self, path: str) -> str:
        fid = await self.open(path)
        try:
            return (await self.read_fid(fid)).decode()
        finally:
            await self.clunk(fid)

    async def echo(self, path: str, text: str) -> None:
        """What the Linux client sends for ``echo -n TEXT > PATH`` (truncation, then one write)."""
        fid = await self.open(path, write=True, read=False, trunc=not self.dotl)
        try:
            if self.dotl:
                await self.ok(wire.Tsetattr, wire.Rsetattr, fid=fid, valid=wire.P9_SETATTR_SIZE,
                              mode=0, uid=0, gid=0, size=0, atime_sec=0, atime_nsec=0,
                              mtime_sec=0, mtime_nsec=0)  # fmt: skip
            else:
                await self.ok(wire.Twstat, wire.Rwstat, fid=fid, stat=truncating_stat())
            await self.ok(wire.Twrite, wire.Rwrite, fid=fid, offset=0, data=text.encode())
        finally:
            await self.clunk(fid)

    async def ls(self, path: str) -> list[str]:
        fid = await self.open(path)
        try:
            if self.dotl:
                names: list[str] = []
                cookie = 0
                while True:
                    reply = await self.ok(wire.Treaddir, wire.Rreaddir, fid=fid, offset=cookie,
                                          count=8192)  # fmt: skip
                    entries = wire.decode_dirents(reply.data)
                    if not entries:
                        return names
                    names += [e.name for e in entries]
                    cookie = entries[-1].offset
            assert self.dialect is not None
            data = await self.read_fid(fid)
            return [s.name for s in wire.decode_stats(data, self.dialect)]
        finally:
            await self.clunk(fid)


def dont_touch_stat(**changes: Any) -> wire.Stat:
    """A Twstat stat with every field "don't touch" except ``changes``."""
    fields: dict[str, Any] = dict(
        type=0xFFFF, dev=0xFFFFFFFF, qid=wire.Qid(0xFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF),
        mode=0xFFFFFFFF, atime=0xFFFFFFFF, mtime=0xFFFFFFFF, length=0xFFFFFFFFFFFFFFFF,
        name="", uid="", gid="", muid="", extension="", n_uid=wire.NONUNAME,
        n_gid=wire.NONUNAME, n_muid=wire.NONUNAME,
    )  # fmt: skip
    fields.update(changes)
    return wire.Stat(**fields)


def truncating_stat() -> wire.Stat:
    """What Linux sends for ``echo x > file`` on 9P2000: length 0 and mtime set."""
    return dont_touch_stat(length=0, mtime=1_700_000_000)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Any]:
    async with open_core(CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0)) as c:
        yield c


async def test_peer_connects_in_every_dialect(core: Any) -> None:
    for version in ALL_DIALECTS:
        peer = Peer(Session(core.namespace))
        await peer.connect(version)
        assert peer.dialect is wire.Dialect(version)
        assert sorted(await peer.ls("/")) == ["clone", "jobs", "stats"]
