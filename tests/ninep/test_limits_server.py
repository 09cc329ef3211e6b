"""Limits of the 9P server over real TCP on loopback with the real core: fids per connection,
jobs, outstanding requests, clients that never read their replies, frames that never complete,
idle connections. Each refusal is a clear error (or the end of that one connection), logged
once, and the server keeps serving other clients throughout."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path

import pytest
import trio
from test_limits_support import (  # noqa: F401
    Raw,
    errno_of,
    ignore_sigpipe,
    messages,
    open_raw,
    served,
    wait_for_log,
)

from jobd_9p import wire
from jobd_9p.server import Limits


async def _still_serving(addr: str) -> None:
    other = await open_raw(addr, version="9P2000.L")
    assert isinstance(await other.walk(1, "jobs"), wire.Rwalk)
    await other.stream.aclose()


async def test_fids_per_connection(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with served(tmp_path / "db", limits=Limits(max_fids=3)) as (core, addr):
        raw = await open_raw(addr, version="9P2000.L")  # fid 0
        assert isinstance(await raw.walk(1, "jobs"), wire.Rwalk)
        assert isinstance(await raw.walk(2, "clone"), wire.Rwalk)
        assert errno_of(await raw.walk(3, "jobs")) == errno.EMFILE
        assert errno_of(await raw.rpc(wire.Txattrwalk, fid=0, newfid=3, name="")) == errno.EMFILE
        assert isinstance(await raw.walk(2, "jobs"), wire.Rwalk | wire.Rlerror)  # in use: EBADF
        assert isinstance(await raw.rpc(wire.Twalk, fid=1, newfid=1, wnames=()), wire.Rwalk)
        assert isinstance(await raw.rpc(wire.Tclunk, fid=2), wire.Rclunk)
        assert isinstance(await raw.walk(3, "jobs"), wire.Rwalk)  # room again
        assert messages(caplog, "too many fids") == [
            f"9P connection from {raw_peer(raw)}: too many fids on this connection (limit 3)"
        ]
        await _still_serving(addr)  # the limit is per connection
        u = await open_raw(addr, version="9P2000.u")
        await u.walk(1, "jobs")
        await u.walk(2, "jobs")
        reply = await u.walk(3, "jobs")
        assert isinstance(reply, wire.Rerror) and reply.errno == errno.EMFILE
        assert reply.ename == "too many fids on this connection (limit 3)"
        assert core.metrics.limit_refusals_9p.value("fids") == 3  # every refusal, logged or not
        assert "jobd_9p_limit_refusals_total{limit=\"fids\"} 3.0\n" in core.metrics.render()


def raw_peer(raw: object) -> str:
    stream = raw.stream  # type: ignore[attr-defined]
    host, port = stream.socket.getsockname()[:2]
    return f"{host}:{port}"


async def test_jobs_limit_over_9p(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with served(tmp_path / "db", max_jobs=1) as (core, addr):
        for version, name in (("9P2000.L", "one"), ("9P2000", "two")):
            raw = await open_raw(addr, version=version)
            await raw.walk(1, "clone")
            if version == "9P2000.L":
                await raw.rpc(wire.Tlopen, fid=1, flags=1)
            else:
                await raw.rpc(wire.Topen, fid=1, mode=1)
            reply = await raw.rpc(wire.Twrite, fid=1, offset=0, data=f"{name}:@daily:true".encode())
            if name == "one":
                assert isinstance(reply, wire.Rwrite)
            else:
                assert isinstance(reply, wire.Rerror) and reply.ename == "too many jobs (limit 1)"
        assert [e.job.name for e in core.registry] == ["one"]
        assert messages(caplog, "too many jobs") == ["job two refused: too many jobs (limit 1)"]


async def test_outstanding_requests_pause_reading_and_log_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path / "db", limits=Limits(max_outstanding=2)) as (core, addr):
        raw = await open_raw(addr, version="9P2000.L")
        await raw.walk(1, "jobs")
        data = b"".join(wire.encode(wire.Tgetattr(tag=10 + i, fid=1, request_mask=0x7FF),
                                    raw.dialect) for i in range(50))  # fmt: skip
        await raw.stream.send_all(data)
        tags = set()
        for _ in range(50):
            reply = await raw.recv()
            assert isinstance(reply, wire.Rgetattr)
            tags.add(reply.tag)
        assert tags == set(range(10, 60))  # every request answered, none refused
        paused = len(messages(caplog, "requests in flight: reading paused"))
        assert paused <= 1
        assert core.metrics.limit_refusals_9p.value("outstanding") >= paused


async def test_a_client_that_never_reads_is_cut_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    limits = Limits(max_send_buffer=256 * 1024, max_outstanding=64)
    async with served(tmp_path / "db", limits=limits) as (core, addr):
        await core.registry.clone(b"big:@daily:echo " + b"a" * 60000)
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing
        host, port = addr.rsplit(":", 1)
        await sock.connect((host, int(port)))
        raw = Raw(trio.SocketStream(sock))
        await raw.connect(msize=65536 + 24)
        await raw.walk(1, "jobs", "big", "cmd")
        assert isinstance(await raw.rpc(wire.Tlopen, fid=1, flags=0), wire.Rlopen)
        read = wire.encode(wire.Tread(tag=1, fid=1, offset=0, count=65536), raw.dialect)

        async def flood() -> None:
            try:
                for i in range(2000):  # 2000 x 60 KB of replies: far beyond every buffer
                    frame = read[:5] + (100 + i).to_bytes(2, "little") + read[7:]
                    await raw.stream.send_all(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            text = await wait_for_log(caplog, "does not read its replies", timeout=20)
            assert "limit 262144" in text
            await _still_serving(addr)  # others are served while and after it is cut off
            with trio.fail_after(10):
                await raw.closed()
            nursery.cancel_scope.cancel()
        assert len(messages(caplog, "does not read its replies")) == 1
        assert core.metrics.limit_refusals_9p.value("send-buffer") == 1


async def test_a_frame_that_never_completes_times_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path / "db", limits=Limits(frame_timeout=0.5)) as (core, addr):
        # a whole, fast client is unaffected
        raw = await open_raw(addr, version="9P2000.L")
        frame = wire.encode(wire.Twalk(tag=5, fid=0, newfid=1, wnames=("jobs",)), raw.dialect)
        slow = await open_raw(addr, version="9P2000.L")
        start = trio.current_time()
        for byte in frame[:-1]:  # slowloris: a byte every 0.1 s never completes in time
            try:
                await slow.stream.send_all(bytes([byte]))
            except trio.BrokenResourceError:
                break
            await trio.sleep(0.1)
            assert isinstance(await raw.walk(2 + int(trio.current_time() * 10) % 1000, "jobs"),
                              wire.Rwalk)  # fmt: skip
        with trio.fail_after(5):
            assert await slow.closed()
        assert 0.5 <= trio.current_time() - start < 3
        text = await wait_for_log(caplog, "frame still incomplete")
        assert "after 0.5 s" in text
        assert core.metrics.limit_refusals_9p.value("frame") == 1
        assert isinstance(await raw.rpc(wire.Tclunk, fid=0), wire.Rclunk)


async def test_idle_connections_time_out_only_when_asked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with served(tmp_path / "db", limits=Limits(idle_timeout=0.5)) as (_, addr):
        raw = await open_raw(addr, version="9P2000.L")
        start = trio.current_time()
        with trio.fail_after(5):
            assert await raw.closed()
        assert 0.5 <= trio.current_time() - start < 3
        assert await wait_for_log(caplog, "idle for 0.5 s")
        busy = await open_raw(addr, version="9P2000.L")
        for _ in range(8):  # a client that keeps talking is never idle
            await trio.sleep(0.15)
            assert isinstance(await busy.walk(1, "jobs"), wire.Rwalk)
            assert isinstance(await busy.rpc(wire.Tclunk, fid=1), wire.Rclunk)
    async with served(tmp_path / "db") as (_, addr):  # default: no idle timeout
        raw = await open_raw(addr, version="9P2000.L")
        await trio.sleep(1.0)
        assert isinstance(await raw.walk(1, "jobs"), wire.Rwalk)


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_fids"):
        Limits(max_fids=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        Limits(idle_timeout=0)
