"""jobd_fuse: the FUSE front of jobd (pyfuse3).

In-process over ``jobd_core`` or bridged to a remote jobd over 9P (``jobd_9p.remote``). The
operations serve any namespace offering ``root`` and ``node(id)``; ``serve_fuse`` mounts one in
the caller's trio loop. The ``jobd-fuse`` command (``jobd_fuse.cli``) composes it with the core
and the 9P server.
"""

from ._mount import MountError, MountFailed, check_mountpoint, mount_options, serve_fuse
from ._operations import JobdOperations, NamespaceLike, entry_attributes, open_mode

__all__ = [
    "JobdOperations",
    "MountError",
    "MountFailed",
    "NamespaceLike",
    "check_mountpoint",
    "entry_attributes",
    "mount_options",
    "open_mode",
    "serve_fuse",
]
