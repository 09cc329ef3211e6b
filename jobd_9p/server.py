"""Thin trio glue around ``Session``: listeners, one read loop per connection, one task per request.

Rules this module keeps:
1. Each connection has one ``Session``, one ``wire.Decoder`` and one writer task. Requests run in
   their own tasks (many outstanding tags) and queue their encoded replies; the writer sends all
   that is queued in one ``send_all`` (replies that complete together cost one system call).
   Tversion runs alone, after aborting every outstanding request, and switches the decoder to the
   negotiated dialect and msize.
2. A request's tag is freed before its reply is sent (the client may reuse it at once). A tag
   already in flight is answered with an error and not run.
3. Tflush cancels the flushed request's cancel scope and waits for that request to finish; its
   reply is suppressed, and Rflush is sent only afterwards, so no reply ever follows its Rflush.
   Requests that change state are the exception: they complete (see ``_MUTATIONS``).
4. A malformed frame closes that one connection (logged as a warning). Disconnection cancels the
   connection's reads, lets its mutations finish, and clunks its fids. Nothing a connection does
   stops the server.
5. Limits (``_limits.Limits``) end or slow one connection only: peers outside ``--allow`` and
   connections beyond the maximum are closed at accept; reading pauses at the outstanding-request
   limit; a client whose unread replies pass the send bound, whose frame never completes, or
   (optionally) that stays idle is cut off. Each is logged once per connection.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import trio

from jobd_core import Metrics, metrics_of

from . import wire
from ._access import AllowList
from ._limits import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_OUTSTANDING, Limits, RefusalLog
from ._listeners import (
    Listener,
    is_wildcard,
    listener_address,
    open_listeners,
    parse_fsaddr,
)
from .errors import errno_reply, error_reply
from .session import DEFAULT_MAX_MSIZE, NamespaceLike, Session

logger = logging.getLogger(__name__)
trace_log = logging.getLogger("jobd_9p.trace")

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_OUTSTANDING",
    "Limits",
    "is_wildcard",
    "listener_address",
    "open_listeners",
    "parse_fsaddr",
    "serve_9p",
    "serve_connection",
]

RECEIVE_SIZE = 256 * 1024
_ACCEPT_RETRY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


# ----------------------------------------------------------------------------------- serving
async def serve_9p(
    namespace: NamespaceLike,
    listeners: Sequence[Listener],
    *,
    max_msize: int = DEFAULT_MAX_MSIZE,
    debug: bool = False,
    max_connections: int | None = None,
    max_outstanding: int | None = None,
    limits: Limits | None = None,
    allow: AllowList | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve 9P on ``listeners`` until cancelled; ``task_status.started`` gets their addresses.

    Args:
        namespace: the core's namespace (served to every connection).
        max_msize: the largest msize agreed to in Tversion.
        debug: trace every message in and out on the ``jobd_9p.trace`` logger (DEBUG).
        max_connections: connections beyond this are closed at once (logged); overrides
            ``limits``.
        max_outstanding: requests in flight per connection before reading pauses; overrides
            ``limits``.
        limits: every limit (``Limits``: connections, fids, outstanding requests, unread
            replies, frame and idle timeouts); default ``Limits()``.
        allow: TCP peers outside these networks are closed at accept (logged); None: anyone.

    Raises:
        OSError: only for listener failures other than the transient accept errors.
    """
    limits = _with_overrides(limits or Limits(), max_connections, max_outstanding)
    limit = trio.CapacityLimiter(limits.max_connections)
    options = _Options(max_msize, debug, limits, allow)
    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(_accept_loop, listener, nursery, limit, namespace, options)
        task_status.started([listener_address(listener) for listener in listeners])


def _with_overrides(limits: Limits, connections: int | None, outstanding: int | None) -> Limits:
    if connections is not None:
        limits = dataclasses.replace(limits, max_connections=connections)
    if outstanding is not None:
        limits = dataclasses.replace(limits, max_outstanding=outstanding)
    return limits


@dataclass(frozen=True)
class _Options:
    max_msize: int
    debug: bool
    limits: Limits
    allow: AllowList | None


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
            if not _allowed(stream, options.allow):
                metrics_of(namespace).connection_refused("allow")
                await trio.aclose_forcefully(stream)
                continue
            if limit.available_tokens == 0:
                logger.warning("connection refused: %d connections already open",
                               limit.total_tokens)  # fmt: skip
                metrics_of(namespace).connection_refused("limit")
                await trio.aclose_forcefully(stream)
                continue
            limit.acquire_on_behalf_of_nowait(stream)
            nursery.start_soon(_serve_limited, stream, limit, namespace, options)


def _allowed(stream: trio.abc.Stream, allow: AllowList | None) -> bool:
    """Whether ``allow`` admits the peer of ``stream``; a refused peer is logged and closed."""
    if allow is None or not isinstance(stream, trio.SocketStream):
        return True
    if stream.socket.family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets: the socket file's mode decides
    try:
        host = stream.socket.getpeername()[0]
    except OSError:
        host = "?"
    if allow.permits(host):
        return True
    logger.warning("connection from %s refused: not in --allow %s", host, allow,
                   extra={"peer": host})  # fmt: skip
    return False


async def _serve_limited(
    stream: trio.abc.Stream, limit: trio.CapacityLimiter, namespace: NamespaceLike,
    options: _Options,
) -> None:  # fmt: skip
    try:
        await serve_connection(namespace, stream, max_msize=options.max_msize,
                               debug=options.debug, limits=options.limits)
    finally:
        limit.release_on_behalf_of(stream)


async def serve_connection(
    namespace: NamespaceLike,
    stream: trio.abc.Stream,
    *,
    max_msize: int = DEFAULT_MAX_MSIZE,
    debug: bool = False,
    max_outstanding: int | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve one connection until the peer leaves, sends a malformed frame or passes a limit
    that ends it (``Limits``: unread replies, frame and idle timeouts); closes ``stream``.

    Never raises (except cancellation): a failure is logged and ends this connection only.
    """
    limits = _with_overrides(limits or Limits(), None, max_outstanding)
    metrics = metrics_of(namespace)
    refusals = RefusalLog(_peer_name(stream), count=metrics.limit_refused)
    session = Session(namespace, max_msize=max_msize, max_fids=limits.max_fids,
                      refusals=refusals)  # fmt: skip
    conn = _Connection(stream, session, debug, limits, refusals, metrics=metrics)
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
        self, stream: trio.abc.Stream, session: Session, debug: bool, limits: Limits,
        refusals: RefusalLog, metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics if metrics is not None else Metrics()  # requests, errors, conns
        self.stream = stream
        self.session = session
        self.debug = debug
        self.peer = _peer_name(stream)
        self._decoder = wire.Decoder(wire.Dialect.P9P2000, session.max_msize)
        self._outbox: list[bytes] = []  # encoded replies, in order, not yet given to the writer
        self._outbox_ready = trio.Event()
        self._cut_off = False  # past the send bound: closing, further replies are dropped
        self._inflight: dict[int, _Request] = {}
        self._slots = trio.Semaphore(limits.max_outstanding)
        self._nursery: trio.Nursery | None = None
        self.limits = limits
        self.refusals = refusals
        self._queued = 0  # bytes of replies queued or being sent, not yet taken by the kernel
        self._frame_started: float | None = None  # when the partial frame buffered began
        self._last_activity = trio.current_time()

    async def run(self) -> None:
        logger.info("9P connection from %s", self.peer)
        self.metrics.connection_opened()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._writer)
                await self._read_loop()
                nursery.cancel_scope.cancel()  # the peer is gone: abort what it asked for
        finally:
            with trio.CancelScope(shield=True):
                await self.session.close()
                await trio.aclose_forcefully(self.stream)
            logger.info("9P connection from %s closed", self.peer)
            self.metrics.connection_closed()

    async def _read_loop(self) -> None:
        while True:
            with trio.move_on_at(self._read_deadline()) as waiting:
                try:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
            if waiting.cancelled_caught:
                if self._timed_out():
                    return
                continue
            if not data:
                return
            self._last_activity = received = trio.current_time()
            self._decoder.feed(data)
            decoded = False
            while True:
                try:
                    msg = self._decoder.next_message()
                except wire.ProtocolError as exc:
                    logger.warning("closing 9P connection from %s: %s", self.peer, exc)
                    return
                if msg is None:
                    break
                decoded = True
                await self._dispatch(msg)
            if not self._decoder.buffered:
                self._frame_started = None
            elif decoded or self._frame_started is None:
                self._frame_started = received  # a new partial frame began in this receive

    def _read_deadline(self) -> float:
        frame_timeout, idle_timeout = self.limits.frame_timeout, self.limits.idle_timeout
        if self._frame_started is not None and frame_timeout is not None:
            return self._frame_started + frame_timeout
        if idle_timeout is not None:
            return self._last_activity + idle_timeout
        return math.inf

    def _timed_out(self) -> bool:
        """At a read deadline: whether the connection ends (a frame that never completed, an
        idle client); logs why."""
        now = trio.current_time()
        if self._frame_started is not None and self.limits.frame_timeout is not None:
            self.refusals.refused("frame", f"closing: a frame still incomplete after "
                                  f"{self.limits.frame_timeout:g} s "
                                  f"({self._decoder.buffered} bytes of it received)")  # fmt: skip
            return True
        if self._inflight:  # working for the client is not idleness
            self._last_activity = now
            return False
        logger.info("closing 9P connection from %s: idle for %g s", self.peer,
                    self.limits.idle_timeout)  # fmt: skip
        return True

    async def _dispatch(self, msg: wire.Message) -> None:
        if self.debug:
            trace_log.debug("%s <- %s", self.peer, brief(msg))
        self.metrics.request_9p(type(msg).__name__)
        if isinstance(msg, wire.Tversion):
            await self._version(msg)
            return
        if msg.tag in self._inflight:
            reply = errno_reply(msg.tag, f"tag {msg.tag} already in use", errno.EBADF,
                                self.session.dialect)  # fmt: skip
            self._count_error(msg, reply)
            await self._send(reply)
            return
        request = _Request(msg.tag, mutation=isinstance(msg, _MUTATIONS))
        if not isinstance(msg, wire.Tflush):  # flushes must get through a full connection
            if self._slots.value == 0:
                self.refusals.refused("outstanding", f"{self.limits.max_outstanding} requests "
                                      "in flight: reading paused until one completes")  # fmt: skip
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
        self._count_error(msg, reply)
        if self.session.dialect is not None:
            self._decoder.dialect = self.session.dialect
        self._decoder.max_size = self.session.msize
        await self._send(reply)

    async def _run_request(self, msg: wire.Message, request: _Request) -> None:
        try:
            reply: wire.Message | None = None
            with request.scope:
                if isinstance(msg, wire.Tflush):
                    await self._flush_target(msg.oldtag, request)
                reply = await self.session.handle(msg)
            self._count_error(msg, reply)
            if reply is None or request.flushed:
                return
            await self._send(reply, request)
        finally:
            self._last_activity = trio.current_time()
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

    def _count_error(self, msg: wire.Message, reply: wire.Message | None) -> None:
        if isinstance(reply, wire.Rerror | wire.Rlerror):
            self.metrics.error_9p(type(msg).__name__)

    def _free(self, request: _Request) -> None:
        if self._inflight.get(request.tag) is request:
            del self._inflight[request.tag]

    async def _send(self, reply: wire.Message, request: _Request | None = None) -> None:
        """Queue ``reply`` for the writer (dropped if ``request`` was flushed; its tag is freed
        first). A client whose unread replies pass ``max_send_buffer`` is cut off."""
        if request is not None:
            if request.flushed:
                return
            self._free(request)
        if self._cut_off:
            return
        reply, data = self._encode(reply)
        if self._queued and self._queued + len(data) > self.limits.max_send_buffer:
            self.refusals.refused("send-buffer", f"closing: the client does not read its replies "
                                  f"({self._queued} bytes waiting, limit "
                                  f"{self.limits.max_send_buffer})")  # fmt: skip
            self._cut_off = True
            self._close_soon()
            return
        if self.debug:
            trace_log.debug("%s -> %s", self.peer, brief(reply))
        self._queued += len(data)
        self._outbox.append(data)
        self._outbox_ready.set()

    async def _writer(self) -> None:
        """Send the queued replies, everything queued at once, until the connection ends."""
        while True:
            await self._outbox_ready.wait()
            self._outbox_ready = trio.Event()
            batch, self._outbox = self._outbox, []
            data = batch[0] if len(batch) == 1 else b"".join(batch)
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._close_soon()
                return
            finally:
                self._queued -= len(data)

    def _encode(self, reply: wire.Message) -> tuple[wire.Message, bytes]:
        dialect = self.session.dialect or wire.Dialect.P9P2000
        try:
            return reply, wire.encode(reply, dialect)
        except ValueError:  # ProtocolError is a ValueError too: a reply we cannot encode is a bug
            logger.exception("cannot encode reply %s", brief(reply))
            reply = error_reply(reply.tag, RuntimeError("unencodable reply"), dialect)
            return reply, wire.encode(reply, dialect)

    def _close_soon(self) -> None:
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
