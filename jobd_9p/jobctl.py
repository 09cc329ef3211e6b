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
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import py9p

DEFAULT_ADDR = "127.0.0.1:5640"
CTL_VERBS = {"start": "start", "stop": "stop", "run": "run", "kill": "kill", "rm": "delete"}
JOB_FILES = ("ctl", "cmd", "schedule", "log", "status")
FOLLOW_INTERVAL = 0.5  # seconds between polls of ``log -f``


class UsageError(Exception):
    """Bad command line; exit 2."""


class CommandError(Exception):
    """A failure to report as ``jobctl: MESSAGE``; exit 1."""


@dataclass(frozen=True, slots=True)
class Address:
    """Where jobd listens: TCP ``host``/``port`` or a unix socket ``path``."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"


def parse_addr(text: str) -> Address:
    """Parse ``HOST:PORT``, ``[V6]:PORT`` or ``unix:PATH``.

    Raises:
        UsageError: the address is malformed.
    """
    if text.startswith("unix:"):
        if not text[5:]:
            raise UsageError(f"bad address {text!r}: empty socket path")
        return Address(path=text[5:])
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad address {text!r}: expected HOST:PORT or unix:PATH")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Address(host=host, port=int(port))


class Connection:
    """One attached 9P2000 session with fid allocation, over py9p's client."""

    ROOT_FID = 0

    def __init__(self, client: py9p.Client) -> None:
        self._client = client
        self._next_fid = 1
        client.negotiate()
        client.attach(self.ROOT_FID)
        self.iounit = max(1, client.msize - py9p.IOHDRSZ)

    @classmethod
    def open(cls, addr: Address, *, timeout: float = 10.0) -> Connection:
        """Connect and attach.

        Raises:
            CommandError: the server cannot be reached or refused the session.
        """
        try:
            if addr.path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(addr.path)
            else:
                sock = socket.create_connection((addr.host, addr.port), timeout=timeout)
            sock.settimeout(None)  # ctl verbs such as kill may take the server a while
        except OSError as exc:
            raise CommandError(_connect_reason(addr, exc)) from exc
        try:
            return cls(py9p.Client(sock))
        except (py9p.NinePError, OSError, EOFError) as exc:
            sock.close()
            raise CommandError(f"cannot start a 9P session with {addr}: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    def _fid(self) -> int:
        fid = self._next_fid
        self._next_fid += 1
        return fid

    def walk(self, path: str) -> int:
        """Walk from the root to ``path`` into a new fid.

        Raises:
            py9p.RemoteError: the server's error for the first name that does not exist.
        """
        names = [p for p in path.split("/") if p]
        fid = self._fid()
        qids = self._client.walk(self.ROOT_FID, fid, names)
        if len(qids) == len(names):
            return fid
        # A walk failing after its first name answers with the qids walked, not an error: walk the
        # failing name alone from the prefix so the user sees the server's own error text.
        prefix = self._fid()
        self._client.walk(self.ROOT_FID, prefix, names[: len(qids)])
        try:
            self._client.walk(prefix, self._fid(), names[len(qids) : len(qids) + 1])
        finally:
            self._client.clunk(prefix)
        raise py9p.RemoteError(f"{'/'.join(names[: len(qids) + 1])}: file does not exist")

    @contextlib.contextmanager
    def opened(self, path: str, mode: int) -> Iterator[int]:
        fid = self.walk(path)
        try:
            self._client.open(fid, mode)
            yield fid
        finally:
            self._clunk_quietly(fid)

    def _clunk_quietly(self, fid: int) -> None:
        # The fid may already be gone with a deleted job; the clunk's failure changes nothing.
        with contextlib.suppress(py9p.NinePError, OSError, EOFError):
            self._client.clunk(fid)

    def read_at(self, fid: int, offset: int) -> bytes:
        """Everything from ``offset`` to the current end."""
        chunks: list[bytes] = []
        while True:
            data = self._client.read(fid, self.iounit, offset)
            chunks.append(data)
            offset += len(data)
            if len(data) < self.iounit:
                return b"".join(chunks)

    def read_file(self, path: str) -> bytes:
        with self.opened(path, int(py9p.OREAD)) as fid:
            return self.read_at(fid, 0)

    def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` in one open (one message per write for ctl-style files)."""
        with self.opened(path, int(py9p.OWRITE)) as fid:
            offset = 0
            while True:
                chunk = data[offset : offset + self.iounit]
                offset += self._client.write(fid, chunk, offset)
                if offset >= len(data):
                    return

    def list_dir(self, path: str) -> list[py9p.Dir]:
        """The entries of a directory, decoded from its packed stat reads."""
        raw = self.read_file(path)
        entries = []
        pos = 0
        while pos + 2 <= len(raw):
            size = int.from_bytes(raw[pos : pos + 2], "little") + 2
            entries.append(py9p.decode_dir(raw[pos : pos + size]))
            pos += size
        return entries

    def job_exists(self, name: str) -> bool:
        try:
            fid = self.walk(f"jobs/{name}")
        except py9p.RemoteError:
            return False
        self._clunk_quietly(fid)
        return True


def _connect_reason(addr: Address, exc: OSError) -> str:
    why = {
        errno.ECONNREFUSED: "connection refused",
        errno.ENOENT: "no such socket",
        errno.ETIMEDOUT: "timed out",
    }.get(exc.errno or 0, str(exc) or type(exc).__name__)
    if isinstance(exc, TimeoutError):
        why = "timed out"
    return f"cannot connect to jobd at {addr}: {why} (is jobd running? use --addr or JOBD_ADDR)"


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
    cat = command("cat", "print one file of a job")
    cat.add_argument("name")
    cat.add_argument("file", choices=JOB_FILES)
    log = command("log", "print a job's log")
    log.add_argument("name")
    log.add_argument("-f", "--follow", action="store_true", help="keep printing new entries")
    log.add_argument("--interval", type=float, default=FOLLOW_INTERVAL, help=argparse.SUPPRESS)
    status = command("status", "print a job's status (all jobs without NAME)")
    status.add_argument("name", nargs="?")
    nxt = command("next", "print a schedule's next fire times (local)")
    nxt.add_argument("expr")
    nxt.add_argument("-n", type=_positive_int, default=5, help="how many (default 5)")
    nxt.add_argument("--from", dest="start", metavar="RFC3339", help="start after this instant")
    return p


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


_COMMANDS = {"ls": cmd_ls, "add": cmd_add, "cat": cmd_cat, "log": cmd_log, "status": cmd_status}


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
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `jobctl log x | head` ends quietly
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


if __name__ == "__main__":
    sys.exit(main())
