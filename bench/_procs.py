"""Processes the measurements start and watch: jobd, jobd-fuse, diod, the load generator.

Nothing here is imported by jobd. Every process started is ended by the context manager that
started it (SIGTERM, then SIGKILL), also when a measurement fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


class BenchError(RuntimeError):
    """A process did not start or a measurement could not be taken."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` field in KiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {field} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise BenchError(f"{proc.args!r} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise BenchError(f"{proc.args!r} not ready after {timeout}s")
        time.sleep(0.005)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Jobd:
    """A running ``jobd`` subprocess: ``addr``, ``pid``, ``startup`` (spawn -> serving, s)."""

    def __init__(self, proc: subprocess.Popen[bytes], addr: str, startup: float) -> None:
        self.proc, self.addr, self.startup = proc, addr, startup

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.contextmanager
def run_jobd(dbdir: Path, *extra: str, timeout: float = 60.0) -> Iterator[Jobd]:
    """Start ``jobd --dbdir DBDIR --fsaddr 127.0.0.1:0`` and wait until it serves.

    Raises:
        BenchError: it exited or did not announce its address in time.
    """
    with tempfile.TemporaryDirectory(prefix="bench-port-") as tmp:
        port_file = Path(tmp) / "port"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobd_9p",
                "--dbdir",
                str(dbdir),
                "--fsaddr",
                "127.0.0.1:0",
                "--port-file",
                str(port_file),
                "--log-level",
                "warning",
                "--shutdown-grace",
                "1",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
        )
        try:
            _wait_for(port_file, proc, timeout)
            startup = time.perf_counter() - t0
            addr = port_file.read_text().split()[0]
            yield Jobd(proc, addr, startup)
        finally:
            _stop(proc)


class Diod:
    """A running diod: ``addr`` (HOST:PORT) and ``proc``."""

    def __init__(self, proc: subprocess.Popen[bytes], addr: str) -> None:
        self.proc, self.addr = proc, addr


@contextlib.contextmanager
def run_diod(export: Path) -> Iterator[Diod]:
    """Start Debian's diod exporting ``export`` (no auth) on a free port.

    Raises:
        BenchError: diod exited or did not listen in time.
    """
    port = free_port()
    proc = subprocess.Popen(
        ["diod", "-f", "-n", "-N", "-e", str(export), "-l", f"127.0.0.1:{port}", "-L", "/dev/null"],
        restore_signals=False,  # SIGPIPE stays ignored: diod dies of it when a client leaves
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise BenchError(f"diod exited with {proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if time.monotonic() > deadline:
                raise BenchError("diod did not listen")
            time.sleep(0.01)
        yield Diod(proc, f"127.0.0.1:{port}")
    finally:
        _stop(proc)


@contextlib.contextmanager
def run_jobd_fuse(dbdir: Path, mountpoint: Path, timeout: float = 60.0) -> Iterator[int]:
    """Mount ``jobd-fuse MNT --dbdir D --no-9p``; yields its pid once ``MNT/jobs`` is there.

    Raises:
        BenchError: it exited or did not mount in time.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobd_fuse.cli", str(mountpoint), "--dbdir", str(dbdir), "--no-9p"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        _wait_for(mountpoint / "jobs", proc, timeout)
        yield proc.pid
    finally:
        _stop(proc)
        subprocess.run(
            ["fusermount3", "-u", "-q", str(mountpoint)], check=False, stderr=subprocess.DEVNULL
        )


def run_load(spec: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """Run the load generator (``bench._load``) in its own process; its JSON result.

    Raises:
        BenchError: it failed.
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench._load", json.dumps(spec)],
        capture_output=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"load generator failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def settle(pid: int, *, window: float = 0.5, busy: float = 0.05, limit: float = 180.0) -> float:
    """Wait until process ``pid``'s main thread is runnable (state R) in under ``busy`` of the
    samples of a ``window`` (its background start-up work done); the seconds waited. Run state,
    not CPU time: on a loaded machine a busy process may get little CPU."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        samples = []
        end = time.monotonic() + window
        while time.monotonic() < end:
            samples.append(_state(pid) == "R")
            time.sleep(0.005)
        if sum(samples) < busy * len(samples):
            break
    return time.monotonic() - t0


def bare_rss_kib() -> int:
    """RSS of a bare interpreter that imported what jobd imports (the reference for #5)."""
    code = (
        "import jobd_core, jobd_9p.cli, jobd_9p.server, trio, croniter, sqlite3\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO)
    return int(out.stdout)
