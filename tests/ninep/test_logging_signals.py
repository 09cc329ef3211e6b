"""``jobd`` on SIGTERM and SIGINT: running jobs get the grace period, then their whole process
groups are killed, and jobd exits 0; what ended within the grace is in the log after a restart."""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import pytest
from _jobd_process import JobdProcess

from jobd_9p import jobctl

GRACE = 2.0  # JobdProcess starts jobd with --shutdown-grace 2


def ctl(addr: str, *argv: str) -> str:
    out = io.StringIO()
    assert jobctl.run(["--addr", addr, *argv], out) == 0
    return out.getvalue()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # real processes: no fake clock applies


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_running_jobs_get_the_grace_then_their_groups_are_killed(
    tmp_path: Path, sig: signal.Signals
) -> None:
    pids = tmp_path / "pids"
    jobd = JobdProcess(tmp_path / "db", tmp_path / "jobd.log")
    addr = jobd.start()
    try:
        ctl(addr, "add", "quick", "0 0 1 1 *", "sleep 1; echo quick-done")
        # A leader and a background child in its group: only killing the group ends both soon.
        slow = f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait"
        ctl(addr, "add", "slow", "0 0 1 1 *", slow)
        ctl(addr, "run", "slow")
        ctl(addr, "run", "quick")
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 10, "slow's pids")
        group = [int(p) for p in pids.read_text().split()]
        assert all(alive(p) for p in group)
        assert jobd.proc is not None
        sent = time.monotonic()
        jobd.proc.send_signal(sig)
        time.sleep(GRACE / 2)
        assert jobd.proc.poll() is None and all(alive(p) for p in group)  # within the grace
        jobd.proc.send_signal(sig)  # a second signal changes nothing: still the grace
        time.sleep(0.2)
        assert jobd.proc.poll() is None and all(alive(p) for p in group)
        assert jobd.proc.wait(GRACE + 10) == 0
        took = time.monotonic() - sent
        assert GRACE - 0.2 <= took < GRACE + 5, took
        wait_until(lambda: not any(alive(p) for p in group), 5, "the group to die")
        assert f"{sig.name} received: stopping" in jobd.log_text()
        assert f"{sig.name} received: already stopping" in jobd.log_text()
        addr = jobd.start()  # the log tells what happened to each run
        assert "quick-done" in ctl(addr, "log", "quick")  # ended within the grace
        assert "killed by SIG" in ctl(addr, "log", "slow")
    finally:
        jobd.kill9()
