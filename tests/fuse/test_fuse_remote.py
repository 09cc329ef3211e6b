"""``jobd-fuse --remote``: the FUSE bridge to a separately started ``jobd``, including that server
going away (clear ENOTCONN/EIO meanwhile) and coming back (recovery, nothing lost)."""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fuse_daemon import DaemonFactory, FuseDaemon, load_scenarios

EVERY_SECOND = "0/1 * * * * ? *"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Jobd:
    """A plain ``jobd`` (9P only) on a fixed loopback port, so it can come back on the same one."""

    def __init__(self, dbdir: Path, log: Path, port: int) -> None:
        self.dbdir, self.log, self.port = dbdir, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Jobd:
        read_fd, write_fd = os.pipe()
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobd_9p", "--dbdir", str(self.dbdir), "--fsaddr",
                 self.addr, "--ready-fd", str(write_fd), "--shutdown-grace", "2"],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            )
        os.close(write_fd)
        try:
            ready, _, _ = select.select([read_fd], [], [], 30)
            assert ready and os.read(read_fd, 256), f"jobd not ready:\n{self.log.read_text()}"
        finally:
            os.close(read_fd)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Jobd]:
    jobd = Jobd(tmp_path / "remote-db", tmp_path / "jobd.log", _free_port()).start()
    try:
        yield jobd
    finally:
        jobd.stop()


@pytest.fixture
def bridge(make_daemon: DaemonFactory, remote: Jobd) -> FuseDaemon:
    return make_daemon("--remote", remote.addr)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # real processes on the real clock


def _errno(fn: Callable[[], object]) -> int | None:
    try:
        fn()
    except OSError as exc:
        return exc.errno
    return None


def test_shared_scenarios_through_the_bridge(bridge: FuseDaemon) -> None:
    scenarios = load_scenarios()
    result = bridge.sh(scenarios.full_script(str(bridge.mountpoint)), timeout=240, check=False)
    report = scenarios.parse_report(result.stdout)
    assert report.problems() == [], (
        f"{report.problems()}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def test_the_bridge_sees_the_remote_tree_fresh(bridge: FuseDaemon, make_daemon: DaemonFactory,
                                               remote: Jobd) -> None:
    # A second bridge plays "another client of the same jobd": what one does, the other sees.
    other = make_daemon("--remote", remote.addr)
    m, o = bridge.mountpoint, other.mountpoint
    (m / "clone").write_bytes(f"shared:{EVERY_SECOND}:echo shared run".encode())
    assert os.listdir(o / "jobs") == ["shared"]
    (o / "jobs/shared/ctl").write_bytes(b"start")
    assert (m / "jobs/shared/ctl").read_text() == "started\n"
    wait_for(lambda: (m / "jobs/shared/log").read_text().count(":shared run\n") >= 2, 15, "runs")
    (o / "jobs/shared/cmd").write_bytes(b"echo longer command now")
    assert os.stat(m / "jobs/shared/cmd").st_size == len("echo longer command now\n")
    os.rmdir(o / "jobs/shared")
    assert _errno(lambda: os.stat(m / "jobs/shared/cmd")) == errno.ENOENT
    assert os.listdir(m / "jobs") == []


def test_remote_going_away_and_coming_back(bridge: FuseDaemon, remote: Jobd) -> None:
    m = bridge.mountpoint
    (m / "clone").write_bytes(f"survivor:{EVERY_SECOND}:echo still here".encode())
    (m / "jobs/survivor/ctl").write_bytes(b"start")
    remote.stop()
    failures = {
        "stat": _errno(lambda: os.stat(m / "jobs/survivor/cmd")),
        "read": _errno(lambda: (m / "jobs/survivor/cmd").read_bytes()),
        "list": _errno(lambda: os.listdir(m / "jobs")),
        "clone": _errno(lambda: (m / "clone").write_bytes(b"new:* * * * *:true")),
    }
    assert all(e in (errno.ENOTCONN, errno.EIO) for e in failures.values()), failures
    remote.start()  # same port, same database
    wait_for(lambda: _errno(lambda: os.listdir(m / "jobs")) is None, 15, "the bridge to recover")
    assert os.listdir(m / "jobs") == ["survivor"]
    assert (m / "jobs/survivor/ctl").read_text() == "started\n"
    before = (m / "jobs/survivor/log").read_text().count(":still here\n")
    wait_for(lambda: (m / "jobs/survivor/log").read_text().count(":still here\n") > before,
             15, "the job to fire again after the restart")
    assert "ENOTCONN" in bridge.log_text()


def test_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    port = _free_port()
    result = subprocess.run(
        [sys.executable, "-m", "jobd_fuse.cli", str(mnt), "--remote", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "unreachable" in result.stderr
    assert os.listdir(mnt) == []
