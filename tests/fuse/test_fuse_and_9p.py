"""Both fronts of one ``jobd-fuse`` process at once: what one front does, the other sees at once,
while jobs fire (py9p's client on the 9P side, coreutils and syscalls on the FUSE side)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import py9p
import pytest
from fuse_daemon import DaemonFactory, FuseDaemon

EVERY_SECOND = "0/1 * * * * ? *"


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # real processes on the real clock


def ninep_addr(daemon: FuseDaemon) -> tuple[str, int]:
    pattern = re.compile(r"serving 9P at (\S+)")
    wait_for(lambda: bool(pattern.search(daemon.log_text())), 15, "the 9P address in the log")
    host, port = pattern.findall(daemon.log_text())[0].rsplit(":", 1)
    return host, int(port)


class NineP:
    """A py9p (9P2000) client on the daemon's 9P port; one call at a time."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.c = py9p.Client.connect_tcp(addr[0], addr[1], timeout=10)
        self.c.negotiate()
        self.c.attach(0, uname="tester")
        self.lock = threading.Lock()

    def write(self, path: str, data: bytes) -> None:
        with self.lock:
            self.c.walk(0, 1, path)
            try:
                self.c.open(1, py9p.OWRITE | py9p.OTRUNC)
                self.c.write(1, data)
            finally:
                self.c.clunk(1)

    def read(self, path: str) -> str:
        with self.lock:
            self.c.walk(0, 2, path)
            try:
                self.c.open(2, py9p.OREAD)
                out = b""
                while chunk := self.c.read(2, 8192, len(out)):
                    out += chunk
                return out.decode()
            finally:
                self.c.clunk(2)

    def exists(self, path: str) -> bool:
        names = [n for n in path.split("/") if n]
        with self.lock:
            try:
                qids = self.c.walk(0, 3, names)
            except py9p.Error:
                return False  # the first name is missing
            if len(qids) < len(names):
                return False  # partial walk: newfid was not made
            self.c.clunk(3)
            return True

    def remove(self, path: str) -> None:
        with self.lock:
            self.c.walk(0, 4, path)
            self.c.remove(4)

    def close(self) -> None:
        self.c.close()


@pytest.fixture
def both(make_daemon: DaemonFactory) -> Iterator[tuple[FuseDaemon, NineP]]:
    daemon = make_daemon("--fsaddr", "127.0.0.1:0")
    client = NineP(ninep_addr(daemon))
    try:
        yield daemon, client
    finally:
        client.close()


def test_created_through_fuse_read_through_9p(both: tuple[FuseDaemon, NineP]) -> None:
    daemon, p9 = both
    m = daemon.mountpoint
    daemon.sh(f"echo -n 'viafuse:{EVERY_SECOND}:echo from fuse' > $M/clone")
    assert p9.read("jobs/viafuse/cmd") == "echo from fuse\n"
    assert p9.read("jobs/viafuse/ctl") == "stopped\n"
    daemon.sh("echo start > $M/jobs/viafuse/ctl")
    assert p9.read("jobs/viafuse/ctl") == "started\n"
    wait_for(lambda: p9.read("jobs/viafuse/log").count(":from fuse\n") >= 2, 15, "runs over 9P")
    assert (m / "jobs/viafuse/log").read_text().startswith(p9.read("jobs/viafuse/log")[:40])
    daemon.sh("echo 'echo edited' > $M/jobs/viafuse/cmd")
    assert p9.read("jobs/viafuse/cmd") == "echo edited\n"
    wait_for(lambda: ":edited\n" in p9.read("jobs/viafuse/log"), 15, "the edited command's run")
    daemon.sh("rm -r $M/jobs/viafuse")
    assert not p9.exists("jobs/viafuse")


def test_created_through_9p_seen_through_fuse(both: tuple[FuseDaemon, NineP]) -> None:
    daemon, p9 = both
    m = daemon.mountpoint
    p9.write("clone", f"via9p:{EVERY_SECOND}:echo from 9p".encode())
    assert os.listdir(m / "jobs") == ["via9p"]  # no stale negative entry, no cached listing
    assert (m / "jobs/via9p/cmd").read_text() == "echo from 9p\n"
    p9.write("jobs/via9p/ctl", b"start")
    assert (m / "jobs/via9p/ctl").read_text() == "started\n"
    log = m / "jobs/via9p/log"
    wait_for(lambda: log.read_text().count(":from 9p\n") >= 2, 15, "runs seen through FUSE")
    p9.write("jobs/via9p/cmd", b"echo changed over 9p")
    assert os.stat(m / "jobs/via9p/cmd").st_size == len("echo changed over 9p\n")
    assert (m / "jobs/via9p/cmd").read_text() == "echo changed over 9p\n"
    p9.remove("jobs/via9p")
    with pytest.raises(OSError) as info:
        os.stat(m / "jobs/via9p/cmd")
    assert info.value.errno == errno.ENOENT
    assert os.listdir(m / "jobs") == []


def test_both_fronts_busy_while_jobs_fire(both: tuple[FuseDaemon, NineP]) -> None:
    daemon, p9 = both
    m = daemon.mountpoint
    names = [f"busy{k}" for k in range(3)]
    for name in names:
        p9.write("clone", f"{name}:{EVERY_SECOND}:echo {name} ran".encode())
        daemon.sh(f"echo start > $M/jobs/{name}/ctl")
    stop = threading.Event()
    errors: list[str] = []

    def ninep_reader() -> None:
        while not stop.is_set():
            for name in names:
                try:
                    p9.read(f"jobs/{name}/status")
                    p9.read(f"jobs/{name}/log")
                except Exception as exc:  # the test reports every failure below
                    errors.append(f"9P: {exc!r}")
                    return

    reader = threading.Thread(target=ninep_reader)
    reader.start()
    try:
        script = ("for i in $(seq 100); do for j in " + " ".join(names) + "; do "
                  "cat $M/jobs/$j/log $M/jobs/$j/status > /dev/null || exit 1; "
                  "s=$(stat -c %s $M/jobs/$j/cmd); [ \"$s\" = $(( ${#j} + 10 )) ] || "
                  "{ echo stale $s; exit 1; }; done; done")
        result = subprocess.run(["bash", "-c", script], env={**os.environ, "M": str(m)},
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stop.set()
        reader.join(timeout=30)
    assert errors == []
    for name in names:
        assert p9.read(f"jobs/{name}/log").count(f":{name} ran\n") >= 1
        assert (m / "jobs" / name / "log").read_text().count(f":{name} ran\n") >= 1
