"""A diod (the reference 9P2000.L server, Debian package ``diod``) on a loopback port, for tests."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DIOD = shutil.which("diod") or "/usr/sbin/diod"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Diod:
    def __init__(self, export: Path, port: int | None = None) -> None:
        self.export = export
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [DIOD, "-f", "-n", "-N", "-l", self.addr, "-e", str(export), "-L", "stderr"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("diod did not start") from None
                time.sleep(0.02)

    def restart(self) -> Diod:
        """A new diod on the same port and export (after ``kill``)."""
        return Diod(self.export, self.port)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def populate(export: Path) -> None:
    """A small tree: a.txt, big, sub/."""
    (export / "a.txt").write_bytes(b"hello\n")
    (export / "big").write_bytes(bytes(range(256)) * 1000)
    (export / "sub").mkdir()
