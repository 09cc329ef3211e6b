"""Reaping the processes that left their job's session (daemons started by jobs).

Rules this module keeps:
1. jobd is a child subreaper (``_runner.become_subreaper``), so a job's process that calls
   ``setsid`` (``setsid -f``, a double-forking daemon) is reparented to jobd when its parent
   exits, outside any process group jobd kills or reaps. When it exits it would stay a zombie;
   ``Leaders.reap_strays`` reaps such zombies.
2. A zombie child is reaped here only if it is in another session than jobd's own (so children
   that other code in the process started in jobd's session, such as ``fusermount``, are never
   touched), is not a job leader ``Process.wait`` will reap, and cannot be a leader being
   spawned: between its fork and its registration a leader is counted in ``spawning``, and while
   any spawn is in progress session leaders are left for the next pass.
3. Thread-safe: spawns register from worker threads; ``reap_strays`` may run in any thread.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

__all__ = ["Leaders", "zombie_children"]

log = logging.getLogger(__name__)


class Leaders:
    """The job leaders spawned and not yet reaped, and the spawns in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self._spawning = 0

    def begin(self) -> None:
        """A spawn starts (call before the fork)."""
        with self._lock:
            self._spawning += 1

    def end(self, pid: int | None) -> None:
        """The spawn ended: ``pid`` is a live leader (None: the spawn failed)."""
        with self._lock:
            if pid is not None:
                self._pids.add(pid)
            self._spawning -= 1

    def reaped(self, pid: int) -> None:
        """The leader ``pid`` was reaped by its ``Process``."""
        with self._lock:
            self._pids.discard(pid)

    def reap_strays(self) -> list[int]:
        """Reap zombie children that left their job's session (rule 2); return their pids."""
        own_sid = os.getsid(0)
        reaped = []
        for pid, sid in zombie_children():
            if sid == own_sid:
                continue
            with self._lock:  # no registration between the check and the reaping
                if pid in self._pids or (self._spawning and sid == pid):
                    continue
                try:
                    done, _status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    continue
            if done:
                reaped.append(pid)
        if reaped:
            log.info("reaped %d processes that had left their job's session: %s",
                     len(reaped), reaped[:10])  # fmt: skip
        return reaped


def zombie_children() -> list[tuple[int, int]]:
    """(pid, session id) of this process's zombie children, from ``/proc`` (Linux)."""
    found = []
    for pid in _children():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            found.append((pid, int(fields[3])))
    return found


def _children() -> set[int]:
    pids: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return pids
    for tid in tasks:
        try:
            text = Path(f"/proc/self/task/{tid}/children").read_text()
        except OSError:
            continue
        pids.update(int(word) for word in text.split())
    return pids
