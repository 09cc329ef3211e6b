"""Per-open handles of jobd's files: snapshots, messages, accumulated values, the streaming log.

Rules this module keeps:
1. Reads see the snapshot taken at open, except ``LogHandle``: its offsets are the log's stream
   positions (``_store`` rule 4), which stay put while old lines are trimmed and new ones appended,
   so a follower (``tail -f``) never skips or repeats, and a read costs what it returns. The
   trimmed head reads as the lines kept: a read there (``cat`` from offset 0, or a follower the
   bound overtook) goes on from the oldest line kept, and the handle's later offsets follow on.
2. A handle of a deleted job raises ``NotFound`` for every read and write.
3. ``MessageHandle`` applies each write as one message; ``ValueHandle`` applies the handle's whole
   accumulated content on each write (a write at offset 0 replaces it) and keeps it only if the
   change was accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._errors import AccessDenied, InvalidArgument, IsADirectory, NotFound
from ._model import JobEntry
from ._node import Handle, OpenMode
from ._validate import decode, strip_newline


class SnapshotHandle(Handle):
    """Reads serve the snapshot taken at open; writes are refused unless a subclass applies them."""

    def __init__(
        self, mode: OpenMode, name: str, snapshot: bytes = b"", entry: JobEntry | None = None
    ) -> None:
        self.mode = mode
        self.name = name
        self.snapshot = snapshot
        self.entry = entry

    def _check_alive(self) -> None:
        if self.entry is not None and self.entry.job.deleted:
            raise NotFound(f"job not found: {self.entry.job.name}")

    def _check_read(self) -> None:
        if not self.mode.read:
            raise AccessDenied(f"{self.name}: not open for reading")
        self._check_alive()

    def _check_write(self) -> None:
        if not self.mode.write:
            raise AccessDenied(f"{self.name}: not open for writing")
        self._check_alive()

    async def read(self, offset: int, count: int) -> bytes:
        self._check_read()
        return self.snapshot[offset : offset + max(count, 0)]

    async def write(self, offset: int, data: bytes) -> int:
        self._check_write()
        raise AccessDenied(f"{self.name}: read-only")


class DirHandle(SnapshotHandle):
    async def read(self, offset: int, count: int) -> bytes:
        raise IsADirectory(f"{self.name}: is a directory (list it with children())")


class MessageHandle(SnapshotHandle):
    """``clone`` / ``ctl``: each write is one message, applied by ``apply``."""

    def __init__(
        self, mode: OpenMode, name: str, snapshot: bytes, entry: JobEntry | None,
        apply: Callable[[bytes], Awaitable[object]],
        on_result: Callable[[object], bytes] | None = None,
    ) -> None:
        super().__init__(mode, name, snapshot, entry)
        self._apply = apply
        self._on_result = on_result

    async def write(self, offset: int, data: bytes) -> int:
        self._check_write()
        result = await self._apply(data)
        if self._on_result is not None:
            self.snapshot = self._on_result(result)
        return len(data)


class ValueHandle(SnapshotHandle):
    """``cmd`` / ``schedule``: writes accumulate in the handle; each write applies the whole."""

    def __init__(
        self, mode: OpenMode, name: str, snapshot: bytes, entry: JobEntry,
        apply: Callable[[str], Awaitable[None]], current: bytes,
    ) -> None:
        super().__init__(mode, name, snapshot, entry)
        self._apply = apply
        # The value as it stands, so a write at its end (O_APPEND, >>) extends it.
        self._buffer = b"" if mode.truncate else current

    async def write(self, offset: int, data: bytes) -> int:
        self._check_write()
        if offset < 0 or offset > len(self._buffer):
            raise InvalidArgument(f"{self.name}: write at offset {offset} leaves a hole")
        if offset == 0:
            content = data  # a write at 0 replaces (echo x > f, with or without O_TRUNC)
        else:
            content = self._buffer[:offset] + data + self._buffer[offset + len(data) :]
        text = strip_newline(decode(content, self.name))
        await self._apply(text)
        self._buffer = content
        return len(data)


#: Reads ``count`` bytes of a log stream from a position: (position of the first byte, bytes).
RangeReader = Callable[[int, int], Awaitable[tuple[int, bytes]]]


class LogHandle(SnapshotHandle):
    """``log``: offset ``o`` reads the stream at ``o``, or at ``o + shift`` once a read fell in
    the trimmed head (rule 1); nothing is held."""

    def __init__(self, mode: OpenMode, name: str, entry: JobEntry, read_range: RangeReader) -> None:
        super().__init__(mode, name, b"", entry)
        self._base = 0  # stream position of offset 0
        self._read_range = read_range

    async def read(self, offset: int, count: int) -> bytes:
        self._check_read()
        if offset < 0 or count <= 0:
            return b""
        start = self._base + offset
        first, data = await self._read_range(start, count)
        if first > start:  # in the trimmed head: this offset now holds the oldest line kept
            self._base = first - offset
        return data
