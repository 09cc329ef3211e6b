"""A writer for the ``newc`` cpio format, the one the Linux kernel unpacks as an initramfs.

Rules it keeps: every parent directory is emitted before its children (the kernel's unpacker does
not create missing parents); archives may be concatenated, and a later archive's file replaces an
earlier one of the same path — so one cached base image plus a small per-run archive make a guest's
initramfs.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass

_TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: a file, directory, device node or symlink (``data``: its target)."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def file(path: str, data: bytes, perm: int = 0o644) -> Entry:
    """A regular file at ``path`` (absolute or relative to the archive root)."""
    return Entry(path, stat.S_IFREG | perm, data)


def directory(path: str, perm: int = 0o755) -> Entry:
    """A directory at ``path``."""
    return Entry(path, stat.S_IFDIR | perm)


def symlink(path: str, target: str) -> Entry:
    """A symbolic link at ``path`` pointing to ``target``."""
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    """A character device node at ``path``."""
    return Entry(path, stat.S_IFCHR | perm, b"", (major, minor))


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _member(ino: int, name: str, entry: Entry) -> bytes:
    encoded = name.encode() + b"\0"
    data = entry.data
    major, minor = entry.rdev
    fields = (ino, entry.mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % value for value in fields)
    head = header + encoded
    return head + _pad(len(head)) + data + _pad(len(data))


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def archive(entries: Iterable[Entry]) -> bytes:
    """Serialise ``entries`` into one newc archive, adding any missing parent directories.

    Raises:
        ValueError: an entry's path is empty or climbs out of the root with ``..``.
    """
    out: list[bytes] = []
    seen: set[str] = set()
    ino = 1
    for entry in entries:
        name = entry.path.strip("/")
        if not name or ".." in name.split("/"):
            raise ValueError(f"bad archive path: {entry.path!r}")
        todo = [(p, directory(p)) for p in _parents(name) if p not in seen]
        todo.append((name, entry))
        for member_name, member in todo:
            seen.add(member_name)
            out.append(_member(ino, member_name, member))
            ino += 1
    out.append(_member(0, _TRAILER, Entry(_TRAILER, 0)))
    return b"".join(out)
