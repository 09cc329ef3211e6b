"""jobd_core: the transport-agnostic heart of jobd (jobs, file tree, schedule, scheduler, store).

Fronts (``jobd_9p``, ``jobd_fuse``) import this package; it imports neither of them.
"""

from ._errors import (
    AccessDenied,
    Busy,
    Exists,
    InvalidArgument,
    IsADirectory,
    JobdError,
    NoSpace,
    NotADirectory,
    NotEmpty,
    NotFound,
    NotSupported,
    PermissionDenied,
    StorageError,
    TooBig,
)
from ._node import Handle, Kind, Node, OpenMode, Stat

__all__ = [
    "AccessDenied",
    "Busy",
    "Exists",
    "Handle",
    "InvalidArgument",
    "IsADirectory",
    "JobdError",
    "Kind",
    "NoSpace",
    "Node",
    "NotADirectory",
    "NotEmpty",
    "NotFound",
    "NotSupported",
    "OpenMode",
    "PermissionDenied",
    "Stat",
    "StorageError",
    "TooBig",
]
