"""``jobctl`` as a user runs it (a subprocess) against a real ``jobd`` subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _jobd_process import JobdProcess

EVERY_SECOND = "0/1 * * * * ? *"
JOBCTL = [sys.executable, "-m", "jobd_9p.jobctl"]


@pytest.fixture(scope="module")
def jobd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobdProcess]:
    base = tmp_path_factory.mktemp("jobd")
    proc = JobdProcess(base / "db", base / "jobd.log")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log_text()


Jobctl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def jobctl(jobd: JobdProcess) -> Iterator[Jobctl]:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*JOBCTL, "--addr", jobd.addr, *args], capture_output=True, text=True, timeout=30
        )
        if check:
            assert done.returncode == 0, (args, done.stderr)
        return done

    yield run
    for name in run("ls").stdout.split("\n"):
        if name.strip():
            run("rm", name.split()[0], check=False)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)  # a real jobd firing real jobs: no fake clock applies


def test_walkthrough(jobctl: Jobctl) -> None:
    assert jobctl("ls").stdout == ""
    jobctl("add", "hello", EVERY_SECOND, "echo hello world")
    assert jobctl("ls").stdout.split() == ["hello", "stopped", "-"]
    assert jobctl("cat", "hello", "cmd").stdout == "echo hello world\n"
    assert jobctl("cat", "hello", "schedule").stdout == EVERY_SECOND + "\n"
    assert jobctl("cat", "hello", "ctl").stdout.strip() == "stopped"
    jobctl("start", "hello")
    name, state, *next_run = jobctl("ls").stdout.split()
    assert (name, state) == ("hello", "started") and next_run != ["-"]
    wait_for(lambda: jobctl("log", "hello").stdout.count(":hello world\n") >= 2)
    log = jobctl("log", "hello").stdout.splitlines()
    assert log[0].endswith(":started")
    assert "state: started" in jobctl("status", "hello").stdout
    assert "next: " in jobctl("cat", "hello", "schedule").stdout
    jobctl("stop", "hello")
    assert jobctl("log", "hello").stdout.splitlines()[-1].endswith(":stopped")
    jobctl("rm", "hello")
    assert jobctl("ls").stdout == ""


def test_status_of_every_job(jobctl: Jobctl) -> None:
    jobctl("add", "a1", "@daily", "true")
    jobctl("add", "b2", "@hourly", "true")
    out = jobctl("status").stdout
    assert out.index("== a1 ==") < out.index("== b2 ==")
    assert out.count("state: stopped") == 2


def test_run_and_kill(jobctl: Jobctl) -> None:
    jobctl("add", "once", "@yearly", "echo ran once")
    jobctl("run", "once")
    wait_for(lambda: "ran once" in jobctl("log", "once").stdout)
    jobctl("add", "slow", "@yearly", "sleep 30")
    jobctl("run", "slow")
    wait_for(lambda: "running: -" not in jobctl("status", "slow").stdout)
    jobctl("kill", "slow")
    wait_for(lambda: "killed by SIG" in jobctl("log", "slow").stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "bad", "*/0 * * * *", "true"), "jobctl: invalid schedule"),
        (("add", "bad", "0 0 30 2 *", "true"), "jobctl: invalid schedule"),
        (("add", "a b", "@daily", "true"), "jobctl: invalid job name"),
        (("add", "", "@daily", "true"), "jobctl: "),
        (("start", "nosuch"), "jobctl: "),
        (("cat", "nosuch", "cmd"), "jobctl: "),
        (("log", "nosuch"), "jobctl: "),
    ],
)
def test_server_errors_as_the_server_wrote_them(
    jobctl: Jobctl, args: tuple[str, ...], message: str
) -> None:
    done = jobctl(*args, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert jobctl("ls").stdout == ""  # nothing created


def test_duplicate_is_refused_in_the_servers_words(jobctl: Jobctl) -> None:
    jobctl("add", "hello", "@daily", "true")
    done = jobctl("add", "hello", "@hourly", "false", check=False)
    assert (done.returncode, done.stderr) == (1, "jobctl: job exists: hello\n")
    assert jobctl("cat", "hello", "cmd").stdout == "true\n"  # unchanged


def test_unknown_ctl_verb_cannot_be_sent(jobctl: Jobctl) -> None:
    jobctl("add", "v", "@daily", "true")
    assert jobctl("frobnicate", "v", check=False).returncode == 2


def test_command_with_colons_and_spaces(jobctl: Jobctl) -> None:
    jobctl("add", "colons", "@daily", "echo a:b:c  d")
    assert jobctl("cat", "colons", "cmd").stdout == "echo a:b:c  d\n"


def _follow(jobd: JobdProcess, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*JOBCTL, "--addr", jobd.addr, "log", name, "-f", "--interval", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _printed(follower: subprocess.Popen[str], ending: str, count: int) -> list[str]:
    """The follower's lines, read as it prints them, until ``count`` of them end with ``ending``."""
    assert follower.stdout is not None
    shown: list[str] = []
    while sum(line.endswith(ending) for line in shown) < count:
        line = follower.stdout.readline()
        assert line, f"the follower ended early: {shown}"
        shown.append(line)
    return shown


def test_log_follow_ends_when_the_job_is_deleted(jobctl: Jobctl, jobd: JobdProcess) -> None:
    jobctl("add", "tail", EVERY_SECOND, "echo tick")
    jobctl("start", "tail")
    follower = _follow(jobd, "tail")
    # Delete once the follower itself has printed two runs (a check of the log by another reader
    # raced the follower's next poll: CI saw it print only one).
    shown = _printed(follower, ":tick\n", 2)
    jobctl("rm", "tail")
    rest, err = follower.communicate(timeout=10)
    out = "".join(shown) + rest
    assert follower.returncode == 0
    assert out.splitlines()[0].endswith(":started")
    assert out.count(":tick\n") >= 2
    assert err == "jobctl: tail: job deleted\n"


def test_log_follow_exits_cleanly_on_sigint(jobctl: Jobctl, jobd: JobdProcess) -> None:
    jobctl("add", "sig", EVERY_SECOND, "echo tock")
    jobctl("start", "sig")
    follower = _follow(jobd, "sig")
    shown = _printed(follower, ":tock\n", 1)
    follower.send_signal(signal.SIGINT)
    rest, err = follower.communicate(timeout=10)
    out = "".join(shown) + rest
    assert follower.returncode == 130
    assert err == ""  # no traceback
    assert ":tock\n" in out


def test_unix_socket_address(tmp_path: Path) -> None:
    sock = tmp_path / "jobd.sock"
    proc = JobdProcess(tmp_path / "db", tmp_path / "jobd.log")
    proc.addr = f"unix:{sock}"
    proc.start()
    try:
        env = {**os.environ, "JOBD_ADDR": f"unix:{sock}"}
        run = [*JOBCTL]
        subprocess.run([*run, "add", "u", "@daily", "true"], env=env, check=True, timeout=30)
        listing = subprocess.run([*run, "ls"], env=env, capture_output=True, text=True, timeout=30)
        assert listing.stdout.split() == ["u", "stopped", "-"]
    finally:
        assert proc.stop() == 0


def test_set_writes_a_setting_and_status_shows_it(jobctl: Jobctl) -> None:
    jobctl("add", "backup", "@daily", "true")
    jobctl("set", "backup", "timeout", "30m")
    jobctl("set", "backup", "env", "GREETING=hello world")
    status = jobctl("status", "backup").stdout
    assert "env.GREETING: hello world" in status
    assert any(line.startswith("timeout: ") and "30m" in line for line in status.splitlines())
    bad = jobctl("set", "backup", "timeout", "soon", check=False)
    assert bad.returncode == 1 and "invalid duration 'soon'" in bad.stderr
    assert jobctl("status", "backup").stdout == status  # nothing changed
