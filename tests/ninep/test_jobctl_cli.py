"""jobctl's command line without a server: parsing, usage errors, ``next``, connection refused."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import datetime

import pytest

from jobd_9p import jobctl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = jobctl.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5640", jobctl.Address(host="127.0.0.1", port=5640)),
        ("localhost:1", jobctl.Address(host="localhost", port=1)),
        ("[::1]:5640", jobctl.Address(host="::1", port=5640)),
        ("unix:/run/jobd.sock", jobctl.Address(path="/run/jobd.sock")),
    ],
)
def test_parse_addr(text: str, expected: jobctl.Address) -> None:
    assert jobctl.parse_addr(text) == expected


@pytest.mark.parametrize("text", ["", "host", "host:", ":5640", "h:0", "h:70000", "h:x", "unix:"])
def test_parse_addr_rejects(text: str) -> None:
    with pytest.raises(jobctl.UsageError):
        jobctl.parse_addr(text)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["add", "x", "* * * * *"],
        ["start"],
        ["cat", "x", "nosuchfile"],
        ["next"],
        ["next", "* * * * *", "-n", "0"],
        ["next", "* * * * *", "--from", "yesterday"],
        ["add", "a:b", "* * * * *", "true"],  # clone would split the name
        ["start", "a/b"],
        ["--addr", "nonsense", "ls"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(argv, capsys)
    assert status == 2
    assert out == ""
    assert "jobctl: " in err


def test_next_prints_n_times_in_rfc3339(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        ["next", "TZ=UTC 0 0/5 * * * ? *", "-n", "3", "--from", "2026-01-01T00:00:00Z"], capsys
    )
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert [datetime.fromisoformat(x).isoformat() for x in lines] == lines
    assert [datetime.fromisoformat(x).strftime("%H:%M") for x in lines] == [
        "00:05",
        "00:10",
        "00:15",
    ]


def test_next_every_second_is_strictly_after_the_start(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        ["next", "0/1 * * * * ? *", "--from", "2026-03-01T10:00:00.5+00:00"], capsys
    )
    assert status == 0
    first = datetime.fromisoformat(out.splitlines()[0])
    assert first == datetime.fromisoformat("2026-03-01T10:00:01+00:00")
    assert len(out.splitlines()) == 5  # the default


@pytest.mark.parametrize("expr", ["*/0 * * * *", "5-1 * * * *", "0 0 30 2 *", "a b c", ""])
def test_next_invalid_expression_exits_2_with_the_reason(
    expr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["next", expr], capsys)
    assert status == 2
    assert out == ""
    assert err.startswith("jobctl: ") and len(err.strip()) > len("jobctl: ")


def test_next_needs_no_server(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        ["--addr", f"127.0.0.1:{_free_port()}", "next", "@daily", "-n", "2"], capsys
    )
    assert status == 0 and len(out.splitlines()) == 2


def test_connection_refused_is_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    addr = f"127.0.0.1:{_free_port()}"
    status, _, err = run(["--addr", addr, "ls"], capsys)
    assert status == 1
    assert err == (
        f"jobctl: cannot connect to jobd at {addr}: connection refused"
        " (is jobd running? use --addr or JOBD_ADDR)\n"
    )


def test_missing_unix_socket(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    status, _, err = run(["--addr", f"unix:{tmp_path}/none.sock", "ls"], capsys)
    assert status == 1 and "no such socket" in err


def test_addr_after_the_command() -> None:
    assert jobctl.build_parser().parse_args(["ls", "--addr", "h:1"]).addr == "h:1"
    assert jobctl.build_parser().parse_args(["--addr", "h:2", "ls"]).addr == "h:2"
    assert jobctl.build_parser().parse_args(["--addr", "h:2", "ls", "--addr", "h:3"]).addr == "h:3"


def test_env_addr_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBD_ADDR", "unix:/x.sock")
    assert jobctl.build_parser().parse_args(["ls"]).addr == "unix:/x.sock"
    monkeypatch.delenv("JOBD_ADDR")
    assert jobctl.build_parser().parse_args(["ls"]).addr == "127.0.0.1:5640"


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jobd_9p.jobctl", "next", "@hourly", "-n", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert datetime.fromisoformat(done.stdout.strip()).minute == 0
    helped = subprocess.run(
        [sys.executable, "-m", "jobd_9p.jobctl", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0
    for word in ("ls", "add", "start", "stop", "run", "kill", "rm", "cat", "log", "status", "next"):
        assert word in helped.stdout


def test_main_gives_back_the_sigpipe_disposition_it_found() -> None:
    # main() lets `jobctl log x | head` die quietly of SIGPIPE, but a caller running it in-process
    # (this test suite) must not be left to die of a later broken socket.
    import signal

    before = signal.getsignal(signal.SIGPIPE)
    jobctl.main(["next", "@daily", "-n", "1"])
    assert signal.getsignal(signal.SIGPIPE) == before
