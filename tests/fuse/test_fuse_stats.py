"""``jobd-fuse``: ``/stats`` through the mount counts FUSE operations, ``--metrics-addr`` serves the
same families over HTTP, and SIGTERM gives running jobs the grace before killing their groups."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

from fuse_daemon import DaemonFactory, FuseDaemon
from prometheus_client.parser import text_string_to_metric_families

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def values(text: str) -> Values:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def wait_until(predicate: object, timeout: float, what: str, daemon: FuseDaemon) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{daemon.log_text()}"
        time.sleep(0.02)  # a real daemon: no fake clock applies


def test_stats_through_the_mount_and_over_http(make_daemon: DaemonFactory) -> None:
    daemon = make_daemon("--no-9p", "--metrics-addr", "127.0.0.1:0")
    daemon.sh('echo "a:0 0 1 1 *:exit 3" > $M/clone; echo run > $M/jobs/a/ctl')
    wait_until(lambda: "exit 3" in (daemon.mountpoint / "jobs/a/status").read_text(), 10,
               "the failed run", daemon)  # fmt: skip
    daemon.sh("cat $M/jobs/nope/cmd 2>/dev/null || true")  # a failed lookup
    stats = daemon.mountpoint / "stats"
    assert os.stat(stats).st_mode & 0o777 == 0o444
    text = stats.read_text()  # direct I/O: all of it, whatever the size said
    v = values(text)
    assert v[("jobd_jobs", (("state", "stopped"),))] == 1
    assert v[("jobd_run_failures_total", (("reason", "exit"),))] == 1
    assert v[("jobd_fuse_operations_total", (("op", "lookup"),))] >= 3
    assert v[("jobd_fuse_operations_total", (("op", "open"),))] >= 2  # this open included
    assert v[("jobd_fuse_operations_total", (("op", "write"),))] >= 2
    assert v[("jobd_fuse_errors_total", (("op", "lookup"),))] >= 1
    assert daemon.sh("echo x > $M/stats", check=False).returncode != 0  # read-only

    found = re.search(r"serving metrics at (http://\S+)", daemon.log_text())
    assert found, daemon.log_text()
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        http = values(response.read().decode())
    assert set(http) >= set(v)  # the same series (a later snapshot: counts only grew)
    assert all(http[key] >= value for key, value in v.items() if "lateness" not in key[0])
    assert http[("jobd_fuse_operations_total", (("op", "read"),))] >= 1


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_gives_running_jobs_the_grace_then_kills_their_groups(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    grace = 2.0
    pids = tmp_path / "pids"
    daemon = make_daemon("--no-9p", "--shutdown-grace", str(grace))
    daemon.sh(f'echo "slow:0 0 1 1 *:sleep 300 & echo \\$! >> {pids}; echo \\$\\$ >> {pids}; wait"'
              " > $M/clone; echo run > $M/jobs/slow/ctl")  # fmt: skip
    done = tmp_path / "quick-done"
    daemon.sh(f'echo "quick:0 0 1 1 *:sleep 1; touch {done}" > $M/clone; '
              "echo run > $M/jobs/quick/ctl")  # fmt: skip
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, 10, "pids", daemon)
    group = [int(p) for p in pids.read_text().split()]
    assert daemon.proc is not None
    sent = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    time.sleep(grace / 2)
    assert daemon.proc.poll() is None and all(alive(p) for p in group)  # within the grace
    daemon.proc.send_signal(signal.SIGTERM)  # impatience changes nothing: still the grace
    time.sleep(0.2)
    assert daemon.proc.poll() is None and all(alive(p) for p in group)
    assert daemon.proc.wait(grace + 10) == 0
    took = time.monotonic() - sent
    assert grace - 0.2 <= took < grace + 5, took
    wait_until(lambda: not any(alive(p) for p in group), 5, "the group to die", daemon)
    assert done.exists()  # the quick job ended within the grace


def test_sighup_reopens_the_log_file_in_json(make_daemon: DaemonFactory, tmp_path: Path) -> None:
    log_file = tmp_path / "jobd-fuse.json.log"
    daemon = make_daemon("--no-9p", "--log-file", str(log_file), "--log-format", "json")
    wait_until(lambda: log_file.exists() and log_file.read_text(), 10, "a first line", daemon)
    log_file.rename(tmp_path / "rotated.log")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: log_file.exists() and "reopened" in log_file.read_text(), 10,
               "the reopened log", daemon)  # fmt: skip
    assert daemon.stop() == 0 and not any(p.is_mount() for p in [daemon.mountpoint])
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert "reopened" not in (tmp_path / "rotated.log").read_text()
