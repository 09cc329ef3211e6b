"""The file-tree interface every front serves: nodes and per-open handles.

Rules this module keeps:
1. A node's ``id`` is stable and never reused while the process lives; it is derived from persistent
   data so it is also stable across restarts. The root's id is 1 (it is the FUSE root inode and a
   9P qid.path as it is).
2. ``version`` changes whenever the node's content or metadata changes (9P qid.version).
3. Everything a client can do goes through a ``Node`` or a ``Handle``; fronts translate protocol
   requests into these calls and ``JobdError`` into their own error replies, nothing else.
4. Per-open handles give Plan 9 semantics: a handle's reads see one snapshot taken when the handle
   was opened (``log`` is the exception: it streams by offset, so ``tail -f`` works).
5. Mutations are ``async``: they return only after the change is durably committed.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple


class Kind(enum.Enum):
    DIR = "dir"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Stat:
    """Metadata of one node, as every front reports it.

    ``mode`` holds permission bits only (e.g. ``0o755``, ``0o644``, ``0o444``); fronts add their own
    type bits (``DMDIR``, ``S_IFDIR``/``S_IFREG``).
    """

    id: int
    name: str
    kind: Kind
    mode: int
    size: int
    version: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    uid: int
    gid: int
    owner: str
    group: str


@dataclass(frozen=True, slots=True)
class OpenMode:
    read: bool = True
    write: bool = False
    truncate: bool = False


class Handle(ABC):
    """One open of a node. Not shared between opens."""

    @abstractmethod
    async def read(self, offset: int, count: int) -> bytes:
        """Read up to ``count`` bytes at ``offset``; ``b""`` at or past the end.

        Raises:
            AccessDenied: the handle was not opened for reading.
            NotFound: the node was deleted (its job is gone).
        """

    @abstractmethod
    async def write(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` and apply it; return the count accepted.

        Control-style files (``clone``, ``ctl``) treat each write as one message. Value files
        (``cmd``, ``schedule``) take the handle's accumulated content as the new value, validated,
        and apply it before returning.

        Raises:
            AccessDenied: the handle was not opened for writing.
            InvalidArgument: the content is rejected; nothing changed.
            Exists, NotFound, Busy, StorageError, NoSpace: as the operation implies.
        """

    async def close(self) -> None:  # noqa: B027 - most handles hold nothing to release
        """Release the handle. Never raises for a valid handle."""


class DirEntry(NamedTuple):
    """What a directory listing needs of one child (its ``stat()``'s id, name, kind, version),
    without building the child's node or stat."""

    id: int
    name: str
    kind: Kind
    version: int


class Node(ABC):
    """One file or directory of the namespace."""

    id: int
    name: str
    kind: Kind

    @abstractmethod
    def stat(self) -> Stat:
        """Current metadata; works even after the node was removed (last known values)."""

    @abstractmethod
    def parent(self) -> Node:
        """The containing directory; the root is its own parent."""

    def lookup(self, name: str) -> Node:
        """The child called ``name``.

        Raises:
            NotADirectory: this node is a file.
            NotFound: no such child (or this directory was removed).
        """
        from ._errors import NotADirectory

        raise NotADirectory(f"{self.name}: not a directory")

    def children(self) -> list[Node]:
        """The children, ordered by ascending id (stable readdir cookies).

        Raises:
            NotADirectory: this node is a file.
            NotFound: this directory was removed.
        """
        from ._errors import NotADirectory

        raise NotADirectory(f"{self.name}: not a directory")

    def children_after(self, after: int) -> Iterator[Node]:
        """The children whose id is greater than ``after``, ascending by id: where a readdir
        resumes from a cookie (``0``: from the start). Lazy, so reading a large directory in
        chunks costs each chunk only what it takes (unlike filtering ``children()``).

        Raises:
            NotADirectory: this node is a file.
            NotFound: this directory was removed.
        """
        return iter([child for child in self.children() if child.id > after])

    def entries_after(self, after: int) -> Iterator[DirEntry]:
        """``children_after(after)`` as listing entries; a large directory yields them without
        building a node and a stat per child.

        Raises:
            NotADirectory: this node is a file.
            NotFound: this directory was removed.
        """
        for child in self.children_after(after):
            yield DirEntry(child.id, child.name, child.kind, child.stat().version)

    async def astat(self) -> Stat:
        """Fresh metadata. A node served from far away (the 9P-backed remote namespace) fetches it;
        a local node answers ``stat()``."""
        return self.stat()

    async def alookup(self, name: str) -> Node:
        """``lookup`` for fronts that may wait: a remote node asks its server.

        Raises as ``lookup``.
        """
        return self.lookup(name)

    async def achildren(self) -> list[Node]:
        """``children`` for fronts that may wait: a remote node lists its server. Raises as
        ``children``."""
        return self.children()

    @abstractmethod
    async def open(self, mode: OpenMode) -> Handle:
        """Open for reading and/or writing; ``truncate`` as ``O_TRUNC``/``OTRUNC``.

        Raises:
            AccessDenied: the mode is not permitted by the node (e.g. writing ``log``).
            IsADirectory: writing a directory.
            NotFound: the node was removed.
        """

    async def truncate(self, size: int) -> None:
        """Set the length. Writable files accept ``0`` (as ``echo x > f`` sends before writing).

        Raises:
            AccessDenied: the file is not writable.
            InvalidArgument: a size other than 0.
            IsADirectory: this is a directory.
        """
        from ._errors import AccessDenied

        raise AccessDenied(f"{self.name}: read-only")

    async def remove(self) -> None:
        """Remove the node. A job directory deletes its job; the files inside a job directory
        accept removal as part of ``rm -r`` (the job goes when its directory is removed).

        Raises:
            PermissionDenied: the node cannot be removed (root, ``jobs``, ``clone``).
            NotFound: already removed.
        """
        from ._errors import PermissionDenied

        raise PermissionDenied(f"{self.name}: cannot be removed")

    async def create(self, name: str, kind: Kind, mode: int) -> Node:
        """Create a child (mkdir/create). jobd's tree is synthetic: this fails unless a directory
        says otherwise.

        Raises:
            PermissionDenied: creation is not supported here.
        """
        from ._errors import PermissionDenied

        raise PermissionDenied(f"{self.name}: cannot create files here; write to /clone")
