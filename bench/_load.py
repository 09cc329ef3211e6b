"""The load generator: a lean pipelining 9P2000.L client on raw sockets and ``jobd_9p.wire``.

It runs in its own process (``python3 -m bench._load JSON``, the result as JSON on stdout) so
the server under test never shares an interpreter with it. One thread drives every connection
with ``selectors``; each connection keeps ``depth`` cycles in flight (one tag and fid per slot),
each cycle being a short chain of requests on one fid (walk, open, read/write, clunk). Frames are
encoded with ``jobd_9p.wire`` once per slot where they do not change, replies are checked by
their header only (type and tag), so the client spends little CPU per request; it reports its
CPU time so a reader can see whether it was the bottleneck.

Kinds of cycle:
- ``read``: Twalk root->path, Tlopen O_RDONLY, Tread, Tclunk (measurement #1);
- ``create``: Twalk root->clone, Tlopen O_WRONLY, Twrite "NAME:SCHEDULE:COMMAND", Tclunk (#6);
- ``stream``: one fid, Treads at increasing offsets, ``depth`` in flight, until the end (#7).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobd_9p import wire
from jobd_9p.wire import Dialect

D = Dialect.L
ROOT_FID = 0
_HDR = 7
_RLERROR = wire.Rlerror.TYPE


class LoadError(RuntimeError):
    """The server answered an error or closed the connection."""


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _call(sock: socket.socket, msg: wire.Message) -> wire.Message:
    """One blocking request/reply (set-up only)."""
    sock.sendall(wire.encode(msg, D))
    head = _recv_exact(sock, 4)
    body = _recv_exact(sock, int.from_bytes(head, "little") - 4)
    reply = wire.decode(head + body, D)
    if isinstance(reply, wire.Rlerror):
        raise LoadError(f"{type(msg).__name__}: errno {reply.ecode}")
    return reply


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        data = sock.recv(n)
        if not data:
            raise LoadError("connection closed")
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def connect(addr: str, aname: str, msize: int) -> socket.socket:
    """Connect, negotiate 9P2000.L and attach fid 0 (as root, uid 0)."""
    host, _, port = addr.rpartition(":")
    for attempt in range(40):  # a server just started may not accept yet
        try:
            sock = socket.create_connection((host, int(port)))
            break
        except ConnectionRefusedError as exc:
            if attempt == 39:
                raise LoadError(f"{addr}: connection refused") from exc
            time.sleep(0.05)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _call(sock, wire.Tversion(wire.NOTAG, msize, D.value))
    _call(sock, wire.Tattach(1, ROOT_FID, wire.NOFID, "root", aname, 0))
    return sock


@dataclass
class _Conn:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    step: dict[int, int] = field(default_factory=dict)  # tag -> index of the request in flight
    frames: dict[int, list[bytes]] = field(default_factory=dict)  # tag -> this cycle's frames
    began: dict[int, int] = field(default_factory=dict)  # tag -> cycle start (ns)


def _read_frames(slot: int, path: list[str], seq: int) -> list[bytes]:
    fid, tag = 10 + slot, 1 + slot
    return [
        wire.encode(m, D)
        for m in (
            wire.Twalk(tag, ROOT_FID, fid, tuple(path)),
            wire.Tlopen(tag, fid, 0),
            wire.Tread(tag, fid, 0, 4096),
            wire.Tclunk(tag, fid),
        )
    ]


def _create_frames(slot: int, prefix: str, seq: int, schedule: str) -> list[bytes]:
    fid, tag = 10 + slot, 1 + slot
    text = f"{prefix}{seq}:{schedule}:true".encode()
    return [
        wire.encode(m, D)
        for m in (
            wire.Twalk(tag, ROOT_FID, fid, ("clone",)),
            wire.Tlopen(tag, fid, 1),
            wire.Twrite(tag, fid, 0, text),
            wire.Tclunk(tag, fid),
        )
    ]


def run_cycles(
    addr: str,
    aname: str,
    *,
    connections: int,
    depth: int,
    seconds: float,
    max_cycles: int,
    make: Callable[[int, int], list[bytes]],
    fixed: bool,
    warmup: float = 0.0,
) -> dict[str, Any]:
    """Drive ``connections`` x ``depth`` cycles until ``seconds`` or ``max_cycles``; return
    counts, latencies (ns) and the client's CPU time.

    Raises:
        LoadError: an error reply or a lost connection.
    """
    sel = selectors.DefaultSelector()
    conns = [_Conn(connect(addr, aname, 64 * 1024)) for _ in range(connections)]
    seq = 0
    cache: dict[int, list[bytes]] = {}

    def begin(c: _Conn, slot: int) -> None:
        nonlocal seq
        tag = 1 + slot
        frames = cache.setdefault(slot, make(slot, 0)) if fixed else make(slot, seq)
        seq += 1
        c.frames[tag], c.step[tag], c.began[tag] = frames, 0, time.perf_counter_ns()
        c.sock.sendall(frames[0])

    for c in conns:
        c.sock.setblocking(True)
        sel.register(c.sock, selectors.EVENT_READ, c)
    t0 = time.perf_counter()
    measuring_from = t0 + warmup
    deadline = measuring_from + seconds
    lat: list[int] = []
    done = 0
    cpu0 = _cpu()
    started = False
    t_start = t0
    wall = cpu = 0.0
    for c in conns:
        for slot in range(depth):
            begin(c, slot)
    outstanding = connections * depth
    stopping_at: float | None = None
    while outstanding:
        now = time.perf_counter()
        if not started and now >= measuring_from:
            started, lat, done, cpu0, t_start = True, [], 0, _cpu(), now
        if stopping_at is None and (now >= deadline or (started and done >= max_cycles)):
            stopping_at = now  # measured; let the cycles in flight finish (fids clunked)
            wall, cpu = now - t_start, _cpu() - cpu0
        if stopping_at is not None and now - stopping_at > 10:
            break
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            data = c.sock.recv(1 << 20)
            if not data:
                raise LoadError("connection closed by the server")
            c.buf += data
            while len(c.buf) >= _HDR:
                size = int.from_bytes(c.buf[0:4], "little")
                if len(c.buf) < size:
                    break
                rtype, tag = c.buf[4], int.from_bytes(c.buf[5:7], "little")
                del c.buf[:size]
                if rtype == _RLERROR:
                    raise LoadError(f"error reply to request {c.step[tag]} of a cycle")
                step = c.step[tag] + 1
                frames = c.frames[tag]
                if step < len(frames):
                    c.step[tag] = step
                    c.sock.sendall(frames[step])
                    continue
                if stopping_at is not None:
                    outstanding -= 1
                    continue
                lat.append(time.perf_counter_ns() - c.began[tag])
                done += 1
                begin(c, tag - 1)
    for c in conns:
        c.sock.close()
    return {"cycles": done, "wall": wall, "cpu": cpu, "lat_ns": lat}


def stream(addr: str, aname: str, path: list[str], *, msize: int, depth: int) -> dict[str, Any]:
    """Read the whole file at ``path`` with ``depth`` Treads in flight; bytes, wall and CPU.

    Raises:
        LoadError: an error reply or a lost connection.
    """
    sock = connect(addr, aname, msize)
    _call(sock, wire.Twalk(1, ROOT_FID, 1, tuple(path)))
    _call(sock, wire.Tlopen(1, 1, 0))
    count = msize - wire.IOHDRSZ
    cpu0, t0 = _cpu(), time.perf_counter()
    offset, total, inflight, eof = 0, 0, 0, False
    buf = bytearray()
    for tag in range(1, depth + 1):
        sock.sendall(wire.encode(wire.Tread(tag, 1, offset, count), D))
        offset += count
        inflight += 1
    while inflight:
        data = sock.recv(4 << 20)
        if not data:
            raise LoadError("connection closed by the server")
        buf += data
        while len(buf) >= _HDR:
            size = int.from_bytes(buf[0:4], "little")
            if len(buf) < size:
                break
            if buf[4] == _RLERROR:
                raise LoadError("error reply to a Tread")
            tag = int.from_bytes(buf[5:7], "little")
            n = int.from_bytes(buf[7:11], "little")
            del buf[:size]
            inflight -= 1
            total += n
            if n < count:
                eof = True
            if not eof:
                sock.sendall(wire.encode(wire.Tread(tag, 1, offset, count), D))
                offset += count
                inflight += 1
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    sock.close()
    return {"bytes": total, "wall": wall, "cpu": cpu}


def list_dir(addr: str, path: list[str], *, repeats: int, walks: list[str]) -> dict[str, Any]:
    """List ``path`` (Treaddir until empty) ``repeats`` times, then walk root->path/NAME and clunk
    for each of ``walks``; per-listing seconds, entries, per-walk seconds, client CPU.

    Raises:
        LoadError: an error reply or a lost connection.
    """
    sock = connect(addr, "", 1 << 20)
    cpu0 = _cpu()
    listings, entries = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        _call(sock, wire.Twalk(1, ROOT_FID, 1, tuple(path)))
        _call(sock, wire.Tlopen(1, 1, wire.P9_DOTL_DIRECTORY))
        offset, entries = 0, 0
        while True:
            reply = _call(sock, wire.Treaddir(1, 1, offset, (1 << 20) - wire.READDIRHDRSZ))
            assert isinstance(reply, wire.Rreaddir)
            if not reply.data:
                break
            batch = wire.decode_dirents(reply.data)
            entries += len(batch)
            offset = batch[-1].offset
        _call(sock, wire.Tclunk(1, 1))
        listings.append(time.perf_counter() - t0)
    walk_times = []
    for name in walks:
        t0 = time.perf_counter()
        _call(sock, wire.Twalk(1, ROOT_FID, 2, (*path, name)))
        _call(sock, wire.Tclunk(1, 2))
        walk_times.append(time.perf_counter() - t0)
    sock.close()
    return {"listings": listings, "entries": entries, "walks": walk_times, "cpu": _cpu() - cpu0}


def file_loop(path: str, seconds: float) -> dict[str, Any]:
    """open/read/close of a local file (through a mount or on tmpfs) for ``seconds``."""
    cpu0, t0 = _cpu(), time.perf_counter()
    deadline, done = t0 + seconds, 0
    while time.perf_counter() < deadline:
        for _ in range(50):
            fd = os.open(path, os.O_RDONLY)
            os.read(fd, 4096)
            os.close(fd)
        done += 50
    return {"cycles": done, "wall": time.perf_counter() - t0, "cpu": _cpu() - cpu0}


def main(argv: list[str]) -> int:
    """``python3 -m bench._load '{"kind": ..., ...}'``: the result as JSON on stdout."""
    spec = json.loads(argv[0])
    kind = spec.pop("kind")
    if kind == "list":
        result = list_dir(spec["addr"], spec["path"], repeats=spec["repeats"], walks=spec["walks"])
    elif kind == "fileloop":
        result = file_loop(spec["path"], spec["seconds"])
    elif kind == "stream":
        result = stream(
            spec["addr"], spec["aname"], spec["path"], msize=spec["msize"], depth=spec["depth"]
        )
    else:
        if kind == "read":
            path = spec.pop("path")
            make: Callable[[int, int], list[bytes]] = lambda s, n: _read_frames(s, path, n)  # noqa: E731
        else:
            prefix, schedule = spec.pop("prefix"), spec.pop("schedule")
            make = lambda s, n: _create_frames(s, prefix, n, schedule)  # noqa: E731
        result = run_cycles(
            spec.pop("addr"), spec.pop("aname"), make=make, fixed=kind == "read", **spec
        )
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
