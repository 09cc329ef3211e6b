"""``jobctl``: manage a jobd over 9P2000 through py9p, where no 9P mount is possible.

Rules this module keeps:
1. Every request goes through py9p's synchronous client (9P2000); the server's error string is shown
   to the user as the server wrote it (``jobctl: job exists: hello``), exit status 1.
2. Usage errors (and ``next`` given an invalid expression) exit 2; nothing is sent for them.
3. ``next`` is local: it needs no server.
4. Reads loop until a short read (count < requested): the server's files are synthetic, so a short
   read is the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

import py9p

from ._jobctl_conn import Address, CommandError, Connection, UsageError, parse_addr

__all__ = ["Address", "CommandError", "Connection", "UsageError", "build_parser", "main",
           "parse_addr", "parse_status", "run"]  # fmt: skip

DEFAULT_ADDR = "127.0.0.1:5640"
CTL_VERBS = {"start": "start", "stop": "stop", "run": "run", "kill": "kill", "rm": "delete"}
JOB_FILES = ("ctl", "cmd", "schedule", "log", "status")
FOLLOW_INTERVAL = 0.5  # seconds between polls of ``log -f``


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def parse_status(text: str) -> dict[str, str]:
    """``key: value`` (or ``key value``) lines of a status file, keys lower-cased with ``_``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or " " in key.strip():
            key, _, value = line.strip().partition(" ")
        fields[key.strip().lower().replace(" ", "_").replace("-", "_")] = value.strip()
    return fields


def _next_run(status: dict[str, str]) -> str:
    for key in ("next_run", "next", "next_fire"):
        if status.get(key):
            return status[key]
    return "-"


# --- commands -------------------------------------------------------------------------------------


def cmd_ls(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    rows = []
    for entry in sorted(conn.list_dir("jobs"), key=lambda d: d.name):
        try:
            status = parse_status(_text(conn.read_file(f"jobs/{entry.name}/status")))
            state = status.get("state") or _text(conn.read_file(f"jobs/{entry.name}/ctl")).strip()
        except py9p.RemoteError:
            continue  # deleted while we listed
        rows.append((entry.name, state, _next_run(status)))
    width = max((len(r[0]) for r in rows), default=0)
    for name, state, next_run in rows:
        out.write(f"{name:<{width}}  {state:<7}  {next_run}\n")
    return 0


def cmd_add(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    conn.write_file("clone", f"{args.name}:{args.schedule}:{args.command}".encode())
    return 0


def cmd_ctl(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    conn.write_file(f"jobs/{args.name}/ctl", CTL_VERBS[args.verb].encode())
    return 0


def cmd_set(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    """A ctl message with arguments (a per-job setting), e.g. ``jobctl set backup timeout 30m``."""
    conn.write_file(f"jobs/{args.name}/ctl", " ".join(args.message).encode())
    return 0


def cmd_cat(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    _write_bytes(out, conn.read_file(f"jobs/{args.name}/{args.file}"))
    return 0


def cmd_status(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    if args.name:
        _write_bytes(out, conn.read_file(f"jobs/{args.name}/status"))
        return 0
    for i, entry in enumerate(sorted(conn.list_dir("jobs"), key=lambda d: d.name)):
        try:
            data = conn.read_file(f"jobs/{entry.name}/status")
        except py9p.RemoteError:
            continue
        out.write(("\n" if i else "") + f"== {entry.name} ==\n")
        _write_bytes(out, data if data.endswith(b"\n") or not data else data + b"\n")
    return 0


def cmd_stats(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    _write_bytes(out, conn.read_file("stats"))
    return 0


def cmd_log(conn: Connection, args: argparse.Namespace, out: TextIO) -> int:
    path = f"jobs/{args.name}/log"
    if not args.follow:
        _write_bytes(out, conn.read_file(path))
        return 0
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum))
    try:
        with conn.opened(path, int(py9p.OREAD)) as fid:
            return _follow(conn, fid, args, out, interrupted)
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow(
    conn: Connection, fid: int, args: argparse.Namespace, out: TextIO, interrupted: list[int]
) -> int:
    """Print the log from ``fid`` as it grows, like ``tail -f``, until SIGINT or the job is deleted.

    SIGINT only sets a flag, so a request in flight completes and the fid is clunked: the exit is
    clean (status 130, as a shell expects after Ctrl-C).
    """
    offset = 0
    while not interrupted:
        try:
            data = conn.read_at(fid, offset)
        except py9p.RemoteError:
            if conn.job_exists(args.name):
                raise
            print(f"jobctl: {args.name}: job deleted", file=sys.stderr)
            return 0
        if data:
            offset += len(data)
            _write_bytes(out, data)
        deadline = time.monotonic() + args.interval
        while not interrupted and time.monotonic() < deadline:
            time.sleep(min(0.05, args.interval))
    return 130


def _write_bytes(out: TextIO, data: bytes) -> None:
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data)
        buffer.flush()
    else:
        out.write(_text(data))


def cmd_next(args: argparse.Namespace, out: TextIO) -> int:
    """Print the next fire times of a schedule; local, no server."""
    from jobd_core import schedule as schedule_mod

    start = _parse_from(args.start) if args.start else datetime.now().astimezone()
    try:
        sched = schedule_mod.parse(args.expr)
        times = sched.iter_after(start)
        for _, when in zip(range(args.n), times, strict=False):
            out.write(when.isoformat() + "\n")
    except ValueError as exc:  # ScheduleError is a ValueError
        raise UsageError(str(exc)) from exc
    return 0


def _parse_from(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(
            f"bad --from {text!r}: expected RFC 3339, e.g. 2026-01-31T09:00:00Z"
        ) from exc
    return when if when.tzinfo else when.astimezone()


# --- command line ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit 2, with our prefix
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``jobctl`` command line."""
    p = _Parser(prog="jobctl", description="Manage jobs of a jobd over 9P.")
    p.add_argument(
        "--addr",
        default=os.environ.get("JOBD_ADDR") or DEFAULT_ADDR,
        help=f"jobd's address, HOST:PORT or unix:PATH (default $JOBD_ADDR or {DEFAULT_ADDR})",
    )
    sub = p.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    # --addr is accepted after the command too (`jobctl ls --addr X`); the global one is default.
    common = _Parser(add_help=False)
    common.add_argument("--addr", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common])
        return parser

    command("ls", "list jobs with state and next run")
    add = command("add", "create a job (stopped)")
    add.add_argument("name")
    add.add_argument("schedule")
    add.add_argument("command")
    for verb, word in CTL_VERBS.items():
        command(verb, f"write {word!r} to the job's ctl").add_argument("name")
    setting = command("set", "write a setting to the job's ctl (e.g. set NAME timeout 30m)")
    setting.add_argument("name")
    setting.add_argument("message", nargs="+", metavar="SETTING")
    cat = command("cat", "print one file of a job")
    cat.add_argument("name")
    cat.add_argument("file", choices=JOB_FILES)
    log = command("log", "print a job's log")
    log.add_argument("name")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    log.add_argument("--interval", type=float, default=FOLLOW_INTERVAL, help=argparse.SUPPRESS)
    status = command("status", "print a job's status (all jobs without NAME)")
    status.add_argument("name", nargs="?")
    command("stats", "print jobd's metrics (Prometheus text format)")
    nxt = command("next", "print a schedule's next fire times (local)")
    nxt.add_argument("expr")
    nxt.add_argument("-n", type=_positive_int, default=5, help="how many (default 5)")
    nxt.add_argument("--from", dest="start", metavar="RFC3339", help="start after this instant")
    return p


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


_COMMANDS = {"ls": cmd_ls, "add": cmd_add, "set": cmd_set, "cat": cmd_cat, "log": cmd_log,
             "status": cmd_status, "stats": cmd_stats}  # fmt: skip


def _check_args(args: argparse.Namespace) -> None:
    """Reject what the server would misread rather than refuse."""
    if args.subcommand == "add":
        for what in ("name", "schedule"):
            if ":" in getattr(args, what):
                raise UsageError(f"a job {what} cannot contain ':' (clone splits on it)")
        return  # the server judges the rest of a definition, in its own words
    name = getattr(args, "name", None)
    if name is not None and ("/" in name or name in ("", ".", "..")):
        raise UsageError(f"bad job name {name!r}")  # it would walk somewhere else


def run(argv: Sequence[str], out: TextIO) -> int:
    """Run ``jobctl`` with ``argv``; return the exit status.

    Raises:
        UsageError: bad command line (exit 2).
        CommandError: the server or the connection failed (exit 1).
    """
    args = build_parser().parse_args(argv)
    if args.subcommand == "next":
        return cmd_next(args, out)
    _check_args(args)
    conn = Connection.open(parse_addr(args.addr))
    try:
        handler = _COMMANDS.get(args.subcommand, cmd_ctl)
        if handler is cmd_ctl:
            args.verb = args.subcommand
        return handler(conn, args, out)
    except py9p.RemoteError as exc:
        raise CommandError(str(exc)) from exc
    except (py9p.NinePError, OSError, EOFError) as exc:
        raise CommandError(f"connection to jobd at {args.addr} failed: {exc}") from exc
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``jobctl [--addr ADDR] COMMAND ...``."""
    # `jobctl log x | head` ends quietly; the previous disposition comes back on return, so a
    # program calling main() in-process (the tests) is not left to die of a later broken pipe.
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout)
    except UsageError as exc:
        print(f"jobctl: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"jobctl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGPIPE, previous)


if __name__ == "__main__":
    sys.exit(main())
