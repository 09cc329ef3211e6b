"""Directory reads: packed stat entries (9P2000/.u Tread) and dirents (.L Treaddir).

Rules this module keeps:
1. 9P2000/.u (read(5)): a directory read at offset 0 takes a fresh snapshot of the children; any
   later read must start where the previous one ended (offset + count returned), otherwise EINVAL.
   An entry is never split across reads; a count too small for the next entry is EINVAL.
2. .L: offsets are cookies. The cookie of an entry is its child id, and a read at cookie C returns
   the children with ids greater than C in ascending id order, so a listing stays consistent while
   jobs are created and deleted concurrently (no entry is skipped or repeated because of an index
   shift).
"""

from __future__ import annotations

import errno

from jobd_core import Node

from . import wire
from ._session_attrs import dirent_of, wire_stat
from .errors import SessionError


class StatDirReader:
    """The read state of one opened directory fid in 9P2000/.u."""

    def __init__(self, dialect: wire.Dialect) -> None:
        self._dialect = dialect
        self._pending: list[bytes] = []
        self._next_offset = 0

    def read(self, node: Node, offset: int, count: int) -> bytes:
        """The packed stat entries for a directory read at ``offset``, at most ``count`` bytes.

        Raises:
            SessionError: EINVAL for an offset other than 0 or the end of the previous read, or a
                count too small for the next entry.
            NotFound: the directory was removed (from ``Node.children``).
        """
        if offset == 0:
            self._pending = [
                wire.encode_stat(wire_stat(child.stat()), self._dialect)
                for child in node.children()
            ]
            self._next_offset = 0
        elif offset != self._next_offset:
            raise SessionError(
                f"bad directory read offset {offset} (expected 0 or {self._next_offset})",
                errno.EINVAL,
            )
        taken: list[bytes] = []
        used = 0
        for entry in self._pending:
            if used + len(entry) > count:
                break
            taken.append(entry)
            used += len(entry)
        if not taken and self._pending:
            raise SessionError(
                f"read count {count} too small for a directory entry", errno.EINVAL
            )
        del self._pending[: len(taken)]
        self._next_offset += used
        return b"".join(taken)


class DirentReader:
    """Treaddir on one opened directory fid (.L); stateless apart from the node."""

    def read(self, node: Node, cookie: int, count: int) -> bytes:
        """The dirents after ``cookie`` (0: from the start) fitting in ``count`` bytes.

        Raises:
            SessionError: EINVAL when the next entry does not fit in ``count``.
            NotFound: the directory was removed.
        """
        entries: list[wire.Dirent] = []
        used = 0
        for entry in node.entries_after(cookie):
            size = wire.dirent_size(entry.name)
            if used + size > count:
                if not entries:
                    raise SessionError(
                        f"readdir count {count} too small for an entry", errno.EINVAL
                    )
                break
            entries.append(dirent_of(entry))
            used += size
        return wire.encode_dirents(entries)
