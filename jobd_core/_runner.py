"""One run of a job: spawn the shell off the event loop, turn its output into log texts, reap it.

Rules this module keeps:
1. ``fork``/``exec`` never runs on the trio thread: ``Spawner`` calls ``subprocess.Popen`` in worker
   threads behind its own ``CapacityLimiter`` (8 threads measured fastest for 1,000 simultaneous
   spawns on 2 cores while keeping the loop responsive; the loop thread alone blocks it ~0.7 s).
2. A run is ``SHELL -c COMMAND`` in its own session and process group, stdin ``/dev/null``, stdout
   and stderr into one pipe, close_fds, in the job's ``dir`` (if set), environment = jobd's, then
   the job's ``env`` settings, then ``JOBD_JOB``, ``JOBD_SCHEDULED`` and ``JOBD_ATTEMPT``.
   Signals go to the whole group, so a shell's background children go too.
3. Output is bounded: at most ``limit`` bytes become log texts (lines split on ``\\n``, over-long
   lines split at ``MAX_LINE`` bytes, a final partial line flushed), then one
   ``output truncated after N bytes`` text; the rest is read and thrown away at a throttled pace,
   so an endless writer neither grows memory nor monopolises the loop.
4. Every process is reaped: the leader by ``Process.wait`` (pidfd), the group's orphans
   (reparented to jobd when it is a child subreaper) by ``reap_group`` once the leader is gone.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import trio

from ._reaper import Leaders
from ._runas import RunAs

__all__ = [
    "MAX_LINE",
    "OutputLines",
    "Process",
    "RunSpec",
    "Spawner",
    "become_subreaper",
    "default_shell",
    "describe_returncode",
    "group_alive",
    "pump_output",
    "reap_group",
    "supervise",
]

log = logging.getLogger(__name__)

MAX_LINE = 4096  # bytes of output per log entry; longer lines are split
READ_SIZE = 65536
DRAIN_PAUSE = 0.005  # seconds between discarded reads once the output cap is reached
SPAWN_THREADS = 8
_PR_SET_CHILD_SUBREAPER = 36
_POLL_INTERVAL = 0.05
LINGER = 1.0  # seconds of reading after the leader exits (a background child may hold the pipe)
_REAP_TIMEOUT = 5.0


def default_shell() -> str:
    """``/bin/bash`` as the original used, else ``/bin/sh``."""
    return "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"


def describe_returncode(returncode: int) -> str:
    """``exit N`` for a normal exit, ``killed by SIGNAME`` for a signal (Popen's negative codes)."""
    if returncode >= 0:
        return f"exit {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to start: the job's name and command, and the scheduled instant it stands for."""

    job_name: str
    command: str
    scheduled: datetime  # aware; JOBD_SCHEDULED is its RFC 3339 form
    shell: str
    env: tuple[tuple[str, str], ...] = ()  # the job's ``env`` settings, over jobd's environment
    cwd: str | None = None  # the job's ``dir`` setting; None: jobd's working directory
    attempt: int = 1  # JOBD_ATTEMPT: 1, then 2.. for retries


class Process:
    """A started run: its leader (also the process-group id) and the read end of its output."""

    def __init__(
        self, popen: subprocess.Popen[bytes], output_fd: int, started_ns: int, *,
        on_reaped: Callable[[int], None] | None = None,
    ) -> None:
        self._on_reaped = on_reaped
        self.pid = popen.pid
        self.pgid = popen.pid  # start_new_session: the leader's pid names the group
        self.started_ns = started_ns  # wall time right after the fork returned
        self.output = trio.lowlevel.FdStream(output_fd)
        self.returncode: int | None = None
        self._popen = popen
        self._pidfd: int | None = _open_pidfd(popen.pid)

    async def wait(self) -> int:
        """Wait for the leader to exit and reap it; returns Popen's returncode (-N: signal N).

        Raises:
            trio.Cancelled: the caller was cancelled (the leader is left running, unreaped).
        """
        while self.returncode is None:
            if self._pidfd is not None:
                await trio.lowlevel.wait_readable(self._pidfd)
            else:
                await trio.sleep(_POLL_INTERVAL)
            self.returncode = self._popen.poll()
        self._close_pidfd()
        if self._on_reaped is not None:
            self._on_reaped(self.pid)
            self._on_reaped = None
        return self.returncode

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to the run's whole process group; False when the group is gone."""
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            return False
        return True

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # old kernel: Process.wait polls instead


class Spawner:
    """Starts runs in worker threads so forks never stall the event loop.

    Raises (from ``spawn``):
        OSError: the shell could not be started (missing, EAGAIN, ...).
    """

    def __init__(self, threads: int = SPAWN_THREADS, *, run_as: RunAs | None = None) -> None:
        self._limiter = trio.CapacityLimiter(threads)
        self.run_as = run_as  # --run-as: the identity of every job process
        self.leaders = Leaders()  # live leaders, so stray reaping never takes one (_reaper)

    async def spawn(self, spec: RunSpec) -> Process:
        """Start ``spec`` and return its ``Process``.

        Raises:
            OSError: the fork or exec failed.
        """
        popen, read_fd, started_ns = await trio.to_thread.run_sync(
            self._tracked_popen, spec, limiter=self._limiter
        )
        return Process(popen, read_fd, started_ns, on_reaped=self.leaders.reaped)

    def _tracked_popen(self, spec: RunSpec) -> tuple[subprocess.Popen[bytes], int, int]:
        self.leaders.begin()
        pid = None
        try:
            result = _popen(spec, self.run_as)
            pid = result[0].pid
            return result
        finally:
            self.leaders.end(pid)


def _popen(
    spec: RunSpec, run_as: RunAs | None = None
) -> tuple[subprocess.Popen[bytes], int, int]:
    env = dict(os.environ)
    identity: dict[str, Any] = {}
    if run_as is not None:
        env.update(run_as.environment())
        identity = {"user": run_as.uid, "group": run_as.gid,
                    "extra_groups": list(run_as.groups) if run_as.groups else None}  # fmt: skip
    env.update(spec.env)
    env["JOBD_JOB"] = spec.job_name
    env["JOBD_SCHEDULED"] = spec.scheduled.isoformat()
    env["JOBD_ATTEMPT"] = str(spec.attempt)
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        popen = subprocess.Popen(
            [spec.shell, "-c", spec.command],
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
            close_fds=True,  # no descriptor of jobd's reaches a job (only 0, 1, 2)
            env=env,
            cwd=spec.cwd,
            **identity,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return popen, read_fd, time.time_ns()


def _utf8_cut(data: bytes, limit: int) -> int:
    """A split point <= ``limit`` that does not cut a UTF-8 sequence (when one is near)."""
    cut = limit
    for _ in range(3):
        if cut <= 0 or (data[cut] & 0xC0) != 0x80:
            break
        cut -= 1
    return cut if cut > 0 else limit


class OutputLines:
    """Splits a run's output bytes into log texts, keeping at most ``limit`` bytes."""

    def __init__(self, limit: int, max_line: int = MAX_LINE) -> None:
        self.limit = limit
        self.max_line = max_line
        self.kept = 0  # bytes of output accepted so far
        self.truncated = False
        self._partial = b""

    def feed(self, data: bytes | bytearray) -> list[str]:
        """Texts completed by ``data`` (and the truncation notice when the cap is crossed)."""
        if self.truncated:
            return []
        data = bytes(data)
        room = self.limit - self.kept
        over = len(data) > room
        if over:
            data = data[:room]
        self.kept += len(data)
        texts = self._lines(self._partial + data)
        if over:
            self.truncated = True
            texts.extend(self.finish())
            texts.append(f"output truncated after {self.limit} bytes")
        return texts

    def finish(self) -> list[str]:
        """The final partial line, if any (call at end of output)."""
        rest, self._partial = self._partial, b""
        return [rest.decode("utf-8", "replace")] if rest else []

    def _lines(self, buf: bytes) -> list[str]:
        texts: list[str] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            texts.extend(self._split_long(buf[start:end]))
            start = end + 1
        rest = buf[start:]
        while len(rest) > self.max_line:
            cut = _utf8_cut(rest, self.max_line)
            texts.append(rest[:cut].decode("utf-8", "replace"))
            rest = rest[cut:]
        self._partial = rest
        return texts

    def _split_long(self, line: bytes) -> list[str]:
        texts = []
        while len(line) > self.max_line:
            cut = _utf8_cut(line, self.max_line)
            texts.append(line[:cut].decode("utf-8", "replace"))
            line = line[cut:]
        texts.append(line.decode("utf-8", "replace"))
        return texts


async def pump_output(
    stream: trio.abc.ReceiveStream, lines: OutputLines, emit: Callable[[list[str]], None]
) -> None:
    """Read ``stream`` to EOF, passing texts to ``emit``; past the cap, drain and discard slowly.

    The final partial line is emitted even when the pump is cancelled.

    Raises:
        trio.Cancelled: the caller was cancelled.
    """
    try:
        while True:
            try:
                data = await stream.receive_some(READ_SIZE)
            except trio.ClosedResourceError:
                break
            if not data:
                break
            if lines.truncated:
                await trio.sleep(DRAIN_PAUSE)  # back-pressure the writer instead of racing it
                continue
            texts = lines.feed(data)
            if texts:
                emit(texts)
    finally:
        tail = lines.finish()
        if tail:
            emit(tail)


async def supervise(
    process: Process,
    lines: OutputLines,
    emit: Callable[[list[str]], None],
    *,
    linger: float = LINGER,
) -> int:
    """Pump ``process``'s output into ``emit`` until it exits, then reap it; returns its returncode.

    After the leader exits, output is read for up to ``linger`` seconds more (until EOF); a
    background child that keeps the pipe open is left running, but no longer read. If the caller is
    cancelled, the group is SIGKILLed and the leader reaped before the cancellation propagates.

    Raises:
        trio.Cancelled: the caller was cancelled (the process is killed and reaped first).
    """
    try:
        async with trio.open_nursery() as nursery:
            eof = trio.Event()

            async def pump() -> None:
                await pump_output(process.output, lines, emit)
                eof.set()

            nursery.start_soon(pump)
            returncode = await process.wait()
            with trio.move_on_after(linger):
                await eof.wait()
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await process.output.aclose()
            if process.returncode is None:
                process.signal_group(signal.SIGKILL)
                with trio.move_on_after(_REAP_TIMEOUT):
                    await process.wait()
            if process.returncode is not None:
                reap_group(process.pgid)
    return returncode


def group_alive(pgid: int) -> bool:
    """Whether any process (zombies included) is still in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_group(pgid: int) -> None:
    """Reap exited members of ``pgid`` that are jobd's children (orphans when jobd is a subreaper).

    Call only after the group's leader was reaped by ``Process.wait``, so its status is not stolen.
    """
    while True:
        try:
            pid, _status = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False if unsupported.

    Background children of a job's shell then become jobd's children when the shell exits, so
    ``reap_group`` can reap them even where PID 1 does not reap orphans (containers).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            return True
        err = ctypes.get_errno()
    except (OSError, AttributeError) as exc:
        log.warning("cannot become child subreaper: %s", exc)
        return False
    log.warning("cannot become child subreaper: %s", os.strerror(err or errno.EINVAL))
    return False
