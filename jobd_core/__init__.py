"""jobd_core: the transport-agnostic heart of jobd (jobs, file tree, schedule, scheduler, store).

Fronts (``jobd_9p``, ``jobd_fuse``) import this package; it imports neither of them.

What a front uses::

    async with open_core(CoreConfig(dbdir=Path("/var/lib/jobd"))) as core:
        ns = core.namespace            # Namespace: .root (id 1), .node(id) -> Node (NotFound)
        node.stat()                    # Stat: id, name, kind, mode, size (true length), version...
        node.lookup(name), node.children(), node.children_after(cookie), node.parent()
        node.entries_after(cookie)     # DirEntry(id, name, kind, version): listings, no nodes built
        handle = await node.open(OpenMode(read=..., write=..., truncate=...))
        await handle.read(offset, count); await handle.write(offset, data); await handle.close()
        await node.truncate(0); await node.remove(); await node.create(...)  # PermissionDenied
        core.metrics / metrics_of(namespace)  # Metrics: fronts count requests; /stats renders it

Every failure is a ``JobdError`` subclass carrying ``errno`` and a readable ``message``.
"""

from ._core import DB_NAME, Core, CoreConfig, open_core
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
    ReadOnlyFileSystem,
    StorageError,
    TooBig,
)
from ._metrics import Family, Metrics, Sample, metrics_of, render_families
from ._model import Job, JobRuntime, JobSettings
from ._node import DirEntry, Handle, Kind, Node, OpenMode, Stat
from ._readonly import ReadOnlyNamespace
from ._registry import Registry
from ._runas import RunAs
from ._sqlite import SqliteStore
from ._store import JobRecord, LogBatch, LogExtent, Store
from ._tree import Namespace

__all__ = [
    "DB_NAME",
    "AccessDenied",
    "Busy",
    "Core",
    "CoreConfig",
    "DirEntry",
    "Exists",
    "Family",
    "Handle",
    "InvalidArgument",
    "IsADirectory",
    "Job",
    "JobRecord",
    "JobRuntime",
    "JobSettings",
    "JobdError",
    "Kind",
    "LogBatch",
    "LogExtent",
    "Metrics",
    "Namespace",
    "NoSpace",
    "Node",
    "NotADirectory",
    "NotEmpty",
    "NotFound",
    "NotSupported",
    "OpenMode",
    "PermissionDenied",
    "ReadOnlyFileSystem",
    "ReadOnlyNamespace",
    "Registry",
    "RunAs",
    "Sample",
    "SqliteStore",
    "Stat",
    "StorageError",
    "Store",
    "TooBig",
    "metrics_of",
    "open_core",
    "render_families",
]
