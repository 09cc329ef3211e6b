"""Nodes and handles of a remote jobd namespace (see ``remote.py`` for the rules they keep)."""

from __future__ import annotations

import errno
import logging
import stat as stat_mod
import time
from typing import TYPE_CHECKING

import trio

from jobd_core import (
    AccessDenied,
    Busy,
    Exists,
    Handle,
    InvalidArgument,
    IsADirectory,
    JobdError,
    Kind,
    Node,
    NoSpace,
    NotADirectory,
    NotEmpty,
    NotFound,
    NotSupported,
    OpenMode,
    PermissionDenied,
    Stat,
    StorageError,
    TooBig,
)

from . import wire
from .client import Client, ConnectionClosed, RemoteError

if TYPE_CHECKING:
    from .remote import RemoteNamespace

logger = logging.getLogger(__name__)

HOT_SECONDS = 5.0  # a directory stays "in use" (polled) this long after a sync lookup/children/stat
_NS = 1_000_000_000


class RemoteUnavailable(JobdError):
    """The remote jobd cannot be reached (or the connection a handle was opened on is gone)."""

    errno = errno.ENOTCONN


_BY_ERRNO: dict[int, type[JobdError]] = {
    errno.ENOENT: NotFound, errno.EEXIST: Exists, errno.EINVAL: InvalidArgument,
    errno.EPERM: PermissionDenied, errno.EACCES: AccessDenied, errno.EBUSY: Busy,
    errno.EISDIR: IsADirectory, errno.ENOTDIR: NotADirectory, errno.ENOTEMPTY: NotEmpty,
    errno.ENOSPC: NoSpace, errno.EOPNOTSUPP: NotSupported, errno.EFBIG: TooBig,
    errno.EIO: StorageError,
}  # fmt: skip


def to_jobd_error(exc: RemoteError) -> JobdError:
    """The core's error for a 9P error: the same errno, the server's message."""
    if isinstance(exc, ConnectionClosed):
        return RemoteUnavailable(exc.message)
    cls = _BY_ERRNO.get(exc.errno)
    if cls is not None:
        return cls(exc.message)
    error = JobdError(exc.message)
    error.errno = exc.errno  # an errno the core has no class for: keep it as it is
    return error


def stat_from_wire(st: wire.Stat, *, name: str | None = None) -> Stat:
    """The core's ``Stat`` of a 9P2000(.u) stat."""
    unset = wire.NONUNAME
    return Stat(
        id=st.qid.path, name=st.name if name is None else name,
        kind=Kind.DIR if st.mode & wire.DMDIR else Kind.FILE, mode=st.mode & 0o777,
        size=st.length, version=st.qid.version, atime_ns=st.atime * _NS,
        mtime_ns=st.mtime * _NS, ctime_ns=st.mtime * _NS,
        uid=0 if st.n_uid == unset else st.n_uid, gid=0 if st.n_gid == unset else st.n_gid,
        owner=st.uid, group=st.gid,
    )  # fmt: skip


def stat_from_getattr(attr: wire.Rgetattr, name: str) -> Stat:
    """The core's ``Stat`` of a 9P2000.L Rgetattr."""
    return Stat(
        id=attr.qid.path, name=name,
        kind=Kind.DIR if stat_mod.S_ISDIR(attr.mode) else Kind.FILE, mode=attr.mode & 0o777,
        size=attr.size, version=attr.qid.version,
        atime_ns=attr.atime_sec * _NS + attr.atime_nsec,
        mtime_ns=attr.mtime_sec * _NS + attr.mtime_nsec,
        ctime_ns=attr.ctime_sec * _NS + attr.ctime_nsec,
        uid=attr.uid, gid=attr.gid, owner=str(attr.uid), group=str(attr.gid),
    )  # fmt: skip


async def stat_at(client: Client, root_fid: int, path: tuple[str, ...], name: str) -> Stat:
    """Walk to ``path`` and stat it (Tstat, or Tgetattr on .L)."""
    fid, _ = await client.walk(root_fid, path)
    try:
        if client.dialect is wire.Dialect.L:
            return stat_from_getattr(await client.getattr(fid), name)
        return stat_from_wire(await client.stat(fid), name=name)
    finally:
        await client.clunk(fid)


async def list_at(client: Client, root_fid: int, path: tuple[str, ...]) -> list[Stat]:
    """The stats of a directory's entries: one packed-stat read, or Treaddir + Tgetattr on .L."""
    fid, _ = await client.walk(root_fid, path)
    try:
        await client.open_for(fid)
        if client.dialect is not wire.Dialect.L:
            return [stat_from_wire(st) for st in await client.read_dir(fid)]
        names = [e.name for e in await client.readdir_all(fid) if e.name not in (".", "..")]
    finally:
        await client.clunk(fid)
    stats: list[Stat] = []
    errors: list[RemoteError] = []

    async def one(name: str) -> None:
        try:
            stats.append(await stat_at(client, root_fid, (*path, name), name))
        except RemoteError as exc:
            if exc.errno != errno.ENOENT:  # gone between readdir and getattr: not listed
                errors.append(exc)

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(one, name)
    if errors:
        raise errors[0]
    return stats


class RemoteNode(Node):
    """One file or directory of the remote tree, known by its path from the root."""

    def __init__(
        self, ns: RemoteNamespace, path: tuple[str, ...], st: Stat, parent: RemoteNode | None
    ) -> None:
        self.ns = ns
        self.path = path
        self.id = st.id
        self.name = path[-1] if path else st.name if st.name != "/" else ""
        self.kind = st.kind
        self._stat = st
        self._parent = parent
        self.cached_children: dict[str, RemoteNode] | None = None
        self.removed = False
        self.hot_until = 0.0
        self._list_lock = trio.Lock()
        self._asked = 0  # listing requests so far
        self._listed = 0  # requests answered by the last completed listing

    def __repr__(self) -> str:
        return f"<RemoteNode {'/' + '/'.join(self.path)} id={self.id}>"

    # -- the sync ABC, from the cache -----------------------------------------------------------

    def stat(self) -> Stat:
        (self._parent or self)._touch()
        return self._stat

    def parent(self) -> Node:
        return self._parent or self

    def lookup(self, name: str) -> Node:
        self._check_dir()
        self._touch()
        child = (self.cached_children or {}).get(name)
        if child is None:
            raise NotFound(f"{name}: no such file")
        return child

    def children(self) -> list[Node]:
        self._check_dir()
        self._touch()
        return sorted((self.cached_children or {}).values(), key=lambda n: n.id)

    def _touch(self) -> None:
        self.hot_until = time.monotonic() + HOT_SECONDS

    def _check_dir(self) -> None:
        if self.kind is not Kind.DIR:
            raise NotADirectory(f"{self.name}: not a directory")
        if self.removed:
            raise NotFound(f"{self.name}: removed")

    # -- async, fresh ---------------------------------------------------------------------------

    async def astat(self) -> Stat:
        """The node's stat, fetched now; a node found gone keeps its last known values (as the
        core's nodes do after removal).

        Raises:
            RemoteUnavailable: no server.
        """
        if self.removed:
            return self._stat
        try:
            st = await self.ns.call(lambda c, r: stat_at(c, r, self.path, self.name))
        except NotFound:
            self.ns.forget(self)
            return self._stat
        if st.id != self.id:  # the name now belongs to a new job: this node is gone
            self.ns.forget(self)
            return self._stat
        self._stat = st
        return st

    async def achildren(self, *, touch: bool = True) -> list[Node]:
        """The children, listed now (every child's stat refreshed on the way).

        Raises:
            NotADirectory, NotFound, RemoteUnavailable.
        """
        self._check_dir()
        await self._relist()
        if touch:
            self._touch()
        return sorted((self.cached_children or {}).values(), key=lambda n: n.id)

    async def _relist(self) -> None:
        """List the directory, coalescing concurrent requests: a caller is served by any listing
        that started after it asked, so N concurrent callers cause at most two listings."""
        self._asked += 1
        ticket = self._asked
        async with self._list_lock:
            if self._listed >= ticket:
                return
            started = self._asked
            try:
                stats = await self.ns.call(lambda c, r: list_at(c, r, self.path))
            except NotFound:
                self.ns.forget(self)
                raise
            await self._merge(stats)
            self._listed = started

    async def alookup(self, name: str) -> Node:
        """The child ``name``, walked now.

        Raises:
            NotADirectory, NotFound, RemoteUnavailable.
        """
        self._check_dir()
        if name in (".", ".."):
            return self if name == "." else self.parent()
        path = (*self.path, name)
        known = (self.cached_children or {}).get(name)
        try:
            st = await self.ns.call(lambda c, r: stat_at(c, r, path, name))
        except NotFound:
            if known is not None and self.cached_children is not None:
                del self.cached_children[name]
                self.ns.forget(known)
            raise
        if known is not None and known.id == st.id:
            known._stat = st
            return known
        node = await self._adopt(st)
        if known is not None:
            self.ns.forget(known)
        if self.cached_children is not None:
            self.cached_children[name] = node
        return node

    async def _adopt(self, st: Stat) -> RemoteNode:
        """A node for a newly seen child; a directory's own children are listed right away so
        that the sync ``lookup`` of its files works at once."""
        node = self.ns.remember(RemoteNode(self.ns, (*self.path, st.name), st, self))
        if node.kind is Kind.DIR and node.cached_children is None:
            try:
                await node.achildren(touch=False)
            except NotFound:
                logger.debug("%r went away while being listed", node)
        return node

    async def _merge(self, stats: list[Stat]) -> None:
        old = self.cached_children or {}
        new: dict[str, RemoteNode] = {}
        fresh: list[Stat] = []
        for st in stats:
            known = old.get(st.name)
            if known is not None and known.id == st.id:
                known._stat = st
                new[st.name] = known
            elif st.name not in (".", ".."):
                fresh.append(st)
        adopted: list[RemoteNode] = []
        errors: list[JobdError] = []

        async def adopt(st: Stat) -> None:
            try:
                adopted.append(await self._adopt(st))
            except JobdError as exc:
                errors.append(exc)

        async with trio.open_nursery() as nursery:
            for st in fresh:
                nursery.start_soon(adopt, st)
        if errors:
            raise errors[0]
        new.update((n.name, n) for n in adopted)
        for name, node in old.items():
            if new.get(name) is not node:
                self.ns.forget(node)
        self.cached_children = new

    # -- the async ABC --------------------------------------------------------------------------

    async def open(self, mode: OpenMode) -> Handle:
        if self.removed:
            raise NotFound(f"{self.name}: removed")
        if self.kind is Kind.DIR and mode.write:
            raise IsADirectory(f"{self.name}: is a directory")

        async def op(client: Client, root_fid: int) -> RemoteHandle:
            fid, _ = await client.walk(root_fid, self.path)
            try:
                await client.open_for(fid, read=mode.read, write=mode.write, truncate=mode.truncate)
            except BaseException:
                await client.clunk(fid)
                raise
            return RemoteHandle(self, client, fid)

        handle = await self.ns.call(op)
        if mode.truncate:
            await self.refresh_after_change()
        return handle

    async def truncate(self, size: int) -> None:
        async def op(client: Client, root_fid: int) -> None:
            fid, _ = await client.walk(root_fid, self.path)
            try:
                await client.truncate(fid, size)
            finally:
                await client.clunk(fid)

        await self.ns.call(op)
        await self.refresh_after_change()

    async def remove(self) -> None:
        async def op(client: Client, root_fid: int) -> None:
            fid, _ = await client.walk(root_fid, self.path)
            await client.remove(fid)

        await self.ns.call(op)
        self.ns.forget(self)
        siblings = self._parent.cached_children if self._parent is not None else None
        if siblings is not None and siblings.get(self.name) is self:
            del siblings[self.name]
        await self.refresh_after_change()

    async def refresh_after_change(self) -> None:
        """Re-list what a change here may have changed: the parent (sizes, versions) and
        ``/jobs`` (a write to ``clone`` or ``ctl`` creates or deletes jobs)."""
        jobs = (self.ns.root.cached_children or {}).get("jobs")
        for directory in dict.fromkeys(d for d in (self._parent, jobs) if d is not None):
            if directory.removed:
                continue
            try:
                await directory.achildren(touch=False)
            except JobdError as exc:
                logger.debug("refresh of %r after a change: %s", directory, exc)


class RemoteHandle(Handle):
    """One open of a remote file: a fid opened on the connection of the moment."""

    def __init__(self, node: RemoteNode, client: Client, fid: int) -> None:
        self._node = node
        self._client = client
        self._fid = fid
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise AccessDenied(f"{self._node.name}: handle closed")
        if self._client.is_closed:
            raise RemoteUnavailable(
                f"{self._node.name}: the connection to jobd at {self._node.ns.addr} was lost"
            )

    async def read(self, offset: int, count: int) -> bytes:
        self._check()
        chunks: list[bytes] = []
        try:
            while count > 0:
                data = await self._client.read(self._fid, offset, count)
                chunks.append(data)
                offset, count = offset + len(data), count - len(data)
                if len(data) < min(count + len(data), self._client.iounit):
                    break
        except RemoteError as exc:
            raise to_jobd_error(exc) from None
        return b"".join(chunks)

    async def write(self, offset: int, data: bytes) -> int:
        self._check()
        try:
            written = await self._client.write(self._fid, offset, data)
        except RemoteError as exc:
            raise to_jobd_error(exc) from None
        await self._node.refresh_after_change()
        return written

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client.is_closed:
            return  # the server dropped every fid with the connection
        try:
            await self._client.clunk(self._fid)
        except RemoteError as exc:
            logger.debug("clunk of %r: %s", self._node, exc)
