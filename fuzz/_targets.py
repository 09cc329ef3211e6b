"""The fuzz targets, callable with or without atheris (CI replays ``fuzz/corpus/`` through them).

- ``check_wire(data)``: the decoder. Only ``ProtocolError`` may escape ``wire.decode`` and
  ``wire.Decoder``; what decodes re-encodes and decodes to the same message; feeding a stream
  whole or in pieces gives the same messages and the same failure.
- ``SessionTarget.check_server(data)``: raw bytes into a real server connection (memory
  streams): it ends once the peer leaves, raises nothing, logs no ERROR, and its replies decode.
- ``SessionTarget.check(data)``: a ``Session`` over a real core (in a trio loop on a background
  thread) answers every request decoded from ``data`` with exactly one valid reply: same tag, the
  request's R-message or the dialect's error, encodable in the dialect and within msize. No
  exception escapes; nothing is logged at ERROR (the session's "unexpected failure" path).
  Between inputs the core is put back (jobs created by the input are deleted).

Any violation raises ``AssertionError`` (a crash to the fuzzer, a failure to pytest).
"""

from __future__ import annotations

import logging
import struct
import tempfile
import threading
from functools import partial
from pathlib import Path
from types import TracebackType

import trio
import trio.testing

from jobd_9p import wire
from jobd_9p.server import Limits, serve_connection
from jobd_9p.session import MIN_MSIZE, Session
from jobd_core import Core, CoreConfig, open_core

from ._ops import Reader, requests

DIALECTS = (wire.Dialect.P9P2000, wire.Dialect.U, wire.Dialect.L)
MAX_MSIZE = 8192 + wire.IOHDRSZ
_SERVER_LIMITS = Limits(max_fids=16, max_outstanding=8)


# ----------------------------------------------------------------------------------------- wire
def check_wire(data: bytes) -> None:
    """The decoder invariants for one input (its first byte picks the dialect and the split)."""
    if not data:
        return
    dialect = DIALECTS[data[0] % 3]
    step = 1 + data[0] // 3 % 7
    body = data[1:]
    try:
        msg = wire.decode(body, dialect)
    except wire.ProtocolError:
        pass
    else:
        assert wire.decode(wire.encode(msg, dialect), dialect) == msg
    whole = _stream(body, dialect, len(body) or 1)
    pieces = _stream(body, dialect, step)
    assert whole == pieces, (whole, pieces)


def _stream(data: bytes, dialect: wire.Dialect, step: int) -> tuple[list[wire.Message], str]:
    decoder = wire.Decoder(dialect, 1 << 16)
    out: list[wire.Message] = []
    try:
        for i in range(0, len(data), step):
            decoder.feed(data[i : i + step])
            while (msg := decoder.next_message()) is not None:
                out.append(msg)
    except wire.ProtocolError:
        # text and tag may differ: an oversized frame is refused as soon as its size field is
        # in, before its tag arrives when fed in pieces
        return out, "error"
    return out, f"left {decoder.buffered}"


# -------------------------------------------------------------------------------------- session
class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class SessionTarget:
    """A real core on a background trio thread, and ``check(data)`` to run one input against a
    fresh session over it. Use as a context manager (or call ``close``)."""

    def __init__(self, dbdir: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="jobd-fuzz-", dir=_fast_tmp())
        self._dbdir = dbdir or Path(self._tmp.name) / "db"
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._core: Core | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._errors = _ErrorRecords()
        self._thread = threading.Thread(target=self._thread_main, name="fuzz-core", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise RuntimeError("the fuzz core did not start") from self._failure
        logging.getLogger().addHandler(self._errors)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        # Jobs run /bin/true whatever their command says: fuzz inputs must not run shell code.
        config = CoreConfig(dbdir=self._dbdir, shutdown_grace=0.2, shell="/bin/true", max_jobs=8)
        async with open_core(config) as core:
            self._core = core
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()

    def check(self, data: bytes) -> None:
        """Run one input; raises AssertionError when an invariant breaks."""
        assert self._token is not None
        self._errors.records.clear()
        trio.from_thread.run(self._check, data, trio_token=self._token)
        assert not self._errors.records, [r.getMessage() for r in self._errors.records]

    async def _check(self, data: bytes) -> None:
        assert self._core is not None
        core = self._core
        r = Reader(data[:1])
        dialect = DIALECTS[r.byte() % 3]
        session = Session(core.namespace, max_msize=MAX_MSIZE, max_fids=16)
        try:
            opening = (wire.Tversion(tag=wire.NOTAG, msize=MAX_MSIZE, version=dialect.value),
                       wire.Tattach(tag=0, fid=0, afid=wire.NOFID, uname="", aname=""))
            for msg in opening:
                check_reply(msg, await session.handle(msg), session)
            for msg in requests(data[1:], dialect):
                check_reply(msg, await session.handle(msg), session)
                dialect = session.dialect or dialect
        finally:
            await session.close()
            for entry in list(core.registry):  # back to an empty core for the next input
                await core.registry.delete(entry)

    def check_server(self, data: bytes) -> None:
        """Raw bytes (after a valid Tversion and Tattach) into a real server connection: it ends
        by itself once the peer is gone, raises nothing, logs no ERROR, and every reply it sent
        decodes. Raises AssertionError otherwise."""
        assert self._token is not None
        self._errors.records.clear()
        trio.from_thread.run(self._check_server, data, trio_token=self._token)
        assert not self._errors.records, [r.getMessage() for r in self._errors.records]

    async def _check_server(self, data: bytes) -> None:
        assert self._core is not None
        dialect = DIALECTS[data[0] % 3] if data else wire.Dialect.L
        opening = wire.encode(wire.Tversion(tag=wire.NOTAG, msize=MAX_MSIZE,
                                            version=dialect.value), dialect) + wire.encode(
            wire.Tattach(tag=0, fid=0, afid=wire.NOFID, uname="", aname=""), dialect)
        client, server = trio.testing.memory_stream_pair()
        replies = bytearray()

        async def drain() -> None:
            while chunk := await client.receive_some():
                replies.extend(chunk)

        with trio.fail_after(20):  # a connection that never ends is a failure too
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(serve_connection, self._core.namespace, server,
                                           max_msize=MAX_MSIZE, limits=_SERVER_LIMITS))
                nursery.start_soon(drain)
                await client.send_all(opening + frames(data[1:]))
                await trio.testing.wait_all_tasks_blocked()
                await client.send_stream.aclose()  # the peer goes away
        for entry in list(self._core.registry):
            await self._core.registry.delete(entry)
        # Each reply frame decodes in some dialect: after a failed or repeated Tversion the
        # server rightly answers in 9P2000 or the newly agreed dialect.
        data, pos, first = bytes(replies), 0, True
        while pos < len(data):
            assert len(data) - pos >= 4, "a reply frame was cut short"
            size = int.from_bytes(data[pos : pos + 4], "little")
            assert len(data) - pos >= size, "a reply frame was cut short"
            frame, pos = data[pos : pos + size], pos + size
            decoded = [_decodes(frame, d) for d in (dialect, *DIALECTS)]
            assert any(decoded), frame
            assert not first or isinstance(next(m for m in decoded if m), wire.Rversion)
            first = False

    def close(self) -> None:
        """Stop the core and its thread."""
        logging.getLogger().removeHandler(self._errors)
        if self._token is not None and self._stop is not None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)
        self._tmp.cleanup()

    def __enter__(self) -> SessionTarget:
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _decodes(frame: bytes, dialect: wire.Dialect) -> wire.Message | None:
    try:
        return wire.decode(frame, dialect)
    except wire.ProtocolError:
        return None


def frames(data: bytes) -> bytes:
    """Fuzz input -> 9P frames with true size fields (so the fuzzer reaches every message body
    decoder); a type byte of 0 passes a raw chunk through instead (framing errors)."""
    r = Reader(data)
    out = bytearray()
    while r.left:
        typ, tag = r.byte(), r.byte() % 4
        body = r.take(255)
        if typ == 0:
            out += body
        else:
            out += struct.pack("<IBH", wire.HEADER_SIZE + len(body), typ, tag) + body
    return bytes(out)


def check_reply(request: wire.Message, reply: wire.Message | None, session: Session) -> None:
    """The invariants of one reply to ``request`` from ``session`` (after it handled it)."""
    assert reply is not None, request
    assert reply.tag == request.tag, (request, reply)
    name = type(reply).__name__
    dialect = session.dialect
    if isinstance(reply, wire.Rlerror):
        assert dialect is wire.Dialect.L and reply.ecode > 0, (request, reply)
    elif isinstance(reply, wire.Rerror):
        assert dialect is not wire.Dialect.L and reply.ename, (request, reply)
        assert dialect is not wire.Dialect.U or reply.errno > 0, (request, reply)
    else:
        assert name == "R" + type(request).__name__[1:], (request, reply)
    if isinstance(reply, wire.Rversion):
        assert reply.version in {d.value for d in wire.Dialect} | {"unknown"}, reply
        assert MIN_MSIZE <= reply.msize <= MAX_MSIZE, reply
    d = dialect or wire.Dialect.P9P2000
    encoded = wire.encode(reply, d)
    assert len(encoded) <= session.msize, (request, type(reply).__name__, len(encoded))
    assert wire.encode(wire.decode(encoded, d), d) == encoded, (request, reply)


def _fast_tmp() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
