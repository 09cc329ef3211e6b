"""Per-server and per-connection limits of the 9P front, and how refusals are reported.

Rules this module keeps:
1. Every limit has a default that a normal client (the Linux kernel, jobctl, diod's tools) never
   reaches, and a command-line flag (``jobd --help``).
2. A refusal is a clear error to the client (an errno and a text naming the limit) or, where no
   reply is possible (a client that does not read, a frame that never completes), the end of that
   one connection. Other connections are never affected.
3. Each kind of refusal is logged once per connection at WARNING (later ones at DEBUG), so a
   hostile client cannot flood the log; every one is counted
   (``jobd_9p_limit_refusals_total{limit}``), so an operator sees how often.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import SessionError

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_MAX_OUTSTANDING = 128  # requests in flight per connection; reading pauses beyond
DEFAULT_MAX_FIDS = 65536  # fids per connection (the kernel holds one per cached dentry and uid)
DEFAULT_MAX_SEND_BUFFER = 4 * 1024 * 1024  # reply bytes not yet taken by the kernel
DEFAULT_FRAME_TIMEOUT = 60.0  # seconds a started frame may take to arrive completely


@dataclass(frozen=True)
class Limits:
    """The limits one 9P server applies (``None`` timeouts: never).

    Attributes:
        max_connections: connections open at once; more are closed at accept (logged).
        max_fids: fids per connection; Tattach/Twalk/Txattrwalk beyond it fail with EMFILE.
        max_outstanding: requests in flight per connection; reading pauses beyond (logged once).
        max_send_buffer: bytes of replies waiting for a client that does not read them; past
            it the connection is closed.
        frame_timeout: seconds a frame may take from its first byte to its last; then the
            connection is closed.
        idle_timeout: seconds without a request while nothing is in flight; then the connection
            is closed. Off by default (the Linux client keeps idle mounts open).
    """

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_fids: int = DEFAULT_MAX_FIDS
    max_outstanding: int = DEFAULT_MAX_OUTSTANDING
    max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER
    frame_timeout: float | None = DEFAULT_FRAME_TIMEOUT
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_fids", "max_outstanding", "max_send_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("frame_timeout", "idle_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")


class LimitExceeded(SessionError):
    """A request refused because a limit was reached; ``kind`` names the limit."""

    def __init__(self, kind: str, message: str, err: int) -> None:
        super().__init__(message, err)
        self.kind = kind


def too_many_fids(limit: int) -> LimitExceeded:
    """The refusal of a new fid beyond ``limit``."""
    return LimitExceeded("fids", f"too many fids on this connection (limit {limit})", errno.EMFILE)


@dataclass
class RefusalLog:
    """Logs each kind of refusal of one connection once at WARNING, then at DEBUG, and counts
    every one with ``count(kind)``."""

    peer: str
    seen: set[str] = field(default_factory=set)
    count: Callable[[str], None] | None = None

    def refused(self, kind: str, message: str) -> None:
        """Log ``message`` (about limit ``kind``) for this connection, and count it."""
        if self.count is not None:
            self.count(kind)
        level = logging.DEBUG if kind in self.seen else logging.WARNING
        self.seen.add(kind)
        logger.log(level, "9P connection from %s: %s", self.peer, message,
                   extra={"peer": self.peer, "limit": kind})  # fmt: skip
