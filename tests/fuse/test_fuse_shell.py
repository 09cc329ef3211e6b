"""The seed workflow and every bad input through a real FUSE mount, by coreutils and syscalls.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from fuse_daemon import FuseDaemon, load_scenarios


def wait_until(predicate: object, timeout: float = 15.0, what: str = "condition") -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def write(path: Path, data: bytes, flags: int = os.O_WRONLY | os.O_TRUNC) -> None:
    fd = os.open(path, flags)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def errno_of(fn: object, *args: object) -> int:
    assert callable(fn)
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno is not None
    return info.value.errno


def test_shared_scenarios_pass_through_fuse(fuse: FuseDaemon) -> None:
    scenarios = load_scenarios()
    result = fuse.sh(scenarios.full_script(str(fuse.mountpoint)), timeout=240, check=False)
    report = scenarios.parse_report(result.stdout)
    assert report.problems() == [], (
        f"{report.problems()}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def test_seed_walkthrough_verbatim(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    fuse.sh("echo -n 'hello:0/1 * * * * ? *:echo hi' > $M/clone")
    fuse.sh("echo start > $M/jobs/hello/ctl")
    assert fuse.sh("cat $M/jobs/hello/cmd").stdout == "echo hi\n"
    assert fuse.sh("cat $M/jobs/hello/ctl").stdout.strip() == "started"
    wait_until(lambda: (m / "jobs/hello/log").read_text().count(":hi\n") >= 2, what="two runs")
    listing = fuse.sh("ls -l $M/jobs/hello").stdout
    for line in listing.splitlines()[1:]:
        size, name = int(line.split()[4]), line.split()[-1]
        assert size == len((m / "jobs/hello" / name).read_bytes()) or name == "log"
    fuse.sh("echo stop > $M/jobs/hello/ctl")
    assert (m / "jobs/hello/ctl").read_text().strip() == "stopped"
    fuse.sh("rm -r $M/jobs/hello")
    assert os.listdir(m / "jobs") == []


def test_bad_inputs_get_the_fitting_errno(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    clone = m / "clone"
    assert errno_of(write, clone, b"bad") == errno.EINVAL
    assert errno_of(write, clone, b"x:*/0 * * * *:true") == errno.EINVAL
    write(clone, b"dup:* * * * *:true")
    assert errno_of(write, clone, b"dup:* * * * *:false") == errno.EEXIST
    assert errno_of(write, m / "jobs/dup/ctl", b"bogus") == errno.EINVAL
    assert errno_of(write, m / "jobs/dup/log", b"x") in (errno.EACCES, errno.EPERM)
    assert errno_of(write, m / "jobs/dup/status", b"x") in (errno.EACCES, errno.EPERM)
    assert errno_of(os.mkdir, m / "jobs/newdir") == errno.EPERM
    assert errno_of(os.open, m / "jobs/dup/new", os.O_CREAT | os.O_WRONLY) == errno.EPERM
    assert errno_of(os.rename, m / "jobs/dup", m / "jobs/other") == errno.EPERM
    assert errno_of(os.unlink, clone) == errno.EPERM
    assert errno_of(os.rmdir, m / "jobs") == errno.EPERM
    assert errno_of(os.stat, m / "jobs/nope/cmd") == errno.ENOENT
    assert errno_of(os.listdir, m / "clone") == errno.ENOTDIR
    assert os.listdir(m / "jobs") == ["dup"]
    assert (m / "jobs/dup/cmd").read_text() == "true\n"


def test_rejected_write_has_its_reason_in_the_log(fuse: FuseDaemon) -> None:
    result = fuse.sh("echo -n bad > $M/clone", check=False)
    assert result.returncode != 0
    assert "Invalid argument" in result.stderr
    wait_until(lambda: "WARNING" in fuse.log_text(), what="the rejection in jobd-fuse's log")
    line = next(x for x in fuse.log_text().splitlines() if "WARNING" in x)
    assert "write rejected: invalid job definition" in line


def test_sizes_follow_content_without_caching(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    write(m / "clone", b"grow:* * * * *:echo 1")
    cmd = m / "jobs/grow/cmd"
    for text in ["echo 1", "echo a much longer command line", "echo 2"]:
        fuse.sh(f"echo '{text}' > $M/jobs/grow/cmd")
        assert os.stat(cmd).st_size == len(text) + 1
        assert cmd.read_text() == text + "\n"
    # once the run's output is in, stat and read agree on the log's length
    fuse.sh("echo run > $M/jobs/grow/ctl")
    log = m / "jobs/grow/log"
    wait_until(lambda: log.read_bytes().endswith(b":2\n"), what="the run's output")
    for _ in range(20):
        assert os.stat(log).st_size == len(log.read_bytes())


def test_deleted_job_inode_stays_valid_while_open(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    write(m / "clone", b"gone:* * * * *:true")
    fd = os.open(m / "jobs/gone/cmd", os.O_RDONLY)
    try:
        before = os.fstat(fd)
        fuse.sh("rm -r $M/jobs/gone")
        assert not (m / "jobs/gone").exists()
        after = os.fstat(fd)  # getattr on the kept inode: last known values, no error
        assert after.st_ino == before.st_ino
    finally:
        os.close(fd)
    write(m / "clone", b"gone:* * * * *:true")
    assert os.stat(m / "jobs/gone/cmd").st_ino != before.st_ino  # ids are never reused


def test_inodes_are_node_ids_and_stable(fuse: FuseDaemon) -> None:
    m = fuse.mountpoint
    assert os.stat(m).st_ino == 1
    write(m / "clone", b"ino:* * * * *:true")
    first = {name: os.stat(m / "jobs/ino" / name).st_ino for name in os.listdir(m / "jobs/ino")}
    second = {name: os.stat(m / "jobs/ino" / name).st_ino for name in os.listdir(m / "jobs/ino")}
    assert first == second
    assert len(set(first.values())) == len(first)
    st = os.stat(m / "jobs/ino/log")
    assert st.st_mode & 0o222 == 0 and os.stat(m / "jobs/ino").st_nlink >= 2


def test_large_listing_comes_in_chunks_without_loss(fuse: FuseDaemon) -> None:
    # ~40 entries fit one readdirplus reply: 400 jobs take many chunks resumed by cookie
    fuse.sh("for i in $(seq 400); do echo -n \"job$i:* * * * *:true\" > $M/clone || exit 1; done",
            timeout=180)
    names = fuse.sh("ls -f $M/jobs").stdout.split()
    names = [n for n in names if n not in (".", "..")]
    assert len(names) == 400 and set(names) == {f"job{i}" for i in range(1, 401)}
    listing = fuse.sh("ls -l $M/jobs | tail -n +2").stdout.splitlines()
    assert len(listing) == 400 and all(line.startswith("dr") for line in listing)


def test_a_job_may_use_the_mount_that_runs_it(fuse: FuseDaemon) -> None:
    # The job's process goes through the kernel back to the same trio loop: no deadlock.
    m = fuse.mountpoint
    command = f"wc -c < {m}/jobs/selfref/cmd; echo -n 'child:* * * * *:true' > {m}/clone"
    write(m / "clone", f"selfref:* * * * *:{command}".encode())
    write(m / "jobs/selfref/ctl", b"run")
    size = len(command) + 1
    wait_until(lambda: f":{size}\n" in (m / "jobs/selfref/log").read_text(), what="the run")
    # the log line arrives while the run goes on: its clone write is done once the run has ended
    wait_until(lambda: "last_result: exit 0\n" in (m / "jobs/selfref/status").read_text(),
               what="the run's end")
    assert sorted(os.listdir(m / "jobs")) == ["child", "selfref"]


def test_the_echo_cat_example_script_works_on_fuse(fuse: FuseDaemon) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "jobs.sh"
    ex = f"sh {script} $M"
    fuse.sh(f"{ex} add tick '0/1 * * * * ? *' 'echo tock' && {ex} start tick")
    assert fuse.sh(f"{ex} list").stdout.split() == ["tick", "started"]
    wait_until(lambda: ":tock" in fuse.sh(f"{ex} show tick").stdout, what="a run shown")
    fuse.sh(f"{ex} edit tick cmd 'echo tack' && {ex} stop tick")
    assert "cmd:      echo tack" in fuse.sh(f"{ex} show tick").stdout
    fuse.sh(f"{ex} delete tick")
    assert fuse.sh(f"{ex} list").stdout == ""
