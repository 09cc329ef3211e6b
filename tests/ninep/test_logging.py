"""Logging: JSON lines with ``extra=`` fields, text by default, ``--log-dir`` reopened on SIGHUP
(log rotation), refusal levels."""

from __future__ import annotations

import errno
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _jobd_process import jobd_command

from jobd_9p._logging import (
    JsonFormatter,
    ReopeningFileHandler,
    configure_logging,
    make_formatter,
    refusal_level,
    reopen_log_files,
)


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("jobd.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_has_the_fields_and_extras() -> None:
    line = JsonFormatter().format(_record("job %s: %s", "a", "exit 3", job="a", errno=5,
                                          level="shadowed"))  # fmt: skip
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["message"] == "job a: exit 3"
    assert (obj["level"], obj["logger"]) == ("WARNING", "jobd.test")
    assert (obj["job"], obj["errno"]) == ("a", 5)
    assert obj["extra_level"] == "shadowed"  # an extra never hides a standard field
    assert obj["time"].endswith("Z") and "T" in obj["time"]
    assert not {"args", "msg", "levelno", "pathname"} & set(obj)


def test_json_carries_the_traceback_and_odd_values() -> None:
    obj = json.loads(JsonFormatter().format(_record("x", exc=True, where=Path("/tmp"))))
    assert "RuntimeError: boom" in obj["exc"] and obj["where"] == "/tmp"
    assert "\n" not in JsonFormatter().format(_record("two\nlines"))


def test_text_is_the_default_and_unknown_formats_fail() -> None:
    assert make_formatter("text").format(_record("hello")).endswith(" WARNING jobd.test: hello")
    with pytest.raises(ValueError):
        make_formatter("xml")


def test_refusal_levels() -> None:
    assert refusal_level(errno.ENOENT) == logging.DEBUG
    assert refusal_level(errno.EOPNOTSUPP) == logging.DEBUG
    assert refusal_level(errno.EINVAL, invalid_input=True) == logging.WARNING
    assert refusal_level(errno.EACCES) == logging.INFO
    assert refusal_level(errno.EMFILE) == logging.INFO


def test_reopen_after_rotation(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    log_file = tmp_path / "logs" / "jobd.log"
    try:
        configure_logging(level=logging.INFO, log_format="json", log_file=log_file, stderr=False)
        logging.getLogger("jobd.test").info("before")
        log_file.rename(tmp_path / "logs" / "jobd.log.1")
        logging.getLogger("jobd.test").info("moved")  # still goes to the moved file
        assert reopen_log_files() == 1
        logging.getLogger("jobd.test").info("after")
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            if isinstance(handler, ReopeningFileHandler):
                handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    old = [json.loads(line)["message"] for line in (tmp_path / "logs" / "jobd.log.1").open()]
    new = [json.loads(line)["message"] for line in log_file.open()]
    assert (old, new) == (["before", "moved"], ["after"])


def _wait(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert proc.poll() is None, f"jobd exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # a real process: no fake clock applies


def test_jobd_reopens_log_dir_on_sighup(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    proc = subprocess.Popen(
        [*jobd_command(), "-dbdir", str(tmp_path / "db"), "-fsaddr=127.0.0.1:0",
         "-log_dir", str(logs), "-logtostderr=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        current = logs / "jobd.log"
        _wait(lambda: current.exists() and "serving 9P" in current.read_text(), proc, "start")
        current.rename(logs / "jobd.log.1")
        proc.send_signal(signal.SIGHUP)
        _wait(lambda: current.exists() and "log files reopened" in current.read_text(), proc,
              "the reopened log")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rotated = (logs / "jobd.log.1").read_text()
    assert "serving 9P" in rotated and "reopened" not in rotated
    text = current.read_text()
    assert " INFO jobd: stopped" in text  # human-readable text is the default
