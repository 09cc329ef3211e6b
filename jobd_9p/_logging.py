"""Logging set-up of ``jobd`` and ``jobd-fuse``: text or JSON lines, files reopened on SIGHUP.

Rules this module keeps:
1. Text (the default) is for people: ``time LEVEL logger: message``. JSON is for log shippers: one
   object per line with ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, every field
   the record got through ``extra=`` and, for an exception, ``exc``.
2. Log files are opened by ``ReopeningFileHandler``: ``reopen_log_files()`` (the commands call it
   on SIGHUP) closes and reopens them by name, so ``logrotate``'s move-then-HUP loses no line.
3. ``watch_signals`` holds SIGTERM/SIGINT/SIGHUP for as long as it runs: SIGHUP reopens the log
   files, the first SIGTERM/SIGINT starts the shutdown and later ones are logged and ignored (a
   second Ctrl-C must not kill jobd in the middle of its jobs' grace period).
4. A refused request is logged once, at a level that says how unusual it is (``refusal_level``):
   routine answers (not found, no such attribute) at DEBUG, invalid input at WARNING, the rest
   (permission, limits, busy...) at INFO.
"""

from __future__ import annotations

import errno
import json
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "ReopeningFileHandler",
    "configure_logging",
    "make_formatter",
    "refusal_level",
    "reopen_log_files",
    "watch_signals",
]

logger = logging.getLogger(__name__)

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has: whatever else a record carries came in through ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName"}

_ROUTINE_ERRNOS = frozenset({errno.ENOENT, errno.ENODATA, errno.EOPNOTSUPP, errno.ENOSYS})


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module rules)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS:
                out[key if key not in out else f"extra_{key}"] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``--log-format`` (``text`` or ``json``).

    Raises:
        ValueError: an unknown format.
    """
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {log_format!r} (expected one of {LOG_FORMATS})")


class ReopeningFileHandler(logging.FileHandler):
    """A file handler that can close and reopen its file by name (after log rotation)."""

    def __init__(self, filename: Path | str) -> None:
        super().__init__(filename, mode="a", encoding="utf-8")

    def reopen(self) -> None:
        """Close the current file and open the name again (a moved file stays with its mover)."""
        self.acquire()
        try:
            if self.stream is not None:
                self.stream.flush()
                self.stream.close()
            self.stream = self._open()
        finally:
            self.release()


def configure_logging(
    *,
    level: int,
    log_format: str = "text",
    log_file: Path | None = None,
    stderr: bool = True,
    stderr_level: int = logging.NOTSET,
) -> None:
    """Replace the root logger's handlers: stderr (unless ``stderr`` is false, from
    ``stderr_level`` up) and ``log_file`` (created with its directory), both in ``log_format``.

    Raises:
        ValueError: an unknown format.
        OSError: the log file cannot be opened.
    """
    formatter = make_formatter(log_format)
    handlers: list[logging.Handler] = []
    if stderr:
        to_stderr = logging.StreamHandler(sys.stderr)
        to_stderr.setLevel(stderr_level)
        handlers.append(to_stderr)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(ReopeningFileHandler(log_file))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.setLevel(level)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)


def reopen_log_files() -> int:
    """Reopen every ``ReopeningFileHandler`` of every logger; returns how many (for the log)."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    count = 0
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, ReopeningFileHandler):
                handler.reopen()
                count += 1
    return count


def refusal_level(code: int, *, invalid_input: bool = False) -> int:
    """The level at which a request refused with errno ``code`` is logged (module rule 3)."""
    if code in _ROUTINE_ERRNOS:
        return logging.DEBUG
    return logging.WARNING if invalid_input else logging.INFO


async def watch_signals(
    stop: Callable[[str], None], *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Until cancelled: on SIGHUP reopen the log files; on the first SIGTERM or SIGINT call
    ``stop`` with the signal's name; log and ignore the ones after it (module rule 3)."""
    stopping = False
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                logger.info("SIGHUP received: %d log files reopened", reopen_log_files())
            elif stopping:
                logger.info("%s received: already stopping", name)
            else:
                stopping = True
                stop(name)
