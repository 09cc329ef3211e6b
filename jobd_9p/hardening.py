"""The limit and access options shared by ``jobd`` and ``jobd-fuse``: one argparse group, parsed
into one ``Hardening`` value the commands compose with.

Rules this module keeps:
1. Every limit of ``Limits`` and every access control has a flag here; defaults are ``Limits()``'s
   (and no allow list, no read-only, no user switch).
2. All validation happens at parse time (bad CIDR, bad mode, unknown user, ``--run-as`` without
   root): the command exits with a usage error before it opens anything.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from jobd_core import ReadOnlyNamespace, RunAs

from ._access import AllowList, parse_socket_mode
from ._limits import (
    DEFAULT_FRAME_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_FIDS,
    DEFAULT_MAX_OUTSTANDING,
    DEFAULT_MAX_SEND_BUFFER,
    Limits,
)

# Flags taking a value, for Go-style ``-flag=value`` rewriting in ``jobd``'s command line.
VALUE_FLAGS = frozenset({
    "max-connections", "max-fids", "max-outstanding", "max-send-buffer", "frame-timeout",
    "idle-timeout", "max-jobs", "allow", "socket-mode", "run-as",
})  # fmt: skip
BOOL_FLAGS = frozenset({"read-only"})


@dataclass(frozen=True)
class Hardening:
    """What the limit and access flags asked for."""

    limits: Limits
    allow: AllowList | None
    socket_mode: int | None
    read_only: bool
    run_as: RunAs | None
    max_jobs: int | None

    def namespace(self, namespace: Any) -> Any:
        """``namespace`` as the fronts should serve it (read-only with ``--read-only``)."""
        return ReadOnlyNamespace(namespace) if self.read_only else namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the "limits and access" flags to ``parser``."""
    g = parser.add_argument_group("limits and access (9P has no authentication: the network "
                                  "and these flags are the boundary)")  # fmt: skip
    g.add_argument("--allow", metavar="CIDR[,CIDR...]",
                   help="accept TCP connections only from these networks (others are closed "
                   "at accept and logged); default: anyone who reaches --fsaddr")
    g.add_argument("--socket-mode", metavar="MODE",
                   help="mode of the --fsaddr unix:PATH socket file, e.g. 0660")
    g.add_argument("--read-only", action="store_true",
                   help="serve listing and reading only: every change fails with EROFS "
                   "(a monitoring mount)")
    g.add_argument("--run-as", metavar="USER",
                   help="run job processes as USER (name or uid; jobd must run as root)")
    g.add_argument("--max-jobs", type=int, metavar="N",
                   help="refuse creating jobs beyond N ('too many jobs', ENOSPC); default none")
    g.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, metavar="N",
                   help=f"9P connections at once (default {DEFAULT_MAX_CONNECTIONS})")
    g.add_argument("--max-fids", type=int, default=DEFAULT_MAX_FIDS, metavar="N",
                   help=f"fids per 9P connection, beyond: EMFILE (default {DEFAULT_MAX_FIDS})")
    g.add_argument("--max-outstanding", type=int, default=DEFAULT_MAX_OUTSTANDING, metavar="N",
                   help="requests in flight per 9P connection before reading pauses "
                   f"(default {DEFAULT_MAX_OUTSTANDING})")
    g.add_argument("--max-send-buffer", type=int, default=DEFAULT_MAX_SEND_BUFFER,
                   metavar="BYTES", help="unread reply bytes before a client is cut off "
                   f"(default {DEFAULT_MAX_SEND_BUFFER})")
    g.add_argument("--frame-timeout", type=float, default=DEFAULT_FRAME_TIMEOUT,
                   metavar="SECONDS", help="time a 9P frame may take to arrive completely; "
                   f"0: no limit (default {DEFAULT_FRAME_TIMEOUT:g})")
    g.add_argument("--idle-timeout", type=float, default=0.0, metavar="SECONDS",
                   help="close 9P connections idle this long; 0: never (the default)")


def from_args(args: argparse.Namespace) -> Hardening:
    """The ``Hardening`` the parsed flags ask for.

    Raises:
        ValueError: a bad value (network, mode, user, limit), or ``--run-as`` without root.
    """
    if args.max_jobs is not None and args.max_jobs < 0:
        raise ValueError("--max-jobs must not be negative")
    try:
        limits = Limits(
            max_connections=args.max_connections, max_fids=args.max_fids,
            max_outstanding=args.max_outstanding, max_send_buffer=args.max_send_buffer,
            frame_timeout=args.frame_timeout or None, idle_timeout=args.idle_timeout or None,
        )  # fmt: skip
    except ValueError as exc:
        raise ValueError(str(exc).replace("_", "-").join(("--", ""))) from None
    return Hardening(
        limits=limits,
        allow=AllowList.parse(args.allow) if args.allow is not None else None,
        socket_mode=parse_socket_mode(args.socket_mode) if args.socket_mode else None,
        read_only=args.read_only,
        run_as=RunAs.lookup(args.run_as) if args.run_as else None,
        max_jobs=args.max_jobs,
    )
