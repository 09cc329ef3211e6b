"""``jobd-fuse`` as a subprocess for the tests: start, wait for the mount, drive, stop, clean up.

The daemon runs in its own process, so the test may use plain system calls on the mount (an
in-process caller on the trio thread would wait for the very loop it blocks). Every fixture leaves
no mount behind: SIGTERM, then ``fusermount3 -u -z`` whatever happened.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pytest

FUSERMOUNT = shutil.which("fusermount3") or "fusermount3"
MOUNT_TIMEOUT = 20.0


def is_mounted(path: Path) -> bool:
    """True if something is mounted at ``path`` (by /proc/mounts; never touches the mount)."""
    target = str(path)
    with open("/proc/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


def mount_alive(path: Path) -> bool:
    """A live mount at ``path``: mounted, and answering a request no kernel cache serves."""
    try:
        os.statvfs(path)
    except OSError:
        return False  # a stale mount: ENOTCONN
    return os.path.ismount(path)


def force_unmount(path: Path) -> None:
    if is_mounted(path):
        subprocess.run([FUSERMOUNT, "-u", "-z", str(path)], check=False, capture_output=True)


@dataclass
class FuseDaemon:
    """One ``jobd-fuse`` process and its mount."""

    mountpoint: Path
    dbdir: Path
    log_path: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None
    allowed_log_words: list[str] = field(default_factory=list)

    def start(self, *, wait: bool = True) -> FuseDaemon:
        cmd = [sys.executable, "-m", "jobd_fuse.cli", str(self.mountpoint),
               "--dbdir", str(self.dbdir), *self.args]
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        if wait:
            self.wait_mounted()
        return self

    def wait_mounted(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not mount_alive(self.mountpoint):
            if self.proc.poll() is not None:
                pytest.fail(f"jobd-fuse exited with {self.proc.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"jobd-fuse did not mount within {MOUNT_TIMEOUT}s:\n{self.log_text()}")
            time.sleep(0.02)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sh(self, script: str, *, timeout: float = 60, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
        """Run a shell script with ``$M`` set to the mountpoint."""
        env = {**os.environ, "M": str(self.mountpoint), "LC_ALL": "C"}
        result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            pytest.fail(f"shell failed ({result.returncode}): {script}\nstdout: {result.stdout}"
                        f"\nstderr: {result.stderr}\njobd-fuse log:\n{self.log_text()[-3000:]}")
        return result

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the daemon and wait; its exit status (None if it had to be killed)."""
        status: int | None = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return status

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        force_unmount(self.mountpoint)

    def unexpected_log_errors(self) -> list[str]:
        bad = []
        for line in self.log_text().splitlines():
            if ("Traceback" in line or " ERROR " in line or " CRITICAL " in line) and not any(
                w in line for w in self.allowed_log_words
            ):
                bad.append(line)
        return bad


class DaemonFactory(Protocol):
    def __call__(self, *args: str, mountpoint: Path | None = None, dbdir: Path | None = None,
                 wait: bool = True) -> FuseDaemon: ...


SCENARIOS_PATH = Path(__file__).resolve().parent.parent / "e2e" / "scenarios.py"


def load_scenarios() -> ModuleType:
    """The shared scenario list (tests/e2e/scenarios.py), loaded by path."""
    spec = importlib.util.spec_from_file_location("jobd_e2e_scenarios", SCENARIOS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
