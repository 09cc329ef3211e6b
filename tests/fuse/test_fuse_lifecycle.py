"""Mount lifecycle of ``jobd-fuse``: signals, external unmount, stale mounts, bad mountpoints."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fuse_daemon import FUSERMOUNT, DaemonFactory, force_unmount, is_mounted


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_unmounts_and_exits_zero(make_daemon: DaemonFactory, sig: int) -> None:
    daemon = make_daemon("--no-9p")
    (daemon.mountpoint / "clone").write_bytes(b"sig:* * * * *:true")
    assert daemon.stop(sig) == 0
    assert not is_mounted(daemon.mountpoint)
    assert os.listdir(daemon.mountpoint) == []


def test_external_unmount_ends_the_process(make_daemon: DaemonFactory) -> None:
    daemon = make_daemon("--no-9p")
    subprocess.run([FUSERMOUNT, "-u", str(daemon.mountpoint)], check=True)
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=30) == 0
    assert not is_mounted(daemon.mountpoint)


def test_stale_mount_is_recovered_and_jobs_survive(make_daemon: DaemonFactory) -> None:
    first = make_daemon("--no-9p")
    (first.mountpoint / "clone").write_bytes(b"keep:0/1 * * * * ? *:echo kept")
    (first.mountpoint / "jobs/keep/ctl").write_bytes(b"start")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert is_mounted(first.mountpoint)  # left behind by the crash
    with pytest.raises(OSError):
        os.listdir(first.mountpoint)
    second = make_daemon("--no-9p", mountpoint=first.mountpoint, dbdir=first.dbdir)
    assert "stale FUSE mount" in second.log_text()
    assert os.listdir(second.mountpoint / "jobs") == ["keep"]
    assert (second.mountpoint / "jobs/keep/ctl").read_text().strip() == "started"
    deadline = time.monotonic() + 15
    while b":kept\n" not in (second.mountpoint / "jobs/keep/log").read_bytes():
        assert time.monotonic() < deadline, "the started job did not resume"
        time.sleep(0.1)


def test_stale_mount_without_recovery_names_the_fix(make_daemon: DaemonFactory) -> None:
    first = make_daemon("--no-9p")
    first.stop(signal.SIGKILL)
    second = make_daemon("--no-9p", "--no-recover", mountpoint=first.mountpoint, wait=False)
    assert second.proc is not None
    assert second.proc.wait(timeout=30) == 1
    assert f"fusermount3 -u {first.mountpoint}" in second.log_text()
    force_unmount(first.mountpoint)


def test_busy_mountpoint_is_refused(make_daemon: DaemonFactory) -> None:
    first = make_daemon("--no-9p")
    second = make_daemon("--no-9p", mountpoint=first.mountpoint, wait=False)
    assert second.proc is not None
    assert second.proc.wait(timeout=30) == 1
    assert "already mounted here" in second.log_text()
    assert is_mounted(first.mountpoint)  # the first one is untouched
    assert sorted(os.listdir(first.mountpoint)) == ["clone", "jobs", "stats"]


def test_missing_mountpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jobd_fuse.cli", str(tmp_path / "nowhere"), "--no-9p",
         "--dbdir", str(tmp_path / "db")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "nowhere" in result.stderr and "No such file" in result.stderr


def test_daemon_mode_detaches_once_mounted(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = tmp_path / "daemon.log"
    result = subprocess.run(
        ["jobd-fuse", str(mnt), "--daemon", "--no-9p", "--dbdir", str(tmp_path / "db"),
         "--log-file", str(log)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    try:
        assert result.returncode == 0, result.stderr
        assert is_mounted(mnt)  # ready when the parent returned
        assert sorted(os.listdir(mnt)) == ["clone", "jobs", "stats"]
    finally:
        subprocess.run([FUSERMOUNT, "-u", str(mnt)], check=False)
        deadline = time.monotonic() + 30
        while "FUSE session" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        force_unmount(mnt)
    assert "closed" in log.read_text()


def test_allow_other_is_passed_through(make_daemon: DaemonFactory) -> None:
    daemon = make_daemon("--no-9p", "-o", "allow_other")
    with open("/proc/mounts") as mounts:
        line = next(x for x in mounts if x.split()[1] == str(daemon.mountpoint))
    assert "allow_other" in line and "default_permissions" in line
    assert line.split()[0] == "jobd"


def test_sigterm_while_the_mount_is_busy(make_daemon: DaemonFactory) -> None:
    daemon = make_daemon("--no-9p")
    m = daemon.mountpoint
    (m / "clone").write_bytes(b"busy:0/1 * * * * ? *:echo busy")
    (m / "jobs/busy/ctl").write_bytes(b"start")
    tail = subprocess.Popen(["tail", "-f", str(m / "jobs/busy/log")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    inside = subprocess.Popen(["sleep", "60"], cwd=m / "jobs/busy")
    try:
        deadline = time.monotonic() + 15
        assert tail.stdout is not None
        while b"busy" not in tail.stdout.readline():
            assert time.monotonic() < deadline
        assert daemon.stop(signal.SIGTERM) == 0
        assert not is_mounted(m)
    finally:
        for proc in (tail, inside):
            proc.kill()
            proc.wait()


def test_9p_port_in_use_is_a_clear_error_and_mounts_nothing(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "jobd_fuse.cli", str(mnt), "--dbdir", str(tmp_path / "db"),
             "--fsaddr", addr],
            capture_output=True, text=True, timeout=60, check=False,
        )
    assert result.returncode == 1
    assert f"cannot serve 9P on {addr}" in result.stderr and "in use" in result.stderr
    assert not is_mounted(mnt) and not (tmp_path / "db").exists()
