"""The limit and access flags of ``jobd`` and ``jobd-fuse``: parsing (Go spellings too), usage
errors before anything opens, the read-only view under the FUSE operations, and ``jobd`` as a
real process with ``--read-only --socket-mode --run-as --allow``."""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import cast

import pyfuse3
import pytest
from _jobd_process import jobd_command
from pyfuse3 import FUSEError

from jobd_9p import wire
from jobd_9p.cli import parse_args
from jobd_core import CoreConfig, ReadOnlyNamespace, open_core
from jobd_fuse import JobdOperations
from jobd_fuse.cli import _fuse_options
from jobd_fuse.cli import main as fuse_main

CTX = cast(pyfuse3.RequestContext, None)


def test_jobd_parses_every_limit_and_access_flag() -> None:
    args = parse_args(["-allow=10.0.0.0/8,::1", "-read-only", "--max-fids", "5", "-max-jobs=7",
                       "--max-outstanding=3", "--max-send-buffer", "65536", "--frame-timeout",
                       "0", "--idle-timeout", "30", "--max-connections", "2",
                       "--socket-mode", "0600", "--run-as", str(os.geteuid())])  # fmt: skip
    h = args.hardening
    assert str(h.allow) == "10.0.0.0/8,::1/128" and h.read_only and h.max_jobs == 7
    assert (h.limits.max_fids, h.limits.max_outstanding, h.limits.max_connections) == (5, 3, 2)
    assert h.limits.max_send_buffer == 65536 and h.limits.frame_timeout is None
    assert h.limits.idle_timeout == 30 and h.socket_mode == 0o600 and h.run_as is not None
    default = parse_args([]).hardening
    assert default.allow is None and not default.read_only and default.run_as is None
    assert default.limits.idle_timeout is None and default.limits.frame_timeout == 60


@pytest.mark.parametrize("argv", [
    ["--allow", "nonsense"], ["--socket-mode", "999"], ["--run-as", "no-such-user-jobd"],
    ["--idle-timeout", "-1"], ["--max-fids", "0"], ["--max-jobs", "-1"],
])  # fmt: skip
def test_bad_values_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv)
    assert caught.value.code == 2
    assert "--" in capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit) as caught:
        fuse_main(["/nonexistent-mountpoint", *argv])
    assert caught.value.code == 2


def test_read_only_fuse_mounts_ro() -> None:
    assert "ro" in _fuse_options([], False, read_only=True)
    assert "ro" not in _fuse_options([], False)


async def test_fuse_operations_over_the_read_only_view(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path / "db", shutdown_grace=1.0)) as core:
        await core.registry.clone(b"hello:@daily:echo hi")
        ops = JobdOperations(ReadOnlyNamespace(core.namespace))
        jobs = await ops.lookup(pyfuse3.ROOT_INODE, b"jobs", CTX)
        hello = await ops.lookup(jobs.st_ino, b"hello", CTX)
        cmd = await ops.lookup(hello.st_ino, b"cmd", CTX)
        fi = await ops.open(cmd.st_ino, os.O_RDONLY, CTX)
        assert await ops.read(fi.fh, 0, 100) == b"echo hi\n"
        await ops.release(fi.fh)
        clone = await ops.lookup(pyfuse3.ROOT_INODE, b"clone", CTX)
        changes = [
            ops.open(cmd.st_ino, os.O_WRONLY | os.O_TRUNC, CTX),
            ops.open(clone.st_ino, os.O_WRONLY, CTX),
            ops.rmdir(jobs.st_ino, b"hello", CTX),
            ops.unlink(hello.st_ino, b"cmd", CTX),
            ops.mkdir(jobs.st_ino, b"new", 0o755, CTX),
            ops.create(jobs.st_ino, b"new", 0o644, os.O_WRONLY, CTX),
        ]
        for change in changes:
            with pytest.raises(FUSEError) as caught:
                await change
            assert caught.value.errno == errno.EROFS
        assert [e.job.name for e in core.registry] == ["hello"]


def _rpc(sock: socket.socket, msg: wire.Message, dialect: wire.Dialect) -> wire.Message:
    sock.sendall(wire.encode(msg, dialect))
    decoder = wire.Decoder(dialect, 1 << 20)
    while (reply := decoder.next_message()) is None:
        data = sock.recv(65536)
        assert data, "connection closed"
        decoder.feed(data)
    return reply


def _start(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp_path / "addr"
    log = (tmp_path / "jobd.log").open("wb")
    proc = subprocess.Popen([*jobd_command(), "--dbdir", str(tmp_path / "db"), "--port-file",
                             str(port_file), "--shutdown-grace", "1", *flags],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text().strip()):
        assert proc.poll() is None, (tmp_path / "jobd.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.02)  # a real process starting: no fake clock applies
    return proc, port_file.read_text().strip()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    assert proc.wait(15) == 0


def test_jobd_process_read_only_on_a_unix_socket_with_a_mode(tmp_path: Path) -> None:
    path = tmp_path / "jobd.sock"
    proc, addr = _start(tmp_path, "--fsaddr", f"unix:{path}", "--socket-mode", "0600",
                        "--read-only", "--run-as", "nobody" if os.geteuid() == 0 else
                        str(os.geteuid()))  # fmt: skip
    try:
        assert addr == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            d = wire.Dialect.L
            _rpc(sock, wire.Tversion(tag=wire.NOTAG, msize=8192, version="9P2000.L"), d)
            _rpc(sock, wire.Tattach(tag=1, fid=0, afid=wire.NOFID, uname="", aname=""), d)
            assert isinstance(_rpc(sock, wire.Twalk(tag=1, fid=0, newfid=1, wnames=("clone",)),
                                   d), wire.Rwalk)  # fmt: skip
            reply = _rpc(sock, wire.Tlopen(tag=1, fid=1, flags=1), d)
            assert isinstance(reply, wire.Rlerror) and reply.ecode == errno.EROFS
    finally:
        _stop(proc)
    log = (tmp_path / "jobd.log").read_text()
    assert "read-only: listing and reading only" in log
    assert "job processes run as" in log


def test_jobd_process_refuses_peers_outside_allow(tmp_path: Path) -> None:
    proc, addr = _start(tmp_path, "--fsaddr", "127.0.0.1:0", "--allow", "192.0.2.0/24")
    try:
        host, port = addr.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            try:
                sock.sendall(wire.encode(wire.Tversion(tag=wire.NOTAG, msize=8192,
                                                       version="9P2000"), wire.Dialect.P9P2000))
                assert sock.recv(100) == b""
            except ConnectionResetError:
                pass  # closed before our bytes arrived: refused all the same
    finally:
        _stop(proc)
    log = (tmp_path / "jobd.log").read_text()
    assert "connection from 127.0.0.1 refused: not in --allow 192.0.2.0/24" in log
