"""Per-open handles of jobd's files: snapshots, messages, accumulated values, the streaming log.

Rules this module keeps:
1. Reads see the snapshot taken at open (``LogHandle`` excepted: it refreshes when a read reaches
   past its snapshot, so ``tail -f`` sees new lines).
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


class LogHandle(SnapshotHandle):
    """``log``: streams by offset; a read reaching past the snapshot takes a fresh one."""

    def __init__(
        self, mode: OpenMode, name: str, entry: JobEntry, load: Callable[[], Awaitable[bytes]]
    ) -> None:
        super().__init__(mode, name, b"", entry)
        self._job = entry
        self._load = load
        self._version: int | None = None  # the log version the snapshot holds

    async def read(self, offset: int, count: int) -> bytes:
        self._check_read()
        stale = self._version != self._job.v_log
        if self._version is None or (offset >= len(self.snapshot) and stale):
            # Polling readers (tail -f) cost nothing while no line was appended.
            version = self._job.v_log
            self.snapshot = await self._load()
            self._version = version
        return self.snapshot[offset : offset + max(count, 0)]
