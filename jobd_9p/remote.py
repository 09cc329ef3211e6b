"""A jobd namespace reached over 9P: ``Node``/``Handle`` of ``jobd_core`` backed by a remote jobd.

Used by the FUSE bridge (``jobd-fuse --remote HOST:PORT``): the FUSE operations serve this exactly
as they serve the local core's namespace.

Rules this module keeps:
1. A node is a walked path; its id is the server's qid.path (the server uses the core's stable ids,
   so ids survive reconnects and server restarts). Every operation walks from the root afresh, so
   nothing but open handles depends on one connection.
2. ``stat``, ``lookup`` and ``children`` are synchronous in the ``Node`` ABC: they answer from a
   cache filled by every async operation (directory reads carry every child's stat in 9P2000.u),
   by a re-listing after each write, truncate or remove, and by a background poll of the
   directories in use. ``astat``/``alookup``/``achildren`` are the fresh, async versions.
3. Failures become the core's ``JobdError`` subclasses by errno (``to_jobd_error``), so a front's
   single translation point works. A lost server gives ``RemoteUnavailable`` (ENOTCONN); the next
   operation after the server is back reconnects. Handles opened before the loss stay failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import trio

from jobd_core import JobdError, Kind, Node, NotFound

from . import wire
from ._remote_nodes import (
    RemoteHandle,
    RemoteNode,
    RemoteUnavailable,
    stat_at,
    stat_from_getattr,
    stat_from_wire,
    to_jobd_error,
)
from .client import Client, RemoteError

__all__ = [
    "RemoteHandle",
    "RemoteNamespace",
    "RemoteNode",
    "RemoteUnavailable",
    "open_remote_namespace",
    "remote_namespace",
    "stat_from_getattr",
    "stat_from_wire",
    "to_jobd_error",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
POLL_INTERVAL = 0.5  # seconds between background refreshes of the directories in use
DEFAULT_MSIZE = 64 * 1024 + wire.IOHDRSZ


class RemoteNamespace:
    """The tree of a remote jobd. Create with ``open_remote_namespace`` / ``remote_namespace``.

    Attributes:
        root: the remote root directory (id 1 on a jobd).
        addr: the server's address.
    """

    root: RemoteNode

    def __init__(
        self,
        addr: str,
        *,
        dialect: wire.Dialect,
        msize: int,
        nursery: trio.Nursery | None,
        aname: str = "",
    ) -> None:
        self.addr = addr
        self.aname = aname
        self.dialect = dialect
        self.msize = msize
        self._nursery = nursery
        self._client: Client | None = None
        self._root_fid = 0
        self._connect_lock = trio.Lock()
        self._nodes: dict[int, RemoteNode] = {}
        self.reconnects = 0

    def node(self, id: int) -> Node:
        """A node seen before (by a listing, lookup or walk).

        Raises:
            NotFound: no node with that id is known (or it was removed).
        """
        node = self._nodes.get(id)
        if node is None:
            raise NotFound(f"no node {id} on jobd at {self.addr}")
        return node

    def remember(self, node: RemoteNode) -> RemoteNode:
        """Register a node by id (the one already known at that path wins)."""
        known = self._nodes.get(node.id)
        if known is not None and known.path == node.path and not known.removed:
            return known
        self._nodes[node.id] = node
        return node

    def forget(self, node: RemoteNode) -> None:
        """The node (and what is below it) is gone; it keeps its last stat."""
        node.removed = True
        if self._nodes.get(node.id) is node:
            del self._nodes[node.id]
        for child in (node.cached_children or {}).values():
            self.forget(child)

    # -- the connection ------------------------------------------------------------------------

    async def session(self) -> tuple[Client, int]:
        """The live client and its root fid, reconnecting (and re-attaching) if needed.

        Raises:
            RemoteUnavailable: the server cannot be reached.
        """
        async with self._connect_lock:
            client = self._client
            if client is not None and not client.is_closed:
                return client, self._root_fid
            try:
                client = await Client.connect(
                    self.addr, dialect=self.dialect, msize=self.msize, nursery=self._nursery
                )
            except RemoteError as exc:
                raise RemoteUnavailable(f"jobd at {self.addr} unreachable: {exc.message}") from exc
            try:
                self._root_fid, _ = await client.attach(aname=self.aname)
            except RemoteError as exc:
                await client.aclose()
                raise to_jobd_error(exc) from exc
            if self._client is not None:
                self.reconnects += 1
                logger.info("reconnected to jobd at %s", self.addr, extra={"addr": self.addr})
            self._client = client
            return client, self._root_fid

    async def call(self, op: Callable[[Client, int], Awaitable[_T]]) -> _T:
        """Run ``op(client, root_fid)``, translating 9P errors to the core's.

        Raises:
            JobdError: the server's error (by errno), or RemoteUnavailable.
        """
        client, root_fid = await self.session()
        try:
            return await op(client, root_fid)
        except RemoteError as exc:
            raise to_jobd_error(exc) from None

    async def aclose(self) -> None:
        """Close the connection (open handles fail from now on)."""
        if self._client is not None:
            await self._client.aclose()

    async def poll(self, interval: float = POLL_INTERVAL) -> None:
        """Re-list the directories in use, forever (keeps the sync ``Node`` API fresh)."""
        down = False
        while True:
            await trio.sleep(interval)
            now = time.monotonic()
            hot = [n for n in self._nodes.values() if n.kind is Kind.DIR and n.hot_until > now]
            try:
                for node in hot:
                    if not node.removed:
                        await node.achildren(touch=False)
            except RemoteUnavailable as exc:
                if not down:
                    logger.warning("%s", exc, extra={"addr": self.addr})
                down = True
                continue
            except JobdError as exc:
                logger.debug("background refresh: %s", exc)
            if down:
                logger.info("jobd at %s answers again", self.addr, extra={"addr": self.addr})
            down = False


async def open_remote_namespace(
    addr: str,
    *,
    nursery: trio.Nursery | None = None,
    dialect: wire.Dialect = wire.Dialect.U,
    msize: int = DEFAULT_MSIZE,
    poll_interval: float | None = POLL_INTERVAL,
    aname: str = "",
) -> RemoteNamespace:
    """Connect to the jobd at ``addr`` (``HOST:PORT`` or ``unix:PATH``) and list its tree.

    Background work (the client's reader, the refresh poll) runs in ``nursery`` or, without one,
    as trio system tasks. ``poll_interval=None`` turns the poll off. 9P2000.u is the default
    dialect: its errors carry both the server's message and an errno, and one directory read
    carries every child's stat.

    Raises:
        RemoteUnavailable: the server cannot be reached.
        JobdError: the server refused the attach or the first listing.
    """
    ns = RemoteNamespace(addr, dialect=dialect, msize=msize, nursery=nursery, aname=aname)
    root_stat = await ns.call(lambda c, r: stat_at(c, r, (), ""))
    ns.root = ns.remember(RemoteNode(ns, (), root_stat, None))
    await ns.root.achildren()  # lists /jobs and every job directory too (new directories are)
    if poll_interval is not None:
        if nursery is not None:
            nursery.start_soon(ns.poll, poll_interval)
        else:
            trio.lowlevel.spawn_system_task(ns.poll, poll_interval)
    return ns


@asynccontextmanager
async def remote_namespace(
    addr: str,
    *,
    dialect: wire.Dialect = wire.Dialect.U,
    msize: int = DEFAULT_MSIZE,
    poll_interval: float | None = POLL_INTERVAL,
    aname: str = "",
) -> AsyncIterator[RemoteNamespace]:
    """``open_remote_namespace`` with its background tasks in a nursery of its own.

    Raises:
        RemoteUnavailable: the server cannot be reached.
    """
    async with trio.open_nursery() as nursery:
        ns = await open_remote_namespace(
            addr,
            nursery=nursery,
            dialect=dialect,
            msize=msize,
            poll_interval=poll_interval,
            aname=aname,
        )
        try:
            yield ns
        finally:
            nursery.cancel_scope.cancel()
            with trio.CancelScope(shield=True):
                await ns.aclose()
