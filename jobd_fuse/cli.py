"""``jobd-fuse``: jobd mounted through FUSE (and served over 9P) from one process, one trio loop.

Composition only: parse options, open the core, start the FUSE mount and the 9P server in one
nursery, unmount and shut down cleanly on SIGINT/SIGTERM (or when the mount is unmounted
from outside).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

import trio

from jobd_9p import hardening
from jobd_9p._logging import LOG_FORMATS, configure_logging, watch_signals
from jobd_9p._metrics_http import parse_metrics_addr, serve_metrics
from jobd_9p.remote import RemoteUnavailable, remote_namespace
from jobd_9p.server import is_wildcard, open_listeners, serve_9p
from jobd_core import CoreConfig, metrics_of, open_core

from ._mount import MountError, MountFailed, check_mountpoint, mount_options, serve_fuse
from ._operations import JobdOperations, NamespaceLike

logger = logging.getLogger("jobd_fuse.cli")

DEFAULT_FSADDR = "127.0.0.1:5640"
DEFAULT_DBDIR = "/var/lib/jobd"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobd-fuse",
        description="Mount jobd's job tree at MOUNTPOINT through FUSE; unless --no-9p, serve "
        "the same tree over 9P too. Runs in the foreground (as `fusermount3 -u MOUNTPOINT`, "
        "SIGINT or SIGTERM end it); --daemon detaches once the mount is ready.",
    )
    parser.add_argument("mountpoint", metavar="MOUNTPOINT", type=Path)
    parser.add_argument("--dbdir", default=DEFAULT_DBDIR, type=Path,
                        help=f"jobs database directory (default {DEFAULT_DBDIR})")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--fsaddr", default=DEFAULT_FSADDR,
                       help=f"9P listen address HOST:PORT or unix:PATH (default {DEFAULT_FSADDR})")
    where.add_argument("--no-9p", action="store_true", help="serve FUSE only")
    where.add_argument("--remote", metavar="HOST:PORT",
                       help="bridge to a jobd running elsewhere over 9P instead of a local core")
    parser.add_argument("-o", dest="options", action="append", default=[], metavar="OPT[,OPT]",
                        help="FUSE mount options, e.g. -o allow_other")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-f", "--foreground", action="store_true", default=True,
                      help="stay in the foreground (the default)")
    mode.add_argument("--daemon", action="store_true",
                      help="detach once mounted (logs go to --log-file, else nowhere)")
    parser.add_argument("--log-file", type=Path,
                        help="append logs to this file (reopened on SIGHUP, for log rotation)")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                        help="text (default) or json (one object per line, for log shippers)")
    parser.add_argument("--metrics-addr", metavar="HOST:PORT",
                        help="serve /stats (Prometheus text) over HTTP here too")
    parser.add_argument("--shutdown-grace", type=float, default=10.0, metavar="SECONDS",
                        help="on SIGTERM/SIGINT, how long running jobs may take before their "
                        "process groups are killed (default 10)")
    parser.add_argument("--debug", action="store_true",
                        help="debug logging, including libfuse's request trace")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--no-recover", action="store_true",
                        help="refuse to start on a stale mount instead of unmounting it lazily")
    hardening.add_arguments(parser)
    return parser


def _fuse_options(raw: Sequence[str], debug: bool, read_only: bool = False) -> set[str]:
    extra = [opt.strip() for item in raw for opt in item.split(",")]
    return mount_options([*extra, "ro"] if read_only else extra, debug=debug)


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if (args.debug or args.verbose) else logging.INFO
    configure_logging(level=level, log_format=args.log_format, log_file=args.log_file,
                      stderr=args.log_file is None)  # fmt: skip


Runner = Callable[[argparse.Namespace, Callable[[], None], trio.Event], Awaitable[None]]


async def _run_until_signalled(
    runner: Runner, args: argparse.Namespace, ready: Callable[[], None]
) -> None:
    """Run ``runner`` with SIGTERM/SIGINT/SIGHUP held to the end (``watch_signals``): the first
    SIGTERM/SIGINT sets the event ``runner`` stops serving on; the core then shuts down with its
    grace, and further signals meanwhile are logged, not fatal (a second Ctrl-C would otherwise
    kill the process in the middle of the jobs' grace and leave their groups running)."""
    stopping = trio.Event()

    def stop(name: str) -> None:
        logger.info("%s: unmounting and shutting down", name)
        stopping.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(watch_signals, stop)
        await runner(args, ready, stopping)
        nursery.cancel_scope.cancel()


async def _cancel_when(event: trio.Event, cancel_scope: trio.CancelScope) -> None:
    await event.wait()
    cancel_scope.cancel()


class StartupError(Exception):
    """jobd-fuse cannot start; the message says why."""


async def _serve(
    args: argparse.Namespace,
    namespace: NamespaceLike,
    listeners: Sequence[trio.SocketListener],
    ready: Callable[[], None],
    stopping: trio.Event,
) -> None:
    """Mount, serve 9P on ``listeners``, then wait for ``stopping`` or an external unmount."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_cancel_when, stopping, nursery.cancel_scope)

        async def fuse_then_stop(
            *, task_status: trio.TaskStatus[JobdOperations] = trio.TASK_STATUS_IGNORED
        ) -> None:
            await serve_fuse(
                namespace, args.mountpoint,
                options=_fuse_options(args.options, args.debug, args.hardening.read_only),
                recover_stale=not args.no_recover, task_status=task_status,
            )
            nursery.cancel_scope.cancel()  # unmounted from outside: the process is done

        await nursery.start(fuse_then_stop)
        if listeners:
            guard: hardening.Hardening = args.hardening
            serve = partial(serve_9p, namespace, listeners, limits=guard.limits,
                            allow=guard.allow)  # fmt: skip
            addresses = await nursery.start(serve)
            logger.info("serving 9P at %s", ", ".join(addresses))
        if args.metrics_addr is not None:
            await nursery.start(serve_metrics, args.metrics_addr, metrics_of(namespace))
        ready()


async def _open_9p(fsaddr: str, socket_mode: int | None) -> list[trio.SocketListener]:
    if is_wildcard(fsaddr):
        logger.warning("9P on every interface (%s): whoever reaches the port can run commands "
                       "as this user", fsaddr)
    try:
        return await open_listeners(fsaddr, socket_mode=socket_mode)
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot serve 9P on {fsaddr}: {exc}") from None


async def _run_local(
    args: argparse.Namespace, ready: Callable[[], None], stopping: trio.Event
) -> None:
    guard: hardening.Hardening = args.hardening
    listeners = [] if args.no_9p else await _open_9p(args.fsaddr, guard.socket_mode)
    config = CoreConfig(dbdir=args.dbdir, max_jobs=guard.max_jobs, run_as=guard.run_as,
                        shutdown_grace=args.shutdown_grace)
    try:
        async with open_core(config) as core:
            await _serve(args, guard.namespace(core.namespace), listeners, ready, stopping)
    finally:
        for listener in listeners:
            await listener.aclose()


async def _run_remote(
    args: argparse.Namespace, ready: Callable[[], None], stopping: trio.Event
) -> None:
    try:
        async with remote_namespace(args.remote) as namespace:
            logger.info("bridging jobd at %s", args.remote)
            await _serve(args, args.hardening.namespace(namespace), [], ready, stopping)
    except* RemoteUnavailable as group:
        raise MountError(f"--remote {args.remote}: {_leaves(group)[0]}") from None


def _daemonize() -> Callable[[str], None]:
    """Fork; the parent waits for the child's word and exits with it. Returns the notifier."""
    read_fd, write_fd = os.pipe()
    if os.fork() > 0:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            word = pipe.read().decode(errors="replace")
        if word == "ok":
            os._exit(0)
        sys.stderr.write(f"jobd-fuse: {word or 'failed to start'}\n")
        os._exit(1)
    os.close(read_fd)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    pipe_w = os.fdopen(write_fd, "wb")

    def notify(word: str) -> None:
        if not pipe_w.closed:
            pipe_w.write(word.encode())
            pipe_w.close()

    return notify


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobd-fuse``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.hardening = hardening.from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.metrics_addr is not None:
        try:
            parse_metrics_addr(args.metrics_addr)
        except ValueError as exc:
            build_parser().error(str(exc))
    notify: Callable[[str], None] = lambda word: None  # noqa: E731
    if args.daemon:
        notify = _daemonize()
    _setup_logging(args)
    runner = _run_remote if args.remote else _run_local
    failures: list[str] = []
    try:
        if not args.remote:  # fail before opening the database; serve_fuse checks again
            check_mountpoint(args.mountpoint.absolute(), recover=not args.no_recover)
        trio.run(_run_until_signalled, runner, args, lambda: notify("ok"))
    except* MountFailed as group:
        failures += [f"cannot mount {args.mountpoint}: {exc}" for exc in _leaves(group)]
    except* MountError as group:
        failures += [str(exc) for exc in _leaves(group)]
    except* StartupError as group:
        failures += [str(exc) for exc in _leaves(group)]
    if failures:
        notify("; ".join(failures))
        for text in failures:
            sys.stderr.write(f"jobd-fuse: {text}\n")
        return 1
    notify("stopped before the mount was ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
