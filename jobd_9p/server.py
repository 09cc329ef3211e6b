"""Thin trio glue around ``Session``: listeners, one read loop per connection, one task per request.

Rules this module keeps:
1. Each connection has one ``Session``, one ``wire.Decoder`` and one send lock. Requests run in
   their own tasks (many outstanding tags); Tversion runs alone, after aborting every outstanding
   request, and switches the decoder to the negotiated dialect and msize.
2. A request's tag is freed before its reply is sent (the client may reuse it at once). A tag
   already in flight is answered with an error and not run.
3. Tflush cancels the flushed request's cancel scope and waits for that request to finish; its
   reply is suppressed, and Rflush is sent only afterwards, so no reply ever follows its Rflush.
   Requests that change state are the exception: they complete (see ``_MUTATIONS``).
4. A malformed frame closes that one connection (logged as a warning). Disconnection cancels the
   connection's reads, lets its mutations finish, and clunks its fids. Nothing a connection does
   stops the server.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import trio

from . import wire
from .errors import errno_reply, error_reply
from .session import DEFAULT_MAX_MSIZE, NamespaceLike, Session

logger = logging.getLogger(__name__)
trace_log = logging.getLogger("jobd_9p.trace")

DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_OUTSTANDING = 128  # requests in flight per connection; reading pauses beyond
RECEIVE_SIZE = 256 * 1024
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}

Listener = trio.abc.Listener[trio.abc.Stream]


# ------------------------------------------------------------------------------- listeners
def parse_fsaddr(fsaddr: str) -> tuple[str, int] | str:
    """``host:port`` / ``[v6]:port`` -> (host, port); ``unix:PATH`` -> PATH.

    Raises:
        ValueError: not an address of either form.
    """
    if fsaddr.startswith("unix:"):
        path = fsaddr[len("unix:") :]
        if not path:
            raise ValueError("unix: address needs a path")
        return path
    host, sep, port = fsaddr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad address {fsaddr!r}: expected HOST:PORT or unix:PATH")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, int(port)


def is_wildcard(fsaddr: str) -> bool:
    """Whether ``fsaddr`` listens on every interface (anyone reaching the port runs commands)."""
    parsed = parse_fsaddr(fsaddr)
    return not isinstance(parsed, str) and parsed[0] in ("", "0.0.0.0", "::", "*")


async def open_listeners(fsaddr: str) -> list[trio.SocketListener]:
    """Open the listening sockets for ``fsaddr`` (``HOST:PORT``, port 0 = any; ``unix:PATH``).

    Raises:
        ValueError: a malformed address.
        OSError: the address cannot be bound.
    """
    parsed = parse_fsaddr(fsaddr)
    if isinstance(parsed, str):
        return [await _open_unix_listener(parsed)]
    host, port = parsed
    return await trio.open_tcp_listeners(port, host=None if host in ("", "*") else host)


async def _open_unix_listener(path: str) -> trio.SocketListener:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket of an earlier run
    except FileNotFoundError:
        pass
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await sock.bind(path)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


def listener_address(listener: Listener) -> str:
    """The address a listener is bound to, as ``--fsaddr`` spells it (``host:port``, ``unix:P``)."""
    if not isinstance(listener, trio.SocketListener):
        return repr(listener)
    name = listener.socket.getsockname()
    if listener.socket.family == socket.AF_UNIX:
        return f"unix:{name}"
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ----------------------------------------------------------------------------------- serving
async def serve_9p(
    namespace: NamespaceLike,
    listeners: Sequence[Listener],
    *,
    max_msize: int = DEFAULT_MAX_MSIZE,
    debug: bool = False,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve 9P on ``listeners`` until cancelled; ``task_status.started`` gets their addresses.

    Args:
        namespace: the core's namespace (served to every connection).
        max_msize: the largest msize agreed to in Tversion.
        debug: trace every message in and out on the ``jobd_9p.trace`` logger (DEBUG).
        max_connections: connections beyond this are closed at once (logged).
        max_outstanding: requests in flight per connection before reading pauses.

    Raises:
        OSError: only for listener failures other than the transient accept errors.
    """
    limit = trio.CapacityLimiter(max_connections)
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, nursery, limit, namespace,
                               _Options(max_msize, debug, max_outstanding))  # fmt: skip
        task_status.started([listener_address(listener) for listener in listeners])


@dataclass(frozen=True)
class _Options:
    max_msize: int
    debug: bool
    max_outstanding: int


async def _accept_loop(
    listener: Listener, nursery: trio.Nursery, limit: trio.CapacityLimiter,
    namespace: NamespaceLike, options: _Options,
) -> None:  # fmt: skip
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                    raise
                logger.warning("accept failed (%s); retrying", exc)
                await trio.sleep(0.1)
                continue
            if limit.available_tokens == 0:
                logger.warning("connection refused: %d connections already open",
                               limit.total_tokens)  # fmt: skip
                await trio.aclose_forcefully(stream)
                continue
            limit.acquire_on_behalf_of_nowait(stream)
            nursery.start_soon(_serve_limited, stream, limit, namespace, options)


async def _serve_limited(
    stream: trio.abc.Stream, limit: trio.CapacityLimiter, namespace: NamespaceLike,
    options: _Options,
) -> None:  # fmt: skip
    try:
        await serve_connection(namespace, stream, max_msize=options.max_msize,
                               debug=options.debug, max_outstanding=options.max_outstanding)
    finally:
        limit.release_on_behalf_of(stream)


async def serve_connection(
    namespace: NamespaceLike,
    stream: trio.abc.Stream,
    *,
    max_msize: int = DEFAULT_MAX_MSIZE,
    debug: bool = False,
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
) -> None:
    """Serve one connection until the peer leaves or sends a malformed frame; closes ``stream``.

    Never raises (except cancellation): a failure is logged and ends this connection only.
    """
    conn = _Connection(stream, Session(namespace, max_msize=max_msize), debug, max_outstanding)
    try:
        await conn.run()
    except Exception:
        logger.exception("connection %s failed", conn.peer)


# Requests that change state are not cancelled by Tflush, Tversion or a disconnect: they run to
# completion (bounded by MUTATION_TIMEOUT) and only their reply is dropped, so a client's Ctrl-C
# never leaves a job half created or half deleted. flush(5) allows answering the flush after the
# flushed request completed; reads and everything else are cancelled at once.
_MUTATIONS = (wire.Twrite, wire.Tremove, wire.Tunlinkat, wire.Twstat, wire.Tsetattr, wire.Tclunk,
              wire.Tcreate, wire.Tlcreate, wire.Tmkdir)  # fmt: skip
MUTATION_TIMEOUT = 60.0


@dataclass(eq=False)
class _Request:
    tag: int
    mutation: bool = False
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    flushed: bool = False
    counted: bool = False

    def __post_init__(self) -> None:
        if self.mutation:
            self.scope.shield = True
            self.scope.relative_deadline = MUTATION_TIMEOUT

    def abort(self) -> None:
        """Tflush/Tversion: the reply is dropped; the work is cancelled unless it mutates."""
        self.flushed = True
        if not self.mutation:
            self.scope.cancel()


class _Connection:
    def __init__(
        self, stream: trio.abc.Stream, session: Session, debug: bool, max_outstanding: int
    ) -> None:
        self.stream = stream
        self.session = session
        self.debug = debug
        self.peer = _peer_name(stream)
        self._decoder = wire.Decoder(wire.Dialect.P9P2000, session.max_msize)
        self._send_lock = trio.Lock()
        self._inflight: dict[int, _Request] = {}
        self._slots = trio.Semaphore(max_outstanding)
        self._nursery: trio.Nursery | None = None

    async def run(self) -> None:
        logger.info("9P connection from %s", self.peer)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self._read_loop()
                nursery.cancel_scope.cancel()  # the peer is gone: abort what it asked for
        finally:
            with trio.CancelScope(shield=True):
                await self.session.close()
                await trio.aclose_forcefully(self.stream)
            logger.info("9P connection from %s closed", self.peer)

    async def _read_loop(self) -> None:
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            self._decoder.feed(data)
            while True:
                try:
                    msg = self._decoder.next_message()
                except wire.ProtocolError as exc:
                    logger.warning("closing 9P connection from %s: %s", self.peer, exc)
                    return
                if msg is None:
                    break
                await self._dispatch(msg)

    async def _dispatch(self, msg: wire.Message) -> None:
        if self.debug:
            trace_log.debug("%s <- %s", self.peer, brief(msg))
        if isinstance(msg, wire.Tversion):
            await self._version(msg)
            return
        if msg.tag in self._inflight:
            reply = errno_reply(msg.tag, f"tag {msg.tag} already in use", errno.EBADF,
                                self.session.dialect)  # fmt: skip
            async with self._send_lock:
                await self._send_locked(reply)
            return
        request = _Request(msg.tag, mutation=isinstance(msg, _MUTATIONS))
        if not isinstance(msg, wire.Tflush):  # flushes must get through a full connection
            await self._slots.acquire()
            request.counted = True
        self._inflight[msg.tag] = request
        assert self._nursery is not None
        self._nursery.start_soon(self._run_request, msg, request)

    async def _version(self, msg: wire.Tversion) -> None:
        for request in list(self._inflight.values()):  # version(5): outstanding I/O is aborted
            request.abort()
        for request in list(self._inflight.values()):
            await request.done.wait()
        reply = await self.session.handle(msg)
        if self.session.dialect is not None:
            self._decoder.dialect = self.session.dialect
        self._decoder.max_size = self.session.msize
        async with self._send_lock:
            await self._send_locked(reply)

    async def _run_request(self, msg: wire.Message, request: _Request) -> None:
        try:
            reply: wire.Message | None = None
            with request.scope:
                if isinstance(msg, wire.Tflush):
                    await self._flush_target(msg.oldtag, request)
                reply = await self.session.handle(msg)
            if reply is None or request.flushed:
                return
            async with self._send_lock:
                if request.flushed:
                    return
                self._free(request)
                await self._send_locked(reply)
        finally:
            self._free(request)
            request.done.set()
            if request.counted:
                self._slots.release()

    async def _flush_target(self, oldtag: int, flush: _Request) -> None:
        target = self._inflight.get(oldtag)
        if target is None or target is flush:
            return
        target.abort()
        await target.done.wait()

    def _free(self, request: _Request) -> None:
        if self._inflight.get(request.tag) is request:
            del self._inflight[request.tag]

    async def _send_locked(self, reply: wire.Message) -> None:
        dialect = self.session.dialect or wire.Dialect.P9P2000
        try:
            data = wire.encode(reply, dialect)
        except ValueError:  # ProtocolError is a ValueError too: a reply we cannot encode is a bug
            logger.exception("cannot encode reply %s", brief(reply))
            reply = error_reply(reply.tag, RuntimeError("unencodable reply"), dialect)
            data = wire.encode(reply, dialect)
        if self.debug:
            trace_log.debug("%s -> %s", self.peer, brief(reply))
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()


def _peer_name(stream: trio.abc.Stream) -> str:
    if isinstance(stream, trio.SocketStream):
        try:
            name = stream.socket.getpeername()
        except OSError:
            return "?"
        if isinstance(name, tuple):
            return f"{name[0]}:{name[1]}"
        return f"unix:{name or '?'}"
    return type(stream).__name__


def brief(msg: wire.Message) -> str:
    """A one-line rendering of ``msg`` for traces: long data fields are shortened."""
    parts = []
    for f in fields(msg):  # type: ignore[arg-type]
        value = getattr(msg, f.name)
        if isinstance(value, bytes) and len(value) > 48:
            rendered = f"<{len(value)} bytes: {value[:32]!r}...>"
        else:
            rendered = repr(value)
        parts.append(f"{f.name}={rendered}")
    return f"{type(msg).__name__}({', '.join(parts)})"
