"""Access control of the 9P server over real sockets with the real core: ``--allow`` networks
(refused at accept, logged), unix sockets with ``--socket-mode``, and ``--read-only`` (listing
and reading work; every change is EROFS / "read-only file system")."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
import trio
from test_limits_support import errno_of, ignore_sigpipe, messages, open_raw, served, wait_for_log  # noqa: F401

from jobd_9p import wire
from jobd_9p._access import AllowList, parse_socket_mode
from jobd_core import ReadOnlyNamespace


def test_allow_list_parsing_and_matching() -> None:
    allow = AllowList.parse("10.0.0.0/8, 192.168.1.7,::1")
    assert str(allow) == "10.0.0.0/8,192.168.1.7/32,::1/128"
    assert allow.permits("10.1.2.3") and allow.permits("192.168.1.7") and allow.permits("::1")
    assert not allow.permits("192.168.1.8") and not allow.permits("127.0.0.1")
    assert allow.permits("::ffff:10.9.9.9")  # IPv4 through a dual-stack socket
    assert not allow.permits("::ffff:127.0.0.1")
    assert allow.permits("")  # not an IP address (a unix socket peer): not decided here
    for bad in ("", "10.0.0.1/8", "nonsense", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="--allow"):
            AllowList.parse(bad)
    assert parse_socket_mode("0660") == 0o660 == parse_socket_mode("660")
    for bad in ("rw", "0999", "1777"):
        with pytest.raises(ValueError, match="--socket-mode"):
            parse_socket_mode(bad)


async def test_peers_outside_allow_are_refused_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path / "db", allow=AllowList.parse("10.0.0.0/8")) as (core, addr):
        raw = await open_raw(addr)
        with trio.fail_after(5):
            await raw.stream.send_all(wire.encode(
                wire.Tversion(tag=wire.NOTAG, msize=8192, version="9P2000.L"), raw.dialect))
            assert await raw.recv() is None  # closed before a byte was read
        text = await wait_for_log(caplog, "refused: not in --allow")
        assert text == "connection from 127.0.0.1 refused: not in --allow 10.0.0.0/8"
        assert len(core.registry) == 0
    async with served(tmp_path / "db", allow=AllowList.parse("10.0.0.0/8,127.0.0.0/8")) as (
        _, addr,
    ):  # fmt: skip
        raw = await open_raw(addr, version="9P2000.L")
        assert isinstance(await raw.walk(1, "jobs"), wire.Rwalk)


async def test_unix_sockets_have_the_asked_mode_and_skip_the_allow_list(tmp_path: Path) -> None:
    for mode in (0o660, 0o600):
        path = tmp_path / f"jobd-{mode:o}.sock"
        async with served(tmp_path / "db", f"unix:{path}", socket_mode=mode,
                          allow=AllowList.parse("10.0.0.0/8")) as (_, addr):  # fmt: skip
            st = os.stat(path)
            assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == mode
            assert not list(tmp_path.glob("*.tmp"))  # created under a staging name, renamed
            raw = await open_raw(addr, version="9P2000.L")
            assert isinstance(await raw.walk(1, "jobs"), wire.Rwalk)


async def test_read_only_lists_and_reads_but_refuses_every_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with served(tmp_path / "db", namespace=ReadOnlyNamespace) as (core, addr):
        entry = await core.registry.clone(b"hello:@daily:echo hi")
        raw = await open_raw(addr, version="9P2000.L")
        # reading: walk, getattr, readdir, read
        assert isinstance(await raw.walk(1, "jobs", "hello", "cmd"), wire.Rwalk)
        assert isinstance(await raw.rpc(wire.Tlopen, fid=1, flags=0), wire.Rlopen)
        reply = await raw.rpc(wire.Tread, fid=1, offset=0, count=100)
        assert isinstance(reply, wire.Rread) and reply.data == b"echo hi\n"
        await raw.walk(2, "jobs")
        await raw.rpc(wire.Tlopen, fid=2, flags=0)
        listing = await raw.rpc(wire.Treaddir, fid=2, offset=0, count=4096)
        assert isinstance(listing, wire.Rreaddir)
        assert [d.name for d in wire.decode_dirents(listing.data)] == ["hello"]
        # every change: EROFS
        await raw.walk(3, "jobs", "hello", "ctl")
        await raw.walk(4, "clone")
        await raw.walk(5, "jobs", "hello")
        await raw.walk(6, "jobs")
        changes = [
            (wire.Tlopen, {"fid": 3, "flags": 1}),
            (wire.Tlopen, {"fid": 4, "flags": 1}),
            (wire.Tlopen, {"fid": 3, "flags": 0o1000}),  # O_TRUNC
            (wire.Tsetattr, {"fid": 3, "valid": 8, "mode": 0, "uid": 0, "gid": 0, "size": 0,
                             "atime_sec": 0, "atime_nsec": 0, "mtime_sec": 0, "mtime_nsec": 0}),
            (wire.Tunlinkat, {"dirfid": 6, "name": "hello", "flags": wire.AT_REMOVEDIR}),
            (wire.Tlcreate, {"fid": 6, "name": "x", "flags": 1, "mode": 0o644, "gid": 0}),
            (wire.Tmkdir, {"dfid": 6, "name": "x", "mode": 0o755, "gid": 0}),
            (wire.Tremove, {"fid": 5}),
        ]  # fmt: skip
        for cls, fields in changes:
            assert errno_of(await raw.rpc(cls, **fields)) == errno.EROFS, cls
        assert errno_of(await raw.rpc(wire.Tclunk, fid=5)) == errno.EBADF  # Tremove clunked it
        plain = await open_raw(addr, version="9P2000")
        await plain.walk(1, "jobs", "hello", "ctl")
        reply = await plain.rpc(wire.Topen, fid=1, mode=1)
        assert isinstance(reply, wire.Rerror) and reply.ename == "ctl: read-only file system"
        reply = await plain.rpc(wire.Tremove, fid=1)
        assert isinstance(reply, wire.Rerror) and "read-only file system" in reply.ename
        assert [e.job.name for e in core.registry] == ["hello"]
        assert not entry.job.started and entry.job.command == "echo hi"
        assert not messages(caplog, "unexpected")
