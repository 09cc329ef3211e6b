"""``jobd``'s command line: Go/glog spellings, parsing and logging set-up (no process started)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jobd_9p.cli import normalize_argv, parse_args, setup_logging


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-dbdir=/x"], ["--dbdir", "/x"]),
        (["-dbdir", "/x"], ["--dbdir", "/x"]),
        (["--dbdir=/x"], ["--dbdir", "/x"]),
        (["-fsaddr=0.0.0.0:5640"], ["--fsaddr", "0.0.0.0:5640"]),
        (["-debug"], ["--debug"]),
        (["-debug=true"], ["--debug"]),
        (["-debug=1"], ["--debug"]),
        (["-debug=false"], ["--no-debug"]),
        (["-v=2"], ["-v", "2"]),
        (["-v", "2"], ["-v", "2"]),
        (["-v2"], ["-v2"]),
        (["-alsologtostderr"], ["--alsologtostderr"]),
        (["-logtostderr=false"], ["--no-logtostderr"]),
        (["-log_dir=/tmp/l"], ["--log-dir", "/tmp/l"]),
        (["-log_dir="], ["--log-dir", ""]),
        (["-stderrthreshold=0"], ["--stderrthreshold", "0"]),
        (["-vmodule="], ["--vmodule", ""]),
        (["-log_backtrace_at=:0"], ["--log-backtrace-at", ":0"]),
        (["-help"], ["--help"]),
        (["-h"], ["--help"]),
        (["--dbdir", "-weird-dir"], ["--dbdir", "-weird-dir"]),
        (["-unknown=1"], ["-unknown=1"]),
        (["-debug=maybe"], ["-debug=maybe"]),
        (["--", "-dbdir=/x"], ["--", "-dbdir=/x"]),
    ],
)
def test_normalize_argv(argv: list[str], expected: list[str]) -> None:
    assert normalize_argv(argv) == expected


def test_the_originals_flag_set_parses() -> None:
    args = parse_args([
        "-alsologtostderr=false", "-dbdir=/var/lib/jobd", "-debug=false",
        "-fsaddr=0.0.0.0:5640", "-log_backtrace_at=:0", "-log_dir=", "-logtostderr=false",
        "-stderrthreshold=0", "-v=0", "-vmodule=",
    ])  # fmt: skip
    assert args.dbdir == Path("/var/lib/jobd") and args.fsaddr == "0.0.0.0:5640"
    assert args.debug is False and args.v == 0 and args.stderr_level == logging.INFO


def test_defaults() -> None:
    args = parse_args([])
    assert args.dbdir == Path("/var/lib/jobd") and args.fsaddr == "127.0.0.1:5640"
    assert not args.debug and args.port_file is None and args.ready_fd is None


@pytest.mark.parametrize("argv", [["--fsaddr", "nohost"], ["-v=x"], ["-stderrthreshold=LOUD"],
                                  ["--bogus"], ["-debug=maybe"],
                                  ["--max-msize", "100"]])  # fmt: skip
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert "usage: jobd" in capsys.readouterr().err


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(["-help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--dbdir", "--fsaddr", "--debug", "-v N", "--port-file", "--ready-fd",
                 "--log-dir", "--stderrthreshold", "--logtostderr", "--alsologtostderr"):
        assert flag in out


def test_logging_setup(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    trace = logging.getLogger("jobd_9p.trace")
    try:
        setup_logging(parse_args(["-v=1", "-debug", f"-log_dir={tmp_path}",
                                  "-stderrthreshold=ERROR"]))  # fmt: skip
        assert root.level == logging.DEBUG
        assert trace.isEnabledFor(logging.DEBUG) and not trace.propagate
        stderr_handlers = [h for h in root.handlers if not isinstance(h, logging.FileHandler)]
        assert stderr_handlers[0].level == logging.ERROR
        logging.getLogger("jobd").info("hello file")
        for h in root.handlers:
            h.flush()
        assert "hello file" in (tmp_path / "jobd.log").read_text()
        setup_logging(parse_args(["--log-level", "warning"]))
        assert root.level == logging.WARNING and not trace.isEnabledFor(logging.DEBUG)
    finally:
        for h in root.handlers:
            if h not in saved[0]:
                h.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        trace.handlers.clear()
        trace.propagate = True
        trace.setLevel(logging.NOTSET)
