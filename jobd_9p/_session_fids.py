"""The fid table of one 9P connection.

Rules this module keeps:
1. A fid names one node; once opened it also owns at most one core ``Handle`` (files) or one
   directory reader (directories). Closing a fid closes its handle exactly once.
2. Lookups of unknown fids and claims of fids in use raise ``SessionError`` with EBADF, so every
   handler reports protocol misuse alike.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass

from jobd_core import Handle, JobdError, Kind, Node, OpenMode

from ._limits import DEFAULT_MAX_FIDS, too_many_fids
from ._session_dir import DirentReader, StatDirReader
from .errors import SessionError

logger = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Fid:
    """One fid: the node it names and, once opened, how it was opened."""

    num: int
    node: Node
    uname: str
    opening: bool = False
    mode: OpenMode | None = None  # set once opened
    handle: Handle | None = None  # files only
    stat_reader: StatDirReader | None = None  # 9P2000/.u directory reads
    dirent_reader: DirentReader | None = None  # .L Treaddir
    remove_on_close: bool = False
    xattr_list: bool = False  # a Txattrwalk fid listing the (no) extended attributes

    @property
    def is_dir(self) -> bool:
        return self.node.kind is Kind.DIR

    @property
    def opened(self) -> bool:
        return self.mode is not None

    async def close(self) -> None:
        """Release the handle (if any); removes the node when opened with ORCLOSE.

        Never raises a ``JobdError``: failures of ORCLOSE removal are logged (the clunk succeeds).
        """
        handle, self.handle = self.handle, None
        self.mode = None
        self.stat_reader = None
        self.dirent_reader = None
        if handle is not None:
            await handle.close()
        if self.remove_on_close:
            self.remove_on_close = False
            try:
                await self.node.remove()
            except JobdError as exc:
                logger.info("ORCLOSE removal of %s failed: %s", self.node.name, exc)


class FidTable:
    """The fids of one connection, by number; at most ``limit`` of them."""

    def __init__(self, limit: int = DEFAULT_MAX_FIDS) -> None:
        self._fids: dict[int, Fid] = {}
        self.limit = limit

    def __len__(self) -> int:
        return len(self._fids)

    def get(self, num: int) -> Fid:
        """The fid ``num``.

        Raises:
            SessionError: EBADF, no such fid.
        """
        fid = self._fids.get(num)
        if fid is None:
            raise SessionError(f"unknown fid {num}", errno.EBADF)
        return fid

    def check_free(self, num: int) -> None:
        """Raises SessionError (EBADF) when ``num`` is already in use."""
        if num in self._fids:
            raise SessionError(f"fid {num} already in use", errno.EBADF)

    def holds(self, fid: Fid) -> bool:
        """Whether ``fid`` (this very object) is still in the table."""
        return self._fids.get(fid.num) is fid

    def add(self, fid: Fid) -> None:
        """Register ``fid``, replacing a previous fid of the same number (walk newfid == fid).

        Raises:
            LimitExceeded: EMFILE, a new number while ``limit`` fids are in use.
        """
        if len(self._fids) >= self.limit and fid.num not in self._fids:
            raise too_many_fids(self.limit)
        self._fids[fid.num] = fid

    def pop(self, num: int) -> Fid:
        """Remove and return fid ``num``.

        Raises:
            SessionError: EBADF, no such fid.
        """
        fid = self.get(num)
        del self._fids[num]
        return fid

    def drain(self) -> list[Fid]:
        """Remove and return every fid (session reset or disconnect)."""
        fids = list(self._fids.values())
        self._fids.clear()
        return fids
