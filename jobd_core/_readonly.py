"""A read-only view of a namespace (``--read-only``): listing and reading only.

Rules this module keeps:
1. Every node of the view wraps the node of the same id in the underlying namespace and answers
   stat, lookup, listing and reads exactly as it does; ids, names, sizes and versions are the
   underlying ones, so fronts (qid.path, FUSE inodes) see the same tree.
2. Every change is refused with ``ReadOnlyFileSystem`` (EROFS, "read-only file system") before it
   reaches the core: opening for write or truncation, truncate, remove, create. Nothing else is
   refused, so a monitoring mount works as a normal one does for reading.
3. Permission bits are reported unchanged: a client that checks them itself still sends the write,
   and the answer it gets is EROFS, not a misleading EACCES.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ._errors import ReadOnlyFileSystem
from ._node import DirEntry, Handle, Kind, Node, OpenMode, Stat


class _Tree(Protocol):
    @property
    def root(self) -> Node: ...

    def node(self, node_id: int) -> Node: ...


class ReadOnlyNamespace:
    """``namespace`` seen read-only; has the ``root`` and ``node(id)`` every front uses.

    Args:
        namespace: anything with ``root`` and ``node(id)`` (the core's ``Namespace``, a remote
            namespace).
    """

    def __init__(self, namespace: _Tree) -> None:
        self.inner = namespace
        self.root: Node = ReadOnlyNode(namespace.root)
        self.metrics: object = getattr(namespace, "metrics", None)  # fronts count into it

    def node(self, node_id: int) -> Node:
        """The node with ``node_id``, read-only.

        Raises:
            NotFound: from the underlying namespace.
        """
        return ReadOnlyNode(self.inner.node(node_id))


def _refuse(what: str) -> ReadOnlyFileSystem:
    return ReadOnlyFileSystem(f"{what}: read-only file system")


class ReadOnlyNode(Node):
    """One node of a read-only view: reads pass through, changes raise ``ReadOnlyFileSystem``."""

    def __init__(self, inner: Node) -> None:
        self.inner = inner
        self.id = inner.id
        self.name = inner.name
        self.kind: Kind = inner.kind

    def stat(self) -> Stat:
        return self.inner.stat()

    def parent(self) -> Node:
        return ReadOnlyNode(self.inner.parent())

    def lookup(self, name: str) -> Node:
        return ReadOnlyNode(self.inner.lookup(name))

    def children(self) -> list[Node]:
        return [ReadOnlyNode(child) for child in self.inner.children()]

    def children_after(self, after: int) -> Iterator[Node]:
        return (ReadOnlyNode(child) for child in self.inner.children_after(after))

    def entries_after(self, after: int) -> Iterator[DirEntry]:
        return self.inner.entries_after(after)

    async def astat(self) -> Stat:
        return await self.inner.astat()

    async def alookup(self, name: str) -> Node:
        return ReadOnlyNode(await self.inner.alookup(name))

    async def achildren(self) -> list[Node]:
        return [ReadOnlyNode(child) for child in await self.inner.achildren()]

    async def open(self, mode: OpenMode) -> Handle:
        """Open for reading only.

        Raises:
            ReadOnlyFileSystem: ``mode`` writes or truncates.
            JobdError: from the underlying node's ``open``.
        """
        if mode.write or mode.truncate:
            raise _refuse(self.name)
        return await self.inner.open(mode)

    async def truncate(self, size: int) -> None:
        """Raises ReadOnlyFileSystem."""
        raise _refuse(self.name)

    async def remove(self) -> None:
        """Raises ReadOnlyFileSystem."""
        raise _refuse(self.name)

    async def create(self, name: str, kind: Kind, mode: int) -> Node:
        """Raises ReadOnlyFileSystem."""
        raise _refuse(f"{self.name}/{name}")
