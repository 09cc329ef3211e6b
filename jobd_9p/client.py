"""An async (trio) 9P client over the project's own codec (``jobd_9p.wire``).

Rules this module keeps:
1. Many requests may be in flight from many tasks on one connection (see ``_client_mux``).
2. Fids are small integers allocated here: ``attach``/``walk`` return new ones, ``clunk``/
   ``remove`` release them (also when the server answers an error).
3. Every failure is a ``RemoteError(message, errno)``; a lost connection is ``ConnectionClosed``.
"""

from __future__ import annotations

import errno as errno_mod
import getpass
import os
from collections.abc import Sequence

import trio

from . import wire
from ._client_mux import (
    ConnectionClosed,
    Multiplexer,
    RemoteError,
    errno_of,
    parse_address,
)
from .wire import Dialect, Qid

__all__ = ["Client", "ConnectionClosed", "RemoteError", "dont_touch_stat", "errno_of"]

_DONT_TOUCH_32 = 0xFFFFFFFF
_DONT_TOUCH_64 = 0xFFFFFFFFFFFFFFFF


class Client(Multiplexer):
    """One 9P connection: ``await Client.connect(addr)`` or ``await Client.start(stream)``.

    All methods may be called concurrently from many tasks. Cancelling a call flushes it.
    """

    @classmethod
    async def connect(
        cls,
        addr: str,
        *,
        msize: int = 64 * 1024 + wire.IOHDRSZ,
        dialect: Dialect = Dialect.L,
        nursery: trio.Nursery | None = None,
    ) -> Client:
        """Connect to ``addr`` (``HOST:PORT`` or ``unix:PATH``) and negotiate version and msize.

        The reader task runs in ``nursery`` or, without one, as a trio system task.

        Raises:
            ConnectionClosed: the server cannot be reached (errno from the OS, e.g. ECONNREFUSED).
            RemoteError: the server refused the version.
            ValueError: malformed ``addr``.
        """
        where = parse_address(addr)
        try:
            if isinstance(where, str):
                stream: trio.abc.Stream = await trio.open_unix_socket(where)
            else:
                stream = await trio.open_tcp_stream(*where)
        except OSError as exc:
            raise _connect_error(addr, exc) from exc
        try:
            return await cls.start(stream, msize=msize, dialect=dialect, nursery=nursery, name=addr)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise

    # -- requests --------------------------------------------------------------------------------

    async def attach(self, *, uname: str | None = None, aname: str = "") -> tuple[int, Qid]:
        """Attach to the server's tree; returns (root fid, root qid).

        Raises:
            RemoteError: the server refused the attach.
        """
        fid = self._alloc_fid()
        reply = await self._new_fid_call(
            fid, wire.Rattach, wire.Tattach, fid=fid, afid=wire.NOFID,
            uname=uname if uname is not None else getpass.getuser(), aname=aname,
            n_uname=os.getuid(),
        )  # fmt: skip
        return fid, reply.qid

    async def walk(self, fid: int, names: Sequence[str]) -> tuple[int, list[Qid]]:
        """Walk from ``fid`` along ``names`` (none: clone) into a new fid; returns it and the qids.

        Raises:
            RemoteError: ENOENT (with the first missing name) if any name is missing.
        """
        if len(names) > wire.MAXWELEM:
            head, qids = await self.walk(fid, names[: wire.MAXWELEM])
            try:
                tail, more = await self.walk(head, names[wire.MAXWELEM :])
            finally:
                await self.clunk(head)
            return tail, qids + more
        newfid = self._alloc_fid()
        reply = await self._new_fid_call(
            newfid, wire.Rwalk, wire.Twalk, fid=fid, newfid=newfid, wnames=tuple(names)
        )
        if len(reply.wqids) < len(names):
            self._release_fid(newfid)  # a partial walk does not create newfid (walk(5))
            raise RemoteError(f"{names[len(reply.wqids)]}: file not found", errno_mod.ENOENT)
        return newfid, list(reply.wqids)

    async def open(self, fid: int, mode: int) -> tuple[Qid, int]:
        """Topen (9P2000/.u) with OREAD/OWRITE/ORDWR|OTRUNC...; returns (qid, iounit).

        Raises:
            RemoteError: the server refused.
        """
        reply = await self._rpc(wire.Ropen, wire.Topen, fid=fid, mode=mode)
        return reply.qid, reply.iounit

    async def lopen(self, fid: int, flags: int) -> tuple[Qid, int]:
        """Tlopen (9P2000.L) with Linux open flags; returns (qid, iounit).

        Raises:
            RemoteError: the server refused.
        """
        reply = await self._rpc(wire.Rlopen, wire.Tlopen, fid=fid, flags=flags)
        return reply.qid, reply.iounit

    async def open_for(
        self, fid: int, *, read: bool = True, write: bool = False, truncate: bool = False
    ) -> tuple[Qid, int]:
        """Open in the dialect's own way (Tlopen on .L, Topen otherwise).

        Raises:
            RemoteError: the server refused.
        """
        access = 2 if read and write else 1 if write else 0  # the same numbers in both dialects
        if self.dialect is Dialect.L:
            return await self.lopen(fid, access | (wire.P9_DOTL_TRUNC if truncate else 0))
        return await self.open(fid, access | (wire.OTRUNC if truncate else 0))

    @property
    def iounit(self) -> int:
        """Most data bytes one Tread/Twrite can carry."""
        return self.msize - wire.IOHDRSZ

    async def read(self, fid: int, offset: int, count: int) -> bytes:
        """One Tread; ``count`` is clamped to what fits in msize.

        Raises:
            RemoteError: the server refused.
        """
        count = min(count, self.iounit)
        reply = await self._rpc(wire.Rread, wire.Tread, fid=fid, offset=offset, count=count)
        return reply.data

    async def read_all(self, fid: int, offset: int = 0) -> bytes:
        """Read from ``offset`` until a short read.

        Raises:
            RemoteError: the server refused.
        """
        chunks = []
        while True:
            data = await self.read(fid, offset, self.iounit)
            chunks.append(data)
            offset += len(data)
            if len(data) < self.iounit:
                return b"".join(chunks)

    async def read_file(self, root: int, path: list[str]) -> bytes:
        """Walk from ``root`` to ``path``, read the whole file, release the fid.

        Raises:
            RemoteError: the server refused.
        """
        fid, _ = await self.walk(root, path)
        try:
            await self.open_for(fid)
            return await self.read_all(fid)
        finally:
            await self.clunk(fid)

    async def write_file(self, root: int, path: list[str], data: bytes) -> None:
        """Walk from ``root`` to ``path``, write ``data`` at 0 (one message), release the fid.

        Raises:
            RemoteError: the server refused.
        """
        fid, _ = await self.walk(root, path)
        try:
            await self.open_for(fid, read=False, write=True)
            await self.write(fid, 0, data)
        finally:
            await self.clunk(fid)

    async def write(self, fid: int, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` in as few Twrites as msize allows; returns bytes accepted.

        Raises:
            RemoteError: the server refused.
        """
        done = 0
        while True:
            chunk = data[done : done + self.iounit]
            reply = await self._rpc(
                wire.Rwrite, wire.Twrite, fid=fid, offset=offset + done, data=chunk
            )
            done += reply.count
            if done >= len(data) or reply.count == 0:
                return done

    async def clunk(self, fid: int) -> None:
        """Release ``fid`` (also locally when the server answers an error). On a closed
        connection this is a no-op: the server dropped every fid with it.

        Raises:
            RemoteError: the server's error (the fid is released anyway).
        """
        # Shielded: a flushed clunk would leave the fid's state unknown; a clunk is quick anyway.
        with trio.CancelScope(shield=True):
            try:
                await self._rpc(wire.Rclunk, wire.Tclunk, fid=fid)
            except ConnectionClosed:
                pass  # the server released every fid of the connection with it
            finally:
                self._release_fid(fid)

    async def remove(self, fid: int) -> None:
        """Tremove: remove the file and release ``fid`` (released even when the remove fails).

        Raises:
            RemoteError: the server refused.
        """
        with trio.CancelScope(shield=True):  # as clunk: the fid must not be left in doubt
            try:
                await self._rpc(wire.Rremove, wire.Tremove, fid=fid)
            finally:
                self._release_fid(fid)

    async def unlinkat(self, dirfid: int, name: str, flags: int = 0) -> None:
        """Tunlinkat (.L): remove ``name`` in the directory ``dirfid``.

        Raises:
            RemoteError: the server refused.
        """
        await self._rpc(wire.Runlinkat, wire.Tunlinkat, dirfid=dirfid, name=name, flags=flags)

    async def stat(self, fid: int) -> wire.Stat:
        """Tstat (9P2000/.u).

        Raises:
            RemoteError: the server refused.
        """
        return (await self._rpc(wire.Rstat, wire.Tstat, fid=fid)).stat

    async def getattr(self, fid: int, mask: int = wire.P9_GETATTR_BASIC) -> wire.Rgetattr:
        """Tgetattr (.L).

        Raises:
            RemoteError: the server refused.
        """
        return await self._rpc(wire.Rgetattr, wire.Tgetattr, fid=fid, request_mask=mask)

    async def readdir(
        self, fid: int, offset: int = 0, count: int | None = None
    ) -> list[wire.Dirent]:
        """One Treaddir (.L) from the cookie ``offset``; an empty list at the end.

        Raises:
            RemoteError: the server refused.
        """
        count = min(count or self.iounit, self.msize - wire.READDIRHDRSZ)
        reply = await self._rpc(wire.Rreaddir, wire.Treaddir, fid=fid, offset=offset, count=count)
        return wire.decode_dirents(reply.data)

    async def readdir_all(self, fid: int) -> list[wire.Dirent]:
        """Every entry of an opened directory (.L), following the cookies.

        Raises:
            RemoteError: the server refused.
        """
        entries: list[wire.Dirent] = []
        offset = 0
        while batch := await self.readdir(fid, offset):
            entries.extend(batch)
            offset = batch[-1].offset
        return entries

    async def read_dir(self, fid: int) -> list[wire.Stat]:
        """Every entry of an opened directory (9P2000/.u packed stat reads).

        Raises:
            RemoteError: the server refused, or sent a malformed stat.
        """
        data = await self.read_all(fid)
        entries = []
        pos = 0
        while pos + 2 <= len(data):
            size = int.from_bytes(data[pos : pos + 2], "little") + 2
            try:
                entries.append(wire.decode_stat(data[pos : pos + size], self.dialect))
            except wire.ProtocolError as exc:
                raise RemoteError(f"bad directory entry from {self.name}: {exc}") from exc
            pos += size
        return entries

    async def wstat(self, fid: int, stat: wire.Stat) -> None:
        """Twstat (9P2000/.u).

        Raises:
            RemoteError: the server refused.
        """
        await self._rpc(wire.Rwstat, wire.Twstat, fid=fid, stat=stat)

    async def setattr(self, fid: int, *, valid: int, size: int = 0, mode: int = 0) -> None:
        """Tsetattr (.L) of the fields named in ``valid``.

        Raises:
            RemoteError: the server refused.
        """
        await self._rpc(
            wire.Rsetattr, wire.Tsetattr, fid=fid, valid=valid, mode=mode, uid=0, gid=0,
            size=size, atime_sec=0, atime_nsec=0, mtime_sec=0, mtime_nsec=0,
        )  # fmt: skip

    async def truncate(self, fid: int, size: int = 0) -> None:
        """Set the length: Tsetattr on .L, a "don't touch" Twstat with only the length otherwise.

        Raises:
            RemoteError: the server refused.
        """
        if self.dialect is Dialect.L:
            await self.setattr(fid, valid=wire.P9_SETATTR_SIZE, size=size)
            return
        await self.wstat(fid, dont_touch_stat(length=size))


def _connect_error(addr: str, exc: OSError) -> ConnectionClosed:
    """The OS's reason (trio keeps each attempt's error in ``__cause__``)."""
    cause: BaseException | None = exc
    while cause is not None and not getattr(cause, "errno", None):
        group = cause.exceptions if isinstance(cause, BaseExceptionGroup) else ()
        cause = group[0] if group else cause.__cause__
    code = getattr(cause, "errno", None) or errno_mod.EIO
    return ConnectionClosed(f"cannot connect to {addr}: {os.strerror(code)}", code)


def dont_touch_stat(*, length: int = _DONT_TOUCH_64) -> wire.Stat:
    """A Twstat stat that changes nothing but what is given (stat(5): ~0 and empty strings)."""
    qid = Qid(type=0xFF, version=_DONT_TOUCH_32, path=_DONT_TOUCH_64)
    return wire.Stat(
        type=0xFFFF, dev=_DONT_TOUCH_32, qid=qid, mode=_DONT_TOUCH_32, atime=_DONT_TOUCH_32,
        mtime=_DONT_TOUCH_32, length=length, name="", uid="", gid="", muid="",
        extension="", n_uid=_DONT_TOUCH_32, n_gid=_DONT_TOUCH_32, n_muid=_DONT_TOUCH_32,
    )  # fmt: skip
