"""``jobd``: the core served over 9P. Composition only: options, logging, core, server, signals.

Rules this module keeps:
1. The original's command lines keep working: Go's single-dash flags (``-dbdir=/x``, ``-debug``,
   ``-v=2``) and its glog flags are rewritten to this parser's spelling before parsing
   (``normalize_argv``); glog flags map to Python logging where they mean something.
2. SIGTERM/SIGINT stop accepting connections, let running jobs end within the grace period
   (the core's shutdown) and exit 0; more of them meanwhile change nothing. SIGHUP reopens the
   log file (after rotation).
3. The bound address is announced once listening (log line, ``--port-file``, ``--ready-fd``), so
   ``--fsaddr 127.0.0.1:0`` works for tests and scripts without races.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import trio

from jobd_core import CoreConfig, JobdError, open_core

from . import hardening
from ._logging import LOG_FORMATS, configure_logging, make_formatter, watch_signals
from ._metrics_http import parse_metrics_addr, serve_metrics
from .server import is_wildcard, open_listeners, parse_fsaddr, serve_9p
from .session import DEFAULT_MAX_MSIZE, MIN_MSIZE

logger = logging.getLogger("jobd")

DEFAULT_DBDIR = "/var/lib/jobd"
DEFAULT_FSADDR = "127.0.0.1:5640"
_BOOL_FLAGS = frozenset({"debug", "alsologtostderr", "logtostderr"}) | hardening.BOOL_FLAGS
_VALUE_FLAGS = frozenset({
    "dbdir", "fsaddr", "v", "log-level", "ready-fd", "port-file", "shutdown-grace", "max-msize",
    "log-limit", "output-limit", "log-dir", "stderrthreshold", "vmodule", "log-backtrace-at",
    "log-format", "metrics-addr",
}) | hardening.VALUE_FLAGS  # fmt: skip
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_GLOG_SEVERITY = {"INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
                  "FATAL": logging.CRITICAL}  # fmt: skip


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """Rewrite Go flag spellings (``-name``, ``-name=value``, ``-bool=false``, glog's
    underscores) into this parser's ``--name value`` form; leave everything else alone."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            out.append(arg)
            out.extend(args)
            break
        if not arg.startswith("-") or arg == "-":
            out.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        key = name.replace("_", "-")
        if key in _BOOL_FLAGS:
            if not eq or value in _TRUE:
                out.append(f"--{key}")
            elif value in _FALSE:
                out.append(f"--no-{key}")
            else:
                out.append(arg)  # argparse reports it
        elif key in _VALUE_FLAGS:
            out.append("-v" if key == "v" else f"--{key}")
            if eq:
                out.append(value)
            else:
                out.append(next(args, ""))  # the value, verbatim (it may start with '-')
        elif key in ("h", "help"):
            out.append("--help")
        else:
            out.append(arg)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``jobd`` argument parser (after ``normalize_argv``)."""
    p = argparse.ArgumentParser(
        prog="jobd",
        description="cron as a file system: serve jobd's job tree over 9P "
        "(mount -t 9p -o trans=tcp,port=5640 HOST /mnt).",
        epilog="Go-style single-dash flags (-dbdir=/x, -fsaddr=..., -debug, -v=2) and the "
        "original's glog flags are accepted too.",
    )
    p.add_argument("--dbdir", type=Path, default=Path(DEFAULT_DBDIR),
                   help=f"location of the jobs database (default {DEFAULT_DBDIR})")
    p.add_argument("--fsaddr", default=DEFAULT_FSADDR,
                   help=f"listen address HOST:PORT or unix:PATH (default {DEFAULT_FSADDR}; "
                   "port 0 picks a free port)")
    p.add_argument("--debug", action=argparse.BooleanOptionalAction, default=False,
                   help="trace every 9P message in and out on stderr")
    p.add_argument("-v", dest="v", type=int, default=0, metavar="N",
                   help="verbosity: 1 or more logs at DEBUG level")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="log level (overrides -v; default info)")
    p.add_argument("--port-file", type=Path,
                   help="write the bound address here once listening")
    p.add_argument("--ready-fd", type=int, metavar="FD",
                   help="write the bound address and a newline to this fd once listening")
    p.add_argument("--shutdown-grace", type=float, default=10.0, metavar="SECONDS",
                   help="on SIGTERM/SIGINT, how long running jobs may take before they are "
                   "killed (default 10)")
    p.add_argument("--max-msize", type=int, default=DEFAULT_MAX_MSIZE,
                   help=f"largest 9P msize agreed to (default {DEFAULT_MAX_MSIZE})")
    p.add_argument("--log-limit", type=int, default=1024 * 1024, metavar="BYTES",
                   help="log kept per job (default 1 MiB)")
    p.add_argument("--output-limit", type=int, default=64 * 1024, metavar="BYTES",
                   help="output kept per run (default 64 KiB)")
    p.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                   help="text (default, for people) or json (one object per line, for log "
                   "shippers)")
    p.add_argument("--metrics-addr", metavar="HOST:PORT",
                   help="also serve /stats (Prometheus text) over HTTP here, e.g. "
                   "127.0.0.1:9164")
    hardening.add_arguments(p)
    glog = p.add_argument_group("glog compatibility (the original's logging flags)")
    glog.add_argument("--logtostderr", action=argparse.BooleanOptionalAction, default=False,
                      help="log to stderr only (also the default without --log-dir)")
    glog.add_argument("--alsologtostderr", action=argparse.BooleanOptionalAction,
                      default=False, help="with --log-dir: log to stderr as well")
    glog.add_argument("--log-dir", type=Path, help="also write logs to DIR/jobd.log")
    glog.add_argument("--stderrthreshold", default="INFO",
                      help="with --log-dir: least severity copied to stderr "
                      "(0-3 or INFO/WARNING/ERROR/FATAL)")
    glog.add_argument("--vmodule", default="", help="accepted and ignored")
    glog.add_argument("--log-backtrace-at", default="", help="accepted and ignored")
    return p


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a ``jobd`` command line (Go spellings included).

    Raises:
        SystemExit: bad usage (status 2) or ``--help`` (status 0).
    """
    parser = build_parser()
    args = parser.parse_args(normalize_argv(argv))
    try:
        parse_fsaddr(args.fsaddr)
        args.stderr_level = _glog_severity(args.stderrthreshold)
        if args.metrics_addr is not None:
            parse_metrics_addr(args.metrics_addr)
        if args.max_msize < MIN_MSIZE:
            raise ValueError(f"--max-msize must be at least {MIN_MSIZE}")
        args.hardening = hardening.from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def _glog_severity(text: str) -> int:
    if text.isdigit():
        return list(_GLOG_SEVERITY.values())[min(int(text), 3)]
    try:
        return _GLOG_SEVERITY[text.upper()]
    except KeyError:
        raise ValueError(f"bad -stderrthreshold {text!r}") from None


def setup_logging(args: argparse.Namespace) -> None:
    """Logging to stderr (and ``--log-dir``; SIGHUP reopens it), as ``--log-format`` says, the
    level from ``--log-level``/``-v``, the 9P trace on stderr with ``--debug``."""
    if args.log_level:
        level = getattr(logging, args.log_level.upper())
    else:
        level = logging.DEBUG if args.v >= 1 else logging.INFO
    to_file = args.log_dir is not None and not args.logtostderr
    configure_logging(
        level=level, log_format=args.log_format,
        log_file=args.log_dir / "jobd.log" if to_file else None,
        stderr_level=args.stderr_level
        if args.log_dir is not None and not (args.logtostderr or args.alsologtostderr)
        else logging.NOTSET,
    )
    trace = logging.getLogger("jobd_9p.trace")
    trace.handlers.clear()
    trace.propagate = False
    if args.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s 9p %(message)s")
                             if args.log_format == "text" else make_formatter("json"))
        trace.addHandler(handler)
        trace.setLevel(logging.DEBUG)
    else:
        trace.setLevel(logging.WARNING)
    if args.vmodule or args.log_backtrace_at:
        logger.debug("-vmodule and -log_backtrace_at are accepted and ignored")


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; the exit status.

    Raises:
        OSError: the address cannot be bound or the database directory created.
        JobdError: the database cannot be opened.
    """
    if is_wildcard(args.fsaddr):
        logger.warning("listening on all interfaces (%s): whoever reaches this port can run "
                       "commands as user %s", args.fsaddr, _user())  # fmt: skip
    guard: hardening.Hardening = args.hardening
    listeners = await open_listeners(args.fsaddr, socket_mode=guard.socket_mode)
    config = CoreConfig(dbdir=args.dbdir, log_limit=args.log_limit,
                        output_limit=args.output_limit, shutdown_grace=args.shutdown_grace,
                        max_jobs=guard.max_jobs, run_as=guard.run_as)  # fmt: skip
    _log_access(guard)
    stopped = trio.Event()

    def stop(name: str) -> None:
        logger.info("%s received: stopping (running jobs get %gs)", name, args.shutdown_grace)
        stopped.set()

    async with trio.open_nursery() as signals:  # signals are held until the core is closed
        await signals.start(watch_signals, stop)
        async with open_core(config) as core, trio.open_nursery() as nursery:
            serve = partial(serve_9p, guard.namespace(core.namespace), listeners,
                            max_msize=args.max_msize, debug=args.debug, limits=guard.limits,
                            allow=guard.allow)  # fmt: skip
            addresses: list[str] = await nursery.start(serve)
            _announce(args, addresses)
            if args.metrics_addr is not None:
                await nursery.start(serve_metrics, args.metrics_addr, core.metrics)
            await stopped.wait()
            nursery.cancel_scope.cancel()
        signals.cancel_scope.cancel()
    _remove_unix_socket(args.fsaddr)
    logger.info("stopped")
    return 0


def _log_access(guard: hardening.Hardening) -> None:
    if guard.read_only:
        logger.info("read-only: listing and reading only, every change fails with EROFS")
    if guard.allow is not None:
        logger.info("accepting TCP connections only from %s", guard.allow)
    if guard.run_as is not None:
        logger.info("job processes run as %s", guard.run_as.describe())
    elif os.geteuid() == 0:
        logger.warning("running as root without --run-as: jobs run as root")


def _announce(args: argparse.Namespace, addresses: list[str]) -> None:
    logger.info("serving 9P on %s (dbdir %s)", ", ".join(addresses), args.dbdir)
    text = "\n".join(addresses) + "\n"
    if args.port_file is not None:
        tmp = args.port_file.with_name(args.port_file.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.port_file)  # readers never see a partial file
    if args.ready_fd is not None:
        with os.fdopen(args.ready_fd, "w") as ready:
            ready.write(text)


def _remove_unix_socket(fsaddr: str) -> None:
    path = parse_fsaddr(fsaddr)
    if isinstance(path, str):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def main(argv: Sequence[str] | None = None) -> int:
    """The ``jobd`` console script; returns the exit status (2: usage, 1: could not serve)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args)
    try:
        return trio.run(run, args)
    except (OSError, JobdError, BaseExceptionGroup) as exc:
        reason = _expected_failure(exc)
        if reason is None:
            raise
        logger.error("cannot serve on %s with dbdir %s: %s", args.fsaddr, args.dbdir, reason)
        return 1


def _expected_failure(exc: BaseException) -> BaseException | None:
    """The failure to report when ``exc`` (possibly a nursery's group) holds only environment
    errors (OSError: address in use, dbdir unwritable; JobdError: database unusable), else None."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_expected_failure(e) for e in exc.exceptions]
        return leaves[0] if leaves and all(leaf is not None for leaf in leaves) else None
    return exc if isinstance(exc, OSError | JobdError) else None
