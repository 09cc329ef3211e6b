"""``jobd`` as a subprocess on 127.0.0.1:0, driven by py9p's client: the seed walkthrough with a
job really firing every second, clean SIGTERM/SIGINT, kill -9 and restart, Go-style flags."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import py9p
import pytest

from jobd_9p import wire

EVERY_SECOND = "0/1 * * * * ? *"


class Jobd:
    """One ``python -m jobd_9p`` process; ``addr`` is read from its --ready-fd pipe."""

    def __init__(self, dbdir: Path, log: Path, *extra: str, fsaddr: str = "127.0.0.1:0") -> None:
        self.log = log
        read_fd, write_fd = os.pipe()
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jobd_9p", "--dbdir", str(dbdir), "--fsaddr", fsaddr,
                 "--ready-fd", str(write_fd), "--shutdown-grace", "2", *extra],
                pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
            )  # fmt: skip
        os.close(write_fd)
        self.addr = self._read_ready(read_fd)

    def _read_ready(self, fd: int) -> str:
        data = b""
        deadline = time.monotonic() + 30
        try:
            while not data.endswith(b"\n"):
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                chunk = os.read(fd, 256) if ready else b""
                if not chunk:
                    raise AssertionError(f"jobd did not get ready:\n{self.log.read_text()}")
                data += chunk
        finally:
            os.close(fd)
        return data.decode().split()[0]

    def client(self) -> py9p.Client:
        host, port = self.addr.rsplit(":", 1)
        c = py9p.Client.connect_tcp(host, int(port), timeout=10)
        c.negotiate()
        c.attach(0, uname="tester")
        return c

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Jobd]]:
    started: list[Jobd] = []

    def start(*extra: str, **kw: str) -> Jobd:
        j = Jobd(tmp_path / "db", tmp_path / "jobd.log", *extra, **kw)
        started.append(j)
        return j

    yield start
    for j in started:
        if j.proc.poll() is None:
            j.proc.kill()
            j.proc.wait()


def write(c: py9p.Client, path: str, data: bytes) -> None:
    c.walk(0, 1, path)
    try:
        c.open(1, py9p.OWRITE | py9p.OTRUNC)
        c.write(1, data)
    finally:
        c.clunk(1)


def read(c: py9p.Client, path: str) -> str:
    c.walk(0, 2, path)
    try:
        c.open(2, py9p.OREAD)
        out = b""
        while chunk := c.read(2, 8192, len(out)):
            out += chunk
        return out.decode()
    finally:
        c.clunk(2)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # a real process on the real clock: nothing to fake here


def fires(c: py9p.Client, name: str) -> int:
    return read(c, f"jobs/{name}/log").count(":hello world\n")


def test_seed_walkthrough_with_a_job_firing_every_second(spawn: Callable[..., Jobd]) -> None:
    jobd = spawn()
    c = jobd.client()
    try:
        write(c, "clone", f"hello:{EVERY_SECOND}:echo hello world".encode())
        assert read(c, "jobs/hello/cmd") == "echo hello world\n"
        assert read(c, "jobs/hello/ctl") == "stopped\n"
        write(c, "jobs/hello/ctl", b"start\n")
        assert read(c, "jobs/hello/ctl") == "started\n"
        wait_for(lambda: fires(c, "hello") >= 2, 15, "two runs of hello")
        schedule = read(c, "jobs/hello/schedule")
        assert schedule.startswith(EVERY_SECOND + "\n") and "next:" in schedule
        status = read(c, "jobs/hello/status")
        assert "state: started" in status and "last_result: exit 0" in status
        log = read(c, "jobs/hello/log").splitlines()
        assert log[0].endswith(":started") and log[1].endswith(":hello world")
        write(c, "jobs/hello/ctl", b"stop")
        assert read(c, "jobs/hello/log").splitlines()[-1].endswith(":stopped")
    finally:
        c.close()
    assert jobd.stop() == 0
    assert "serving 9P on 127.0.0.1:" in jobd.log.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(spawn: Callable[..., Jobd], sig: int) -> None:
    jobd = spawn()
    c = jobd.client()
    write(c, "clone", b"sleeper:@daily:sleep 1")
    write(c, "jobs/sleeper/ctl", b"run")  # a run still going when the signal arrives
    started = time.monotonic()
    assert jobd.stop(sig) == 0
    assert time.monotonic() - started < 10
    c.close()
    text = jobd.log.read_text()
    assert f"{signal.Signals(sig).name} received: stopping" in text and "stopped" in text
    assert "Traceback" not in text


def test_kill9_then_restart_keeps_jobs_state_and_log(spawn: Callable[..., Jobd]) -> None:
    jobd = spawn()
    c = jobd.client()
    write(c, "clone", f"hello:{EVERY_SECOND}:echo hello world".encode())
    write(c, "clone", b"idle:@daily:echo never")
    write(c, "jobs/hello/ctl", b"start")
    wait_for(lambda: fires(c, "hello") >= 1, 15, "a run of hello")
    before = fires(c, "hello")
    c.close()
    # Output lines are committed by the log flusher within ~50 ms (they are not acknowledged
    # client changes); give it time so everything counted in `before` is on disk.
    time.sleep(0.5)
    jobd.proc.kill()
    jobd.proc.wait()

    again = spawn()
    c = again.client()
    try:
        names = [s.name for s in wire.decode_stats(_read_dir(c, "jobs"), wire.Dialect.P9P2000)]
        assert sorted(names) == ["hello", "idle"]
        assert read(c, "jobs/hello/ctl") == "started\n"
        assert read(c, "jobs/idle/ctl") == "stopped\n"
        assert read(c, "jobs/idle/cmd") == "echo never\n"
        assert fires(c, "hello") >= before  # the log survived
        wait_for(lambda: fires(c, "hello") >= before + 2, 15, "hello to resume firing")
    finally:
        c.close()
    assert again.stop() == 0


def _read_dir(c: py9p.Client, path: str) -> bytes:
    c.walk(0, 3, path)
    try:
        c.open(3, py9p.OREAD)
        out = b""
        while chunk := c.read(3, 8192, len(out)):
            out += chunk
        return out
    finally:
        c.clunk(3)


def test_go_style_flags_and_debug_trace(spawn: Callable[..., Jobd], tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    jobd = spawn("-debug", "-v=1", "-logtostderr", "-alsologtostderr=false",
                 "-stderrthreshold=0", "-vmodule=", "-log_backtrace_at=:0",
                 f"-port-file={port_file}")  # fmt: skip
    assert port_file.read_text().split()[0] == jobd.addr
    c = jobd.client()
    assert read(c, "clone") == ""
    c.close()
    assert jobd.stop() == 0
    text = jobd.log.read_text()
    assert "<- Tversion(" in text and "-> Rattach(" in text


def test_wildcard_address_warns(spawn: Callable[..., Jobd]) -> None:
    jobd = spawn(fsaddr="0.0.0.0:0")
    assert jobd.stop() == 0
    assert "whoever reaches this port can run commands" in jobd.log.read_text()


def test_address_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "jobd_9p", "--dbdir", str(tmp_path / "db"),
             "--fsaddr", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert result.returncode == 1
    assert "cannot serve on" in result.stderr


def test_unix_socket_address(spawn: Callable[..., Jobd], tmp_path: Path) -> None:
    path = tmp_path / "jobd.sock"
    jobd = spawn(fsaddr=f"unix:{path}")
    assert jobd.addr == f"unix:{path}"
    c = py9p.Client.connect_unix(str(path))
    try:
        c.negotiate()
        c.attach(0, uname="u")
        assert read(c, "clone") == ""
    finally:
        c.close()
    assert jobd.stop() == 0
    assert not path.exists()


@pytest.mark.parametrize("kind", ["a-file", "not-a-database"])
def test_unusable_dbdir_exits_1(tmp_path: Path, kind: str) -> None:
    dbdir = tmp_path / "db"
    if kind == "a-file":
        dbdir.write_text("not a directory")
    else:
        dbdir.mkdir()
        (dbdir / "jobd.sqlite3").write_text("garbage " * 100)
    result = subprocess.run(
        [sys.executable, "-m", "jobd_9p", "--dbdir", str(dbdir), "--fsaddr", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot serve on" in result.stderr and "Traceback" not in result.stderr
