"""``jobd`` as a subprocess for end-to-end tests: started with ``--port-file``, killed for real.

Importable from every test directory (``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def jobd_command() -> list[str]:
    """The installed ``jobd`` console script, else the module."""
    script = shutil.which("jobd")
    return (
        [script]
        if script
        else [sys.executable, "-c", "import sys; from jobd_9p.cli import main; sys.exit(main())"]
    )


class JobdProcess:
    """One ``jobd`` on loopback with its own dbdir; ``kill9`` + ``start`` keep dbdir and port."""

    def __init__(self, dbdir: Path, log: Path) -> None:
        self.dbdir = dbdir
        self.log = log
        self.addr = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.addr.rpartition(":")[2])

    def start(self, timeout: float = 20.0) -> str:
        """Start (on the previous port when restarting) and wait for the port file."""
        port_file = self.dbdir.parent / "jobd.port"
        port_file.unlink(missing_ok=True)
        fsaddr = self.addr or "127.0.0.1:0"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*jobd_command(), "--dbdir", str(self.dbdir), "--fsaddr", fsaddr,
                 "--port-file", str(port_file), "--shutdown-grace", "2"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jobd exited with {self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobd did not announce its port:\n{self.log_text()}")
            time.sleep(0.02)  # a real process starting up: no fake clock applies
        self.addr = port_file.read_text().strip()
        return self.addr

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs (what a crash or power loss leaves behind)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
