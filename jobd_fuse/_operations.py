"""The pyfuse3 request handlers over any jobd namespace (the local core or a 9P-backed remote one).

Rules this module keeps:
1. inode == node id (the root node's id 1 is ``pyfuse3.ROOT_INODE``); fh == one core ``Handle``.
2. Every inode the kernel knows (lookup count > 0) has its ``Node`` object kept here until
   ``forget`` brings the count back to 0, so a deleted job's files keep answering ``getattr``
   with their last known values until the kernel lets go of them.
3. Entry timeouts and file attribute timeouts are 0 and synthetic files are opened with direct
   I/O: the kernel never serves a stale size or name, nor gates a read on a size. Directories
   (size 0, fixed mode) keep their attributes for ``DIR_ATTR_TIMEOUT``: with
   ``default_permissions`` the kernel checks every directory of a path on each walk.
4. ``readdir`` cookies are child ids (children come in ascending id order), so a listing stays
   consistent while jobs are created and deleted concurrently.
5. Handlers raise only ``FUSEError``. ``JobdError`` is translated in exactly one place
   (``_fuse_op``) to its errno; anything else is a bug: logged with its traceback, answered EIO.
6. Handlers only await the core; they never block the loop on disk or process work themselves.
7. A node that also offers fresh async variants (``astat``/``alookup``/``achildren``: the
   9P-backed remote namespace) is asked through them, so the bridge never serves a cached size.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat as stat_mod
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import pyfuse3
from pyfuse3 import FUSEError

from jobd_core import (
    Handle,
    InvalidArgument,
    JobdError,
    Kind,
    Node,
    NotFound,
    OpenMode,
    PermissionDenied,
    Stat,
    metrics_of,
)

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Ops = TypeVar("_Ops", bound="JobdOperations")

#: Seconds the kernel may cache attributes and entries: none, so sizes and names are never stale.
ATTR_TIMEOUT = 0.0
ENTRY_TIMEOUT = 0.0
#: Directories: their size is 0 and their mode fixed; a short cache spares a GETATTR per directory
#: per path walk (permission checks), and a removed one still vanishes at once (entries: 0).
DIR_ATTR_TIMEOUT = 1.0
_BLOCK = 4096


class NamespaceLike(Protocol):
    """What the FUSE front needs of a namespace: the local ``jobd_core`` one or a remote one."""

    @property
    def root(self) -> Node: ...

    def node(self, id: int) -> Node:
        """The node with this id.

        Raises:
            NotFound: no such node (never existed or removed).
        """
        ...


def _log_rejection(op: str, exc: JobdError) -> None:
    """Say why a request was refused: the kernel passes on only the errno."""
    extra = {"fuse_op": op, "errno": exc.errno}
    if isinstance(exc, NotFound):
        logger.debug("%s: %s", op, exc.message, extra=extra)
    elif isinstance(exc, InvalidArgument):
        logger.warning("%s rejected: %s", op, exc.message, extra=extra)
    else:
        logger.info("%s refused (%s): %s", op, errno.errorcode.get(exc.errno, exc.errno),
                    exc.message, extra=extra)


def _fuse_op(
    fn: Callable[Concatenate[_Ops, _P], Awaitable[_R]],
) -> Callable[Concatenate[_Ops, _P], Coroutine[Any, Any, _R]]:
    """The one place where core errors become FUSE errors (and bugs become EIO); every call is
    counted in the namespace's metrics (``jobd_fuse_operations_total``/``_errors_total``)."""

    @functools.wraps(fn)
    async def wrapper(self: _Ops, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        failed = True
        try:
            result = await fn(self, *args, **kwargs)
            failed = False
            return result
        except FUSEError:
            raise
        except JobdError as exc:
            _log_rejection(fn.__name__, exc)
            raise FUSEError(exc.errno) from None
        except Exception:
            logger.exception("FUSE %s failed unexpectedly", fn.__name__)
            raise FUSEError(errno.EIO) from None
        finally:
            self.metrics.fuse_operation(fn.__name__, failed=failed)

    return wrapper


async def fresh_stat(node: Node) -> Stat:
    """``node.stat()``, or its fresh async variant where the node has one (a remote node)."""
    astat = getattr(node, "astat", None)
    return await astat() if astat is not None else node.stat()


async def fresh_lookup(node: Node, name: str) -> Node:
    """``node.lookup(name)``, or its fresh async variant where the node has one (which also
    refreshes the child's ``stat()``)."""
    alookup = getattr(node, "alookup", None)
    return await alookup(name) if alookup is not None else node.lookup(name)


async def refresh_children(node: Node) -> None:
    """Re-list ``node`` now where it caches its listing (a remote node); else nothing to do."""
    achildren = getattr(node, "achildren", None)
    if achildren is not None:
        await achildren()


def entry_attributes(st: Stat) -> pyfuse3.EntryAttributes:
    """The FUSE attributes of a node's ``Stat`` (type bits added, true size, ns times)."""
    attrs = pyfuse3.EntryAttributes()
    is_dir = st.kind is Kind.DIR
    attrs.st_ino = st.id
    attrs.generation = 0
    attrs.entry_timeout = ENTRY_TIMEOUT
    attrs.attr_timeout = DIR_ATTR_TIMEOUT if is_dir else ATTR_TIMEOUT
    attrs.st_mode = (stat_mod.S_IFDIR if is_dir else stat_mod.S_IFREG) | (st.mode & 0o7777)
    attrs.st_nlink = 2 if is_dir else 1
    attrs.st_uid = st.uid
    attrs.st_gid = st.gid
    attrs.st_rdev = 0
    attrs.st_size = st.size
    attrs.st_blksize = _BLOCK
    attrs.st_blocks = (st.size + 511) // 512
    attrs.st_atime_ns = st.atime_ns
    attrs.st_mtime_ns = st.mtime_ns
    attrs.st_ctime_ns = st.ctime_ns
    return attrs


def open_mode(flags: int) -> OpenMode:
    """The core's open mode for ``open(2)`` flags."""
    access = flags & os.O_ACCMODE
    return OpenMode(
        read=access in (os.O_RDONLY, os.O_RDWR),
        write=access in (os.O_WRONLY, os.O_RDWR),
        truncate=bool(flags & os.O_TRUNC),
    )


class JobdOperations(pyfuse3.Operations):
    """FUSE requests served from a jobd namespace.

    Args:
        namespace: anything with ``root`` and ``node(id)`` (see ``NamespaceLike``).
    """

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(self, namespace: NamespaceLike) -> None:
        super().__init__()
        self._namespace = namespace
        self.metrics = metrics_of(namespace)  # the core's (a remote namespace: a private one)
        root = namespace.root
        if root.id != pyfuse3.ROOT_INODE:
            raise ValueError(f"root node id is {root.id}, FUSE needs {pyfuse3.ROOT_INODE}")
        self._root = root
        self._nodes: dict[int, Node] = {root.id: root}  # inodes the kernel holds
        self._lookups: dict[int, int] = {}
        self._handles: dict[int, tuple[Node, Handle]] = {}
        self._dirs: dict[int, Node] = {}
        self._next_fh = itertools.count(1)

    # -- bookkeeping -------------------------------------------------------------------------

    @property
    def known_inodes(self) -> int:
        """How many inodes the kernel currently holds a lookup count on."""
        return len(self._lookups)

    def lookup_count(self, inode: int) -> int:
        """The kernel's current lookup count on ``inode`` (0: not known to the kernel)."""
        return self._lookups.get(inode, 0)

    @property
    def open_handles(self) -> int:
        """How many files and directories are open through the mount."""
        return len(self._handles) + len(self._dirs)

    def _node(self, inode: int) -> Node:
        node = self._nodes.get(inode)
        return node if node is not None else self._namespace.node(inode)

    def _remember(self, node: Node, st: Stat | None = None) -> pyfuse3.EntryAttributes:
        """Count one kernel lookup of ``node`` and return its attributes."""
        attrs = entry_attributes(st if st is not None else node.stat())
        self._nodes[node.id] = node
        self._lookups[node.id] = self._lookups.get(node.id, 0) + 1
        return attrs

    async def _child(self, parent_inode: int, name: bytes) -> Node:
        parent = self._node(parent_inode)
        text = os.fsdecode(name)
        if text == ".":
            return parent
        if text == "..":
            return parent.parent()
        return await fresh_lookup(parent, text)

    def _open_file(self, node: Node, handle: Handle) -> pyfuse3.FileInfo:
        fh = next(self._next_fh)
        self._handles[fh] = (node, handle)
        return pyfuse3.FileInfo(fh=fh, direct_io=True, keep_cache=False)

    def _handle(self, fh: int) -> Handle:
        try:
            return self._handles[fh][1]
        except KeyError:
            raise FUSEError(errno.EBADF) from None

    # -- names and attributes ----------------------------------------------------------------

    @_fuse_op
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        node = await self._child(parent_inode, name)
        st = node.stat()  # fresh: a remote lookup has just fetched it
        logger.debug("lookup %d/%r: inode %d size %d", parent_inode, name, st.id, st.size)
        return self._remember(node, st)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for inode, count in inode_list:
            left = self._lookups.get(inode, 0) - count
            if left > 0:
                self._lookups[inode] = left
                continue
            self._lookups.pop(inode, None)
            if inode != self._root.id:
                self._nodes.pop(inode, None)

    @_fuse_op
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        st = await fresh_stat(self._node(inode))
        logger.debug("getattr %d: size %d", inode, st.size)
        return entry_attributes(st)

    @_fuse_op
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        node = self._node(inode)
        if fields.update_mode or fields.update_uid or fields.update_gid:
            raise PermissionDenied(f"{node.name}: mode and owner are fixed")
        if fields.update_size:
            await node.truncate(attr.st_size)
        # atime/mtime updates (touch) are accepted and ignored: times reflect the jobs.
        return entry_attributes(await fresh_stat(node))

    @_fuse_op
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = _BLOCK
        data.f_frsize = _BLOCK
        data.f_blocks = data.f_bfree = data.f_bavail = 0
        data.f_files = len(self._nodes)
        data.f_ffree = data.f_favail = 0
        data.f_namemax = 255
        return data

    # -- directories -------------------------------------------------------------------------

    @_fuse_op
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        node = self._node(inode)
        if node.kind is not Kind.DIR:
            raise FUSEError(errno.ENOTDIR)
        fh = next(self._next_fh)
        self._dirs[fh] = node
        return fh

    @_fuse_op
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        directory = self._dirs.get(fh)
        if directory is None:
            raise FUSEError(errno.EBADF)
        if start_id == 0:  # a new listing: fresh; later chunks continue from it by id
            await refresh_children(directory)
        for child in directory.children_after(start_id):
            attrs = entry_attributes(child.stat())
            if not pyfuse3.readdir_reply(token, os.fsencode(child.name), attrs, child.id):
                return
            self._remember(child)

    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    @_fuse_op
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        parent = self._node(parent_inode)
        return self._remember(await parent.create(os.fsdecode(name), Kind.DIR, mode & 0o7777))

    @_fuse_op
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await (await self._child(parent_inode, name)).remove()

    @_fuse_op
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await (await self._child(parent_inode, name)).remove()

    @_fuse_op
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        raise PermissionDenied(f"{os.fsdecode(name_old)}: jobs cannot be renamed")

    @_fuse_op
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise PermissionDenied(f"{os.fsdecode(name)}: cannot create files here; write to /clone")

    @_fuse_op
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise PermissionDenied(f"{os.fsdecode(name)}: cannot create links here")

    @_fuse_op
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise PermissionDenied(f"{os.fsdecode(new_name)}: cannot create links here")

    # -- files -------------------------------------------------------------------------------

    @_fuse_op
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        parent = self._node(parent_inode)
        node = await parent.create(os.fsdecode(name), Kind.FILE, mode & 0o7777)
        handle = await node.open(open_mode(flags))
        return self._open_file(node, handle), self._remember(node)

    @_fuse_op
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        node = self._node(inode)
        handle = await node.open(open_mode(flags))
        return self._open_file(node, handle)

    @_fuse_op
    async def read(self, fh: int, off: int, size: int) -> bytes:
        return await self._handle(fh).read(off, size)

    @_fuse_op
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self._handle(fh).write(off, buf)

    # No ``flush``: writes are applied and committed as they come, so close has nothing to push;
    # the base class's ENOSYS tells the kernel to stop sending FLUSH at all.

    @_fuse_op
    async def fsync(self, fh: int, datasync: bool) -> None:
        self._handle(fh)

    @_fuse_op
    async def release(self, fh: int) -> None:
        entry = self._handles.pop(fh, None)
        if entry is not None:
            await entry[1].close()

    async def close_all(self) -> None:
        """Close every handle still open (the mount is going away)."""
        handles = [handle for _, handle in self._handles.values()]
        self._handles.clear()
        self._dirs.clear()
        for handle in handles:
            try:
                await handle.close()
            except Exception:
                logger.exception("closing a handle at unmount failed")
