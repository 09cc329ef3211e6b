"""The one error vocabulary of jobd.

Rules this module keeps:
1. Every failure the core reports to a client is a ``JobdError`` subclass carrying a POSIX errno
   and a readable message. Fronts translate it in exactly one place each (9P error string / errno,
   FUSE errno).
2. Messages are for people: they say what was wrong with the input, never how the core is built.
"""

from __future__ import annotations

import errno as _errno


class JobdError(Exception):
    """Root of every error the core raises on purpose.

    Attributes:
        errno: the POSIX errno a front should report (``.u``/``.L`` 9P, FUSE).
        message: readable text (the 9P2000 error string).
    """

    errno: int = _errno.EIO

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(JobdError):
    errno = _errno.ENOENT


class Exists(JobdError):
    errno = _errno.EEXIST


class InvalidArgument(JobdError, ValueError):
    errno = _errno.EINVAL


class PermissionDenied(JobdError):
    errno = _errno.EPERM


class AccessDenied(JobdError):
    errno = _errno.EACCES


class Busy(JobdError):
    errno = _errno.EBUSY


class IsADirectory(JobdError):
    errno = _errno.EISDIR


class NotADirectory(JobdError):
    errno = _errno.ENOTDIR


class NotEmpty(JobdError):
    errno = _errno.ENOTEMPTY


class NoSpace(JobdError):
    errno = _errno.ENOSPC


class NotSupported(JobdError):
    errno = _errno.EOPNOTSUPP


class ReadOnlyFileSystem(JobdError):
    """A change refused because the tree is served read-only (``--read-only``)."""

    errno = _errno.EROFS


class TooBig(JobdError):
    errno = _errno.EFBIG


class StorageError(JobdError):
    errno = _errno.EIO
