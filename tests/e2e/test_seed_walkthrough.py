"""The seed's walkthrough end to end: ``jobd`` as a subprocess, driven by py9p's own client and by
``jobctl`` subprocesses; a ``kill -9`` and restart in the middle; bad input refused in the
server's words with nothing created.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import py9p
import pytest
from _jobd_process import JobdProcess

EVERY_SECOND = "0/1 * * * * ? *"
JOBCTL = [sys.executable, "-m", "jobd_9p.jobctl"]


class Py9p:
    """The seed's shell steps (``echo -n ... > file``, ``cat file``) through py9p's client."""

    def __init__(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self.client = py9p.Client(socket.create_connection((host, int(port)), timeout=30))
        self.client.negotiate()
        self.client.attach(0)
        self._fids = itertools.count(1)

    def close(self) -> None:
        self.client.close()

    def _walk(self, path: str) -> int:
        fid = next(self._fids)
        names = [p for p in path.split("/") if p]
        qids = self.client.walk(0, fid, names)
        if len(qids) != len(names):
            raise py9p.RemoteError(f"{path}: walk stopped after {len(qids)} names")
        return fid

    def write(self, path: str, data: bytes) -> None:
        fid = self._walk(path)
        try:
            self.client.open(fid, int(py9p.OWRITE))
            assert self.client.write(fid, data, 0) == len(data)
        finally:
            self.client.clunk(fid)

    def read(self, path: str) -> bytes:
        fid = self._walk(path)
        try:
            self.client.open(fid, int(py9p.OREAD))
            chunks, offset = [], 0
            while data := self.client.read(fid, 8000, offset):
                chunks.append(data)
                offset += len(data)
            return b"".join(chunks)
        finally:
            self.client.clunk(fid)

    def names(self, path: str) -> list[str]:
        raw, names, pos = self.read(path), [], 0
        while pos < len(raw):
            size = int.from_bytes(raw[pos : pos + 2], "little") + 2
            names.append(py9p.decode_dir(raw[pos : pos + size]).name)
            pos += size
        return names


@pytest.fixture
def jobd(tmp_path: Path) -> Iterator[JobdProcess]:
    proc = JobdProcess(tmp_path / "db", tmp_path / "jobd.log")
    proc.start()
    yield proc
    proc.stop()


def jobctl(jobd: JobdProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*JOBCTL, "--addr", jobd.addr, *args], capture_output=True, text=True, timeout=30
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)  # real jobs firing in a real jobd: no fake clock applies


def test_seed_walkthrough_through_py9p(jobd: JobdProcess) -> None:
    fs = Py9p(jobd.addr)
    try:
        assert sorted(fs.names("")) == ["clone", "jobs", "stats"]
        fs.write("clone", f"hello:{EVERY_SECOND}:echo hello world".encode())
        assert fs.names("jobs") == ["hello"]
        assert fs.names("jobs/hello") == ["ctl", "cmd", "schedule", "log", "status"]
        assert fs.read("jobs/hello/cmd") == b"echo hello world\n"
        assert fs.read("jobs/hello/schedule") == f"{EVERY_SECOND}\n".encode()
        fs.write("jobs/hello/ctl", b"start")
        wait_for(lambda: fs.read("jobs/hello/log").count(b":hello world\n") >= 3)
        log = fs.read("jobs/hello/log").decode().splitlines()
        assert log[0].endswith(":started")
        # 2014-02-11 09:42:35.004655691 -0600 CST:hello world
        stamp = log[1].rsplit(":hello world", 1)[0]
        date, clock, offset, _zone = stamp.split(" ")
        assert len(date) == 10 and clock.count(":") == 2 and offset[0] in "+-"
        assert b"next: " in fs.read("jobs/hello/schedule")
        assert b"state: started" in fs.read("jobs/hello/status")
        fs.write("jobs/hello/ctl", b"stop\n")  # plain echo's newline is fine
        assert fs.read("jobs/hello/log").decode().splitlines()[-1].endswith(":stopped")
        fs.write("jobs/hello/ctl", b"delete")
        assert fs.names("jobs") == []
        with pytest.raises(py9p.RemoteError):
            fs.read("jobs/hello/log")
    finally:
        fs.close()


def test_seed_walkthrough_through_jobctl(jobd: JobdProcess) -> None:
    def ok(*args: str) -> str:
        done = jobctl(jobd, *args)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    ok("add", "hello", EVERY_SECOND, "echo hello world")
    assert ok("cat", "hello", "cmd") == "echo hello world\n"
    ok("start", "hello")
    wait_for(lambda: ok("log", "hello").count(":hello world\n") >= 2)
    assert ok("cat", "hello", "schedule").startswith(EVERY_SECOND + "\nnext: ")
    assert "state: started" in ok("cat", "hello", "status")
    assert ok("ls").split()[:2] == ["hello", "started"]
    ok("stop", "hello")
    assert ok("ls").split() == ["hello", "stopped", "-"]
    ok("rm", "hello")
    assert ok("ls") == ""


def test_kill9_and_restart_in_the_middle(jobd: JobdProcess) -> None:
    fs = Py9p(jobd.addr)
    fs.write("clone", f"ticker:{EVERY_SECOND}:echo tick".encode())
    fs.write("jobs/ticker/ctl", b"start")
    fs.write("clone", b"idle:@yearly:echo never")
    wait_for(lambda: fs.read("jobs/ticker/log").count(b":tick\n") >= 2)
    fs.close()

    jobd.kill9()
    port = jobd.port
    jobd.start()
    assert jobd.port == port

    fs = Py9p(jobd.addr)
    try:
        assert sorted(fs.names("jobs")) == ["idle", "ticker"]
        assert fs.read("jobs/ticker/ctl").strip() == b"started"
        assert fs.read("jobs/idle/ctl").strip() == b"stopped"
        assert fs.read("jobs/idle/cmd") == b"echo never\n"
        before = fs.read("jobs/ticker/log")
        assert before.count(b":tick\n") >= 2  # the log survived the crash
        wait_for(
            lambda: fs.read("jobs/ticker/log").count(b":tick\n") >= before.count(b":tick\n") + 2
        )
        assert fs.read("jobs/ticker/log").startswith(before[: before.index(b"\n") + 1])
    finally:
        fs.close()
    listing = jobctl(jobd, "ls").stdout.split("\n")
    assert [row.split()[:2] for row in listing if row] == [
        ["idle", "stopped"],
        ["ticker", "started"],
    ]


BAD_ADDS = [
    (("onefield", "", ""), "jobctl: "),  # an empty schedule and command
    (("", "@daily", "true"), "jobctl: "),
    (("..", "@daily", "true"), "jobctl: "),
    (("a b", "@daily", "true"), "jobctl: "),
    (("a\tb", "@daily", "true"), "jobctl: "),
    (("x" * 65, "@daily", "true"), "jobctl: "),
    (("x", "*/0 * * * *", "true"), "jobctl: invalid schedule"),
    (("x", "*/60 * * * *", "true"), "jobctl: invalid schedule"),
    (("x", "5-1 * * * *", "true"), "jobctl: invalid schedule"),
    (("x", "0 0 30 2 *", "true"), "jobctl: invalid schedule"),
    (("x", "not a schedule", "true"), "jobctl: invalid schedule"),
]


def test_bad_input_via_jobctl(jobd: JobdProcess) -> None:
    for (name, schedule, command), prefix in BAD_ADDS:
        done = jobctl(jobd, "add", name, schedule, command)
        assert done.returncode == 1, (name, schedule, done.stderr)
        assert done.stderr.startswith(prefix) and len(done.stderr) > len("jobctl: \n")
        assert "Traceback" not in done.stderr
    assert jobctl(jobd, "ls").stdout == ""  # nothing created

    assert jobctl(jobd, "add", "dup", "@daily", "true").returncode == 0
    dup = jobctl(jobd, "add", "dup", "@daily", "false")
    assert (dup.returncode, dup.stderr) == (1, "jobctl: job exists: dup\n")
    for verb in ("start", "stop", "run", "kill", "rm"):
        missing = jobctl(jobd, verb, "nosuch")
        assert missing.returncode == 1 and missing.stderr.startswith("jobctl: ")
    assert jobctl(jobd, "cat", "dup", "cmd").stdout == "true\n"  # unchanged
    assert jobctl(jobd, "ls").stdout.split() == ["dup", "stopped", "-"]  # server still serving
