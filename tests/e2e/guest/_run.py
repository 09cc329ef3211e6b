"""One guest run: boot qemu, wait for it in a time box, kill it if needed, read what it reported.

Rules it keeps: qemu runs in its own session and is killed (the whole process group) on timeout, on
cancellation and on any error; its temp dir is always removed; a run ends in a ``GuestResult`` or
raises a ``GuestError`` that carries the console and qemu's stderr, so a failing test says why.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trio

from . import _qemu

log = logging.getLogger(__name__)

_STARTED = re.compile(rb"^jobd-guest: started ([0-9.]+)\n", re.M)
_EXIT = re.compile(rb"^jobd-guest: exit (\d+) ([0-9.]+)\n", re.M)
_SETUP = re.compile(rb"^jobd-guest: setup: (.*)$", re.M)
_TAIL = 3000


@dataclass(frozen=True)
class GuestResult:
    """What one guest run reported.

    ``duration_s`` is host wall time from starting qemu to its exit; ``boot_s`` is guest uptime when
    the script started and ``script_s`` the script's own guest time. ``console`` is the kernel
    console (warnings and worse; ``dmesg`` has everything), ``relay_log`` the host side's connection
    failures (e.g. "Connection refused" when no server listens on ``port``).
    """

    exit_code: int
    stdout: str
    stderr: str
    dmesg: str = field(repr=False)
    duration_s: float
    boot_s: float
    script_s: float
    console: str = field(repr=False)
    relay_log: str

    def check(self) -> GuestResult:
        """This result, if the script exited 0.

        Raises:
            GuestScriptFailed: it did not; the message has the exit code, the output and the last
                lines of dmesg.
        """
        if self.exit_code != 0:
            raise GuestScriptFailed(self)
        return self


class GuestScriptFailed(AssertionError):
    """``GuestResult.check`` on a script that exited non-zero (an ``AssertionError`` for pytest)."""

    def __init__(self, result: GuestResult) -> None:
        self.result = result
        dmesg_tail = "\n".join(result.dmesg.splitlines()[-15:])
        super().__init__(
            f"guest script exited {result.exit_code}\n"
            f"--- stdout ---\n{result.stdout[-_TAIL:]}\n--- stderr ---\n{result.stderr[-_TAIL:]}\n"
            f"--- relay ---\n{result.relay_log[-_TAIL:]}\n--- dmesg (tail) ---\n{dmesg_tail}"
        )


class GuestError(Exception):
    """The guest did not produce a result: it failed to boot, its setup failed, or it timed out.

    Attributes hold what was captured so far (``stdout``/``stderr`` of the script, the kernel
    ``console``, ``qemu_stderr``, ``relay_log``), and ``str()`` of the error includes their tails.
    """

    def __init__(self, reason: str, captured: Mapping[str, str]) -> None:
        self.reason = reason
        self.stdout = captured.get("stdout", "")
        self.stderr = captured.get("stderr", "")
        self.console = captured.get("console", "")
        self.qemu_stderr = captured.get("qemu_stderr", "")
        self.relay_log = captured.get(_qemu.RELAY_LOG, "")
        parts = [reason]
        for name in ("qemu_stderr", _qemu.RELAY_LOG, "console", "stdout", "stderr"):
            text = captured.get(name, "").strip()
            if text:
                parts.append(f"--- {name} (tail) ---\n{text[-_TAIL:]}")
        super().__init__("\n".join(parts))


class GuestBootError(GuestError):
    """qemu or the guest kernel failed before the script finished (no exit report)."""


class GuestTimeout(GuestError):
    """The run exceeded its time box; qemu was killed. ``script_started`` tells boot from script."""

    def __init__(self, reason: str, captured: Mapping[str, str], script_started: bool) -> None:
        super().__init__(reason, captured)
        self.script_started = script_started


@dataclass(frozen=True)
class _Outcome:
    returncode: int | None
    duration_s: float
    files: dict[str, bytes]


def _kill_group(proc: trio.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        log.debug("qemu process group already gone", extra={"pid": proc.pid})


async def _run_qemu(argv: list[str], outdir: Path, timeout: float) -> _Outcome:
    # The time box is a real-time watchdog thread, not a trio deadline: a test running the server
    # under trio.testing.MockClock(autojump_threshold=0) would otherwise expire it at once.
    started = time.monotonic()
    with open(outdir / "qemu_stderr", "wb") as err:
        proc = await trio.lowlevel.open_process(
            argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True
        )
    expired = threading.Event()

    def expire() -> None:
        if proc.returncode is None:
            expired.set()
            _kill_group(proc)

    watchdog = threading.Timer(timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        await proc.wait()
    finally:
        watchdog.cancel()
        if proc.returncode is None:  # cancelled, or an error: never leave qemu behind
            with trio.CancelScope(shield=True):
                _kill_group(proc)
                await proc.wait()
    returncode = None if expired.is_set() else proc.returncode
    duration = time.monotonic() - started
    files = {}
    for name in (*_qemu.SERIAL_FILES, "qemu_stderr", _qemu.RELAY_LOG):
        path = outdir / name
        files[name] = path.read_bytes() if path.exists() else b""
    return _Outcome(returncode, duration, files)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _interpret(outcome: _Outcome, timeout: float) -> GuestResult:
    files = outcome.files
    captured = {name: _text(data) for name, data in files.items()}
    control = files["control"]
    started = _STARTED.search(control)
    if outcome.returncode is None:
        stage = "the script" if started else "boot (the script never started)"
        raise GuestTimeout(
            f"guest timed out after {timeout:g} s during {stage}; qemu killed",
            captured,
            script_started=started is not None,
        )
    setup = _SETUP.findall(control[: started.start()] if started else control)
    if setup:
        complaints = "; ".join(_text(line) for line in setup)
        raise GuestBootError(f"guest setup failed: {complaints}", captured)
    finished = _EXIT.search(control)
    if started is None or finished is None:
        raise GuestBootError(
            f"guest ended without reporting an exit code (qemu exit status {outcome.returncode})",
            captured,
        )
    boot_s = float(started.group(1))
    return GuestResult(
        exit_code=int(finished.group(1)),
        stdout=captured["stdout"],
        stderr=captured["stderr"],
        dmesg=_text(control[finished.end() :]),
        duration_s=outcome.duration_s,
        boot_s=boot_s,
        script_s=float(finished.group(2)) - boot_s,
        console=captured["console"],
        relay_log=captured[_qemu.RELAY_LOG],
    )


async def boot(
    machine: _qemu.Machine, base_image: Path, run_image: bytes, timeout: float
) -> GuestResult:
    """Boot ``machine`` from ``base_image`` + ``run_image`` and return what the guest reported.

    Raises:
        GuestTimeout: the run exceeded ``timeout`` seconds (qemu was killed).
        GuestBootError: qemu failed, the kernel panicked, or the guest's setup failed.
        _qemu.QemuError: qemu is not installed.
    """
    with tempfile.TemporaryDirectory(prefix="jobd-guest-") as tmp:
        outdir = Path(tmp)
        initrd = outdir / "initrd.cpio"
        initrd.write_bytes(base_image.read_bytes() + run_image)
        argv = _qemu.qemu_argv(machine, initrd, outdir)
        log.debug("booting guest", extra={"argv": argv})
        outcome = await _run_qemu(argv, outdir, timeout)
    return _interpret(outcome, timeout)
