"""The one place where failures become 9P error replies.

Rules this module keeps:
1. A ``JobdError`` from the core keeps its readable message on every dialect that carries text
   (9P2000 ``Rerror.ename``, .u ``Rerror.ename`` + ``errno``) and its errno on .u/.L.
2. Protocol misuse found by the session (unknown fid, bad offsets, ...) is a ``SessionError``: the
   same shape (message + errno), raised by the session and translated here too.
3. Anything else is a bug: the session logs it with its traceback and the client gets EIO.
"""

from __future__ import annotations

import errno as _errno

from jobd_core import JobdError

from .wire import Dialect, Message, Rerror, Rlerror


class SessionError(Exception):
    """A request the session refuses before (or instead of) touching the core.

    Attributes:
        errno: the POSIX errno for .u/.L replies.
        message: the readable text for 9P2000/.u replies.
    """

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.message = message
        self.errno = errno

    def __str__(self) -> str:
        return self.message


def describe(exc: BaseException) -> tuple[str, int]:
    """The (readable message, errno) a client is told for ``exc``.

    ``JobdError`` and ``SessionError`` carry both; anything else is an internal failure
    reported as EIO with a generic text (its details go to the server's log, not the client).
    """
    if isinstance(exc, JobdError | SessionError):
        return exc.message, exc.errno
    return "internal server error", _errno.EIO


def error_reply(tag: int, exc: BaseException, dialect: Dialect | None) -> Message:
    """The error reply for ``exc`` in ``dialect`` (None: not negotiated yet, answer as 9P2000).

    9P2000 gets ``Rerror(ename)``, .u ``Rerror(ename, errno)``, .L ``Rlerror(errno)``.
    """
    message, errno = describe(exc)
    return errno_reply(tag, message, errno, dialect)


# Longest error text sent, in bytes: with the header it stays below the smallest msize agreed to.
MAX_ENAME = 400


def errno_reply(tag: int, message: str, errno: int, dialect: Dialect | None) -> Message:
    """The error reply carrying ``message``/``errno`` in ``dialect`` (text cut to MAX_ENAME)."""
    if dialect is Dialect.L:
        return Rlerror(tag=tag, ecode=errno)
    raw = message.encode("utf-8", "replace")
    if len(raw) > MAX_ENAME:
        message = raw[: MAX_ENAME - 3].decode("utf-8", "ignore") + "..."
    if dialect is Dialect.U:
        return Rerror(tag=tag, ename=message, errno=errno)
    return Rerror(tag=tag, ename=message)
