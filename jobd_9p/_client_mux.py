"""The async 9P client's multiplexer: tags, one reader task, Tflush on cancel, errors.

Rules this module keeps:
1. One reader task owns the receiving side; sends go through one lock. Every request has its own
   tag; a tag is reused only after its reply (or, for a flushed request, the Rflush) arrived.
2. Cancelling a request sends Tflush(oldtag) and waits for Rflush (flush(5)). If the original reply
   arrives first and created a fid (Twalk, Tattach), that fid is clunked in the background, so the
   fid table on both sides stays in step.
3. Every failure reaches the caller as ``RemoteError(message, errno)``; the loss of the connection
   fails every pending and later call with ``ConnectionClosed`` (errno ENOTCONN).
4. The codec (``jobd_9p.wire``) does all byte work; this module only moves frames.
"""

from __future__ import annotations

import errno as errno_mod
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import trio

from . import wire
from .wire import Dialect, Message

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=Message)
FLUSH_TIMEOUT = 30.0  # seconds a server may take to answer Tflush before the connection is dropped
_DONT_TOUCH_32 = 0xFFFFFFFF
_DONT_TOUCH_64 = 0xFFFFFFFFFFFFFFFF


class RemoteError(Exception):
    """A 9P request failed: the server's error (or the client's own reason) and a POSIX errno."""

    def __init__(self, message: str, errno: int = errno_mod.EIO) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno

    def __str__(self) -> str:
        return self.message


class ConnectionClosed(RemoteError):
    """The connection is gone (or could not be made); no request on it can succeed."""

    def __init__(self, message: str, errno: int = errno_mod.ENOTCONN) -> None:
        super().__init__(message, errno)


# 9P2000 carries no errno: the readable strings of common servers (and jobd's) give a fitting one.
_STRING_ERRNOS = (
    ("exist", errno_mod.EEXIST),
    ("not found", errno_mod.ENOENT),
    ("no such", errno_mod.ENOENT),
    ("does not exist", errno_mod.ENOENT),
    ("permission denied", errno_mod.EACCES),
    ("not permitted", errno_mod.EPERM),
    ("is a directory", errno_mod.EISDIR),
    ("not a directory", errno_mod.ENOTDIR),
    ("not empty", errno_mod.ENOTEMPTY),
    ("busy", errno_mod.EBUSY),
    ("invalid", errno_mod.EINVAL),
    ("unknown", errno_mod.EINVAL),
)


def errno_of(message: str) -> int:
    """A fitting errno for a 9P2000 error string (EIO when nothing fits)."""
    low = message.lower()
    if "does not exist" in low:
        return errno_mod.ENOENT
    for needle, code in _STRING_ERRNOS:
        if needle in low:
            return code
    return errno_mod.EIO


def _remote_error(reply: Message) -> RemoteError | None:
    if isinstance(reply, wire.Rlerror):
        return RemoteError(os.strerror(reply.ecode), reply.ecode or errno_mod.EIO)
    if isinstance(reply, wire.Rerror):
        return RemoteError(reply.ename, reply.errno or errno_of(reply.ename))
    return None


@dataclass(eq=False, slots=True)
class _Call:
    request: Message
    done: trio.Event = field(default_factory=trio.Event)
    reply: Message | None = None
    error: RemoteError | None = None
    sent: bool = False


def parse_address(addr: str) -> tuple[str, int] | str:
    """``HOST:PORT`` / ``[V6]:PORT`` -> (host, port); ``unix:PATH`` -> PATH.

    Raises:
        ValueError: malformed address.
    """
    if addr.startswith("unix:") and len(addr) > 5:
        return addr[5:]
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"bad address {addr!r}: expected HOST:PORT or unix:PATH")
    return host.strip("[]"), int(port)


class Multiplexer:
    """The connection machinery under ``Client``: version, tags, the reader, flush, fid numbers."""

    def __init__(self, stream: trio.abc.Stream, *, msize: int, dialect: Dialect, name: str) -> None:
        self._stream = stream
        self.msize = msize
        self.dialect = dialect
        self.name = name
        self._send_lock = trio.Lock()
        self._calls: dict[int, _Call] = {}
        self._free_tags: list[int] = []
        self._next_tag = 0
        self._free_fids: list[int] = []
        self._next_fid = 0
        self._closed: ConnectionClosed | None = None
        self._reader_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._decoder = wire.Decoder(dialect, max_size=msize)
        self.closed_event = trio.Event()

    # -- life cycle ------------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        stream: trio.abc.Stream,
        *,
        msize: int = 64 * 1024 + wire.IOHDRSZ,
        dialect: Dialect = Dialect.L,
        nursery: trio.Nursery | None = None,
        name: str = "9P server",
    ) -> Self:
        """Negotiate over an already connected stream (TCP, unix, or a memory stream in tests).

        Raises:
            RemoteError: the server refused the version (``unknown``) or sent something else.
            ConnectionClosed: the stream closed during negotiation.
        """
        self = cls(stream, msize=msize, dialect=dialect, name=name)
        await self._negotiate(msize, dialect)
        if nursery is None:
            trio.lowlevel.spawn_system_task(self._reader)
        else:
            nursery.start_soon(self._reader)
        self._nursery = nursery
        return self

    async def _negotiate(self, msize: int, dialect: Dialect) -> None:
        await self._send(wire.Tversion(tag=wire.NOTAG, msize=msize, version=dialect.value))
        try:
            reply = await self._receive()
        except wire.ProtocolError as exc:  # e.g. diod answers a .u Tversion with Rlerror
            raise RemoteError(
                f"{self.name} does not speak {dialect.value} (bad reply to Tversion: {exc})",
                errno_mod.EPROTONOSUPPORT,
            ) from None
        if not isinstance(reply, wire.Rversion):
            raise _remote_error(reply) or RemoteError(f"expected Rversion, got {reply!r}")
        try:
            agreed = Dialect(reply.version)
        except ValueError:
            raise RemoteError(
                f"{self.name} does not speak {dialect.value} (answered {reply.version!r})",
                errno_mod.EPROTONOSUPPORT,
            ) from None
        if reply.msize > msize or reply.msize < wire.MIN_MSIZE:
            raise RemoteError(f"{self.name} answered a bad msize {reply.msize}", errno_mod.EPROTO)
        self.msize, self.dialect = reply.msize, agreed
        self._decoder = wire.Decoder(agreed, max_size=reply.msize)

    async def aclose(self) -> None:
        """Close the connection; pending calls fail with ``ConnectionClosed``."""
        self._fail_all(ConnectionClosed(f"connection to {self.name} closed"))
        self._reader_scope.cancel()
        await trio.aclose_forcefully(self._stream)

    async def close(self) -> None:
        """The same as ``aclose``."""
        await self.aclose()

    @property
    def is_closed(self) -> bool:
        return self._closed is not None

    # -- the multiplexer -------------------------------------------------------------------------

    async def _receive(self) -> Message:
        while (msg := self._decoder.next_message()) is None:
            try:
                data = await self._stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise ConnectionClosed(f"connection to {self.name} lost: {exc}") from exc
            if not data:
                raise ConnectionClosed(f"{self.name} closed the connection")
            self._decoder.feed(data)
        return msg

    async def _reader(self) -> None:
        with self._reader_scope:
            try:
                while True:
                    self._dispatch(await self._receive())
            except ConnectionClosed as exc:
                self._fail_all(exc)
            except wire.ProtocolError as exc:
                logger.warning("bad frame from %s: %s", self.name, exc)
                self._fail_all(
                    ConnectionClosed(f"bad frame from {self.name}: {exc}", errno_mod.EIO)
                )
            except Exception as exc:
                logger.exception("9P client reader for %s failed", self.name)
                self._fail_all(
                    ConnectionClosed(f"client error on {self.name}: {exc}", errno_mod.EIO)
                )
            finally:
                self._fail_all(ConnectionClosed(f"connection to {self.name} closed"))
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)

    def _dispatch(self, reply: Message) -> None:
        call = self._calls.get(reply.tag)
        if call is None or call.done.is_set():
            logger.warning("reply with unknown tag %d from %s ignored", reply.tag, self.name)
            return
        call.reply = reply
        call.done.set()

    def _fail_all(self, exc: ConnectionClosed) -> ConnectionClosed:
        """Mark the connection gone (the first reason sticks) and fail every pending call."""
        if self._closed is None:
            self._closed = exc
            self.closed_event.set()
        for call in self._calls.values():
            if not call.done.is_set():
                call.error = self._closed
                call.done.set()
        return self._closed

    async def _send(self, msg: Message, call: _Call | None = None) -> None:
        data = wire.encode(msg, self.dialect)
        async with self._send_lock:
            if self._closed is not None:
                raise self._closed
            if call is not None:
                call.sent = True
            # A send cut short would leave half a frame on the wire: shield it and drop the
            # connection instead if the peer stops reading for good.
            with trio.CancelScope(shield=True), trio.move_on_after(FLUSH_TIMEOUT) as scope:
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    lost = ConnectionClosed(f"connection to {self.name} lost: {exc}")
                    raise self._fail_all(lost) from exc
            if scope.cancelled_caught:
                raise self._fail_all(
                    ConnectionClosed(f"{self.name} stopped reading", errno_mod.EIO)
                )

    def _alloc_tag(self) -> int:
        if self._free_tags:
            return self._free_tags.pop()
        if self._next_tag >= wire.NOTAG:
            raise RemoteError("all 9P tags are in use", errno_mod.EAGAIN)
        self._next_tag += 1
        return self._next_tag - 1

    def _release_tag(self, tag: int) -> None:
        del self._calls[tag]
        self._free_tags.append(tag)

    async def _rpc(self, expect: type[_M], cls: Callable[..., Message], **fields: Any) -> _M:
        """Send one request and wait for its reply; flush it if cancelled.

        Raises:
            RemoteError: the server's error reply (or an unexpected reply type).
            ConnectionClosed: the connection is gone.
        """
        if self._closed is not None:
            raise self._closed
        tag = self._alloc_tag()
        call = _Call(cls(tag=tag, **fields))
        self._calls[tag] = call
        try:
            await self._send(call.request, call)
            await call.done.wait()
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await self._flush(call)
            raise
        except BaseException:
            self._release_tag(tag)
            raise
        self._release_tag(tag)
        return self._result(call, expect)

    def _result(self, call: _Call, expect: type[_M]) -> _M:
        if call.error is not None:
            raise call.error
        assert call.reply is not None
        error = _remote_error(call.reply)
        if error is not None:
            raise error
        if not isinstance(call.reply, expect):
            raise RemoteError(f"expected {expect.__name__}, got {type(call.reply).__name__}")
        return call.reply

    async def _flush(self, call: _Call) -> None:
        """Tflush ``call`` (shielded by the caller); keep its tag until the Rflush arrived."""
        oldtag = call.request.tag
        if call.done.is_set() or not call.sent or self._closed is not None:
            self._finish_flushed(call)
            return
        tag = self._alloc_tag()
        flush = _Call(wire.Tflush(tag=tag, oldtag=oldtag))
        self._calls[tag] = flush
        try:
            await self._send(flush.request)
            with trio.move_on_after(FLUSH_TIMEOUT) as scope:
                await flush.done.wait()
            if scope.cancelled_caught:
                logger.warning("%s did not answer Tflush; dropping the connection", self.name)
                await self.aclose()
        except ConnectionClosed:
            pass  # the connection is gone: every tag and fid went with it
        finally:
            self._release_tag(tag)
            self._finish_flushed(call)

    def _finish_flushed(self, call: _Call) -> None:
        """Free a flushed request's tag and settle the fid it may have created on the server."""
        self._release_tag(call.request.tag)
        orphan, reply = call.request, call.reply
        if isinstance(orphan, wire.Twalk) and orphan.newfid != orphan.fid:
            new_fid = orphan.newfid
            created = isinstance(reply, wire.Rwalk) and len(reply.wqids) == len(orphan.wnames)
        elif isinstance(orphan, wire.Tattach):
            new_fid, created = orphan.fid, isinstance(reply, wire.Rattach)
        else:
            return
        if not created or self._closed is not None:
            self._release_fid(new_fid)
        else:
            # The request completed before the flush: undo the fid it created on the server.
            try:
                if self._nursery is not None:
                    self._nursery.start_soon(self._clunk_orphan, new_fid)
                else:
                    trio.lowlevel.spawn_system_task(self._clunk_orphan, new_fid)
            except RuntimeError:  # the nursery is closing: so is this connection
                logger.debug("fid %d left to the connection's end", new_fid)

    async def _clunk_orphan(self, fid: int) -> None:
        try:
            await self._rpc(wire.Rclunk, wire.Tclunk, fid=fid)
        except RemoteError as exc:
            logger.debug("clunk of flushed fid %d: %s", fid, exc)
        finally:
            self._release_fid(fid)

    # -- fids ------------------------------------------------------------------------------------

    def _alloc_fid(self) -> int:
        if self._free_fids:
            return self._free_fids.pop()
        self._next_fid += 1
        return self._next_fid - 1

    def _release_fid(self, fid: int) -> None:
        self._free_fids.append(fid)

    async def _new_fid_call(
        self, new_fid: int, expect: type[_M], cls: Callable[..., Message], /, **kw: Any
    ) -> _M:
        """A request that makes ``new_fid`` live on the server; released if it did not."""
        try:
            return await self._rpc(expect, cls, **kw)
        except trio.Cancelled:
            raise  # fid ownership went to the flush (clunked there if the request succeeded)
        except BaseException:
            self._release_fid(new_fid)
            raise
