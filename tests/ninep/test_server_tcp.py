"""The server over TCP (and a unix socket) on loopback with the real core: py9p's client (9P2000)
runs the seed's workflow; garbage, oversized frames and vanishing clients leave others served."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import py9p
import pytest
import trio

from jobd_9p import wire
from jobd_9p.server import listener_address, open_listeners, parse_fsaddr, serve_9p
from jobd_core import CoreConfig, open_core

T = TypeVar("T")


@pytest.fixture
async def address(tmp_path: Path) -> AsyncIterator[str]:
    async with open_core(CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0)) as core, \
            trio.open_nursery() as nursery:  # fmt: skip
        listeners = await open_listeners("127.0.0.1:0")
        addresses = await nursery.start(serve_9p, core.namespace, listeners)
        yield addresses[0]
        nursery.cancel_scope.cancel()


def _hostport(addr: str) -> tuple[str, int]:
    parsed = parse_fsaddr(addr)
    assert not isinstance(parsed, str)
    return parsed


def _connect(addr: str) -> py9p.Client:
    host, port = _hostport(addr)
    client = py9p.Client.connect_tcp(host, port, timeout=10)
    client.negotiate()
    client.attach(0, uname="tester")
    return client


async def in_thread(fn: Callable[[], T]) -> T:
    return await trio.to_thread.run_sync(fn)


def _write(c: py9p.Client, fid: int, path: str, data: bytes) -> None:
    c.walk(0, fid, path)
    try:
        c.open(fid, py9p.OWRITE | py9p.OTRUNC)
        c.write(fid, data)
    finally:
        c.clunk(fid)


def _read_bytes(c: py9p.Client, fid: int, path: str) -> bytes:
    c.walk(0, fid, path)
    try:
        c.open(fid, py9p.OREAD)
        out = b""
        while chunk := c.read(fid, 4096, len(out)):
            out += chunk
        return out
    finally:
        c.clunk(fid)


def _read(c: py9p.Client, fid: int, path: str) -> str:
    return _read_bytes(c, fid, path).decode()


def _ls(c: py9p.Client, fid: int, path: str) -> list[str]:
    return [s.name for s in wire.decode_stats(_read_bytes(c, fid, path), wire.Dialect.P9P2000)]


def _seed(addr: str) -> dict[str, Any]:
    c = _connect(addr)
    try:
        _write(c, 1, "clone", b"hello:0 0/5 * * * ? *:echo hello world")
        out: dict[str, Any] = {"jobs": _ls(c, 2, "jobs"), "files": _ls(c, 2, "jobs/hello")}
        out["cmd"] = _read(c, 3, "jobs/hello/cmd")
        out["schedule"] = _read(c, 3, "jobs/hello/schedule")
        _write(c, 4, "jobs/hello/ctl", b"start\n")
        out["ctl"] = _read(c, 3, "jobs/hello/ctl")
        out["log"] = _read(c, 3, "jobs/hello/log")
        try:
            _write(c, 5, "clone", b"hello:@daily:echo again")
        except py9p.RemoteError as exc:
            out["dup"] = str(exc)
        try:
            _write(c, 5, "jobs/hello/ctl", b"bogus")
        except py9p.RemoteError as exc:
            out["verb"] = str(exc)
        out["partial"] = len(c.walk(0, 6, "jobs/nope"))  # a partial walk is no error
        try:
            c.walk(0, 6, "nope")
        except py9p.RemoteError as exc:
            out["walk"] = str(exc)
        c.walk(0, 7, "jobs/hello")
        c.remove(7)
        out["after_rm"] = _ls(c, 2, "jobs")
        return out
    finally:
        c.close()


async def test_seed_workflow_with_py9p(address: str) -> None:
    out = await in_thread(lambda: _seed(address))
    assert out["jobs"] == ["hello"]
    assert out["files"] == ["ctl", "cmd", "schedule", "log", "status"]
    assert out["cmd"] == "echo hello world\n"
    assert out["schedule"].startswith("0 0/5 * * * ? *\n")
    assert out["ctl"] == "started\n"
    assert out["log"].endswith(":started\n")
    assert out["dup"] == "job exists: hello"
    assert out["verb"].startswith("unknown ctl verb 'bogus'")
    assert "nope" in out["walk"] and out["partial"] == 1
    assert out["after_rm"] == []


def _raw(addr: str) -> socket.socket:
    return socket.create_connection(_hostport(addr), timeout=10)


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        while data := sock.recv(65536):
            del data
        return True
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(
    "payload",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\xff\xff\xff\xff\x64\x00\x00",  # frame larger than msize
        wire.encode(wire.Tversion(tag=0xFFFF, msize=8192, version="9P2000"), wire.Dialect.L)
        + b"\x10\x00\x00\x00\x6c\x01\x00" + b"\x00" * 9,  # a reply type as request... then junk
    ],
)
async def test_bad_clients_do_not_disturb_others(address: str, payload: bytes) -> None:
    def scenario() -> tuple[bool, str]:
        good = _connect(address)
        try:
            bad = _raw(address)
            bad.sendall(payload)
            closed = _closed_by_server(bad)
            bad.close()
            # a client disconnecting mid-request (half a frame, then gone)
            gone = _raw(address)
            gone.sendall(wire.encode(wire.Tversion(tag=0xFFFF, msize=8192, version="9P2000"),
                                     wire.Dialect.P9P2000)[:9])  # fmt: skip
            gone.close()
            _write(good, 1, "clone", b"still:@daily:echo fine")
            return closed, _read(good, 2, "jobs/still/cmd")
        finally:
            good.close()

    closed, cmd = await in_thread(scenario)
    assert closed and cmd == "echo fine\n"


async def test_many_connections_at_once(address: str) -> None:
    def one(i: int) -> str:
        c = _connect(address)
        try:
            _write(c, 1, "clone", f"job{i}:@daily:echo {i}".encode())
            return _read(c, 2, f"jobs/job{i}/cmd")
        finally:
            c.close()

    results: dict[int, str] = {}

    async def run(i: int) -> None:
        results[i] = await in_thread(lambda: one(i))

    async with trio.open_nursery() as nursery:
        for i in range(12):
            nursery.start_soon(run, i)
    assert results == {i: f"echo {i}\n" for i in range(12)}


async def test_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "jobd.sock"
    async with open_core(CoreConfig(dbdir=tmp_path / "db")) as core, \
            trio.open_nursery() as nursery:  # fmt: skip
        listeners = await open_listeners(f"unix:{path}")
        assert listener_address(listeners[0]) == f"unix:{path}"
        await nursery.start(serve_9p, core.namespace, listeners)

        def scenario() -> list[str]:
            c = py9p.Client.connect_unix(str(path))
            try:
                c.negotiate()
                c.attach(0, uname="u")
                return _ls(c, 1, "")
            finally:
                c.close()

        assert await in_thread(scenario) == ["clone", "jobs", "stats"]
        nursery.cancel_scope.cancel()


def test_parse_fsaddr() -> None:
    assert parse_fsaddr("127.0.0.1:5640") == ("127.0.0.1", 5640)
    assert parse_fsaddr("[::1]:0") == ("::1", 0)
    assert parse_fsaddr(":5640") == ("", 5640)
    assert parse_fsaddr("unix:/run/jobd.sock") == "/run/jobd.sock"
    for bad in ("nohost", "h:port", "h:70000", "unix:"):
        with pytest.raises(ValueError):
            parse_fsaddr(bad)


async def test_round_trips_per_second_with_py9p(address: str) -> None:
    """The figure for the report: Tstat round trips on one py9p connection."""

    def bench() -> float:
        c = _connect(address)
        try:
            n = 1000
            start = time.perf_counter()
            for _ in range(n):
                c.stat(0)
            return n / (time.perf_counter() - start)
        finally:
            c.close()

    rate = await in_thread(bench)
    print(f"py9p Tstat round trips/s on one connection: {rate:.0f}")
    assert rate > 100


async def test_connection_limit(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path / "db")) as core, \
            trio.open_nursery() as nursery:  # fmt: skip
        listeners = await open_listeners("127.0.0.1:0")
        addr = (await nursery.start(partial(serve_9p, core.namespace, listeners,
                                            max_connections=1)))[0]  # fmt: skip

        def scenario() -> tuple[bool, list[str]]:
            first = _connect(addr)
            try:
                extra = _raw(addr)
                refused = _closed_by_server(extra)
                extra.close()
                names = _ls(first, 1, "")
            finally:
                first.close()
            for _ in range(100):  # the slot frees once the server saw the close
                try:
                    later = _connect(addr)
                except (py9p.ProtocolError, OSError, EOFError):  # refused: closed unread
                    time.sleep(0.02)
                    continue
                later.close()
                return refused, names
            raise AssertionError("no connection accepted after the first closed")

        refused, names = await in_thread(scenario)
        assert refused and names == ["clone", "jobs", "stats"]
        nursery.cancel_scope.cancel()
