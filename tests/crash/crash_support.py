"""Helpers for the crash, disk and soak tests: a trio 9P client session over ``jobd_9p.client``
and the few file operations the tests need (whole-file read, replacing write, listing).

Every helper takes paths relative to the attach root (``"jobs/NAME/log"``) and releases its fids.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from jobd_9p.client import Client
from jobd_9p.wire import Dialect

EVERY_SECOND = "0/1 * * * * ? *"


class Session:
    """One attached 9P connection."""

    def __init__(self, client: Client, root: int) -> None:
        self.client = client
        self.root = root

    async def read(self, path: str) -> bytes:
        """The whole file at ``path``.

        Raises:
            RemoteError: the server refused (ENOENT for a missing file...).
        """
        fid, _ = await self.client.walk(self.root, path.split("/"))
        try:
            await self.client.open_for(fid, read=True)
            return await self.client.read_all(fid)
        finally:
            await self.client.clunk(fid)

    async def write(self, path: str, data: bytes) -> None:
        """Open ``path`` for writing with truncation and write ``data`` (one request per chunk).

        Raises:
            RemoteError: the server refused the open or the write.
        """
        fid, _ = await self.client.walk(self.root, path.split("/"))
        try:
            await self.client.open_for(fid, read=False, write=True, truncate=True)
            await self.client.write(fid, 0, data)
        finally:
            await self.client.clunk(fid)

    async def names(self, path: str = "jobs") -> list[str]:
        """The entry names of the directory ``path``.

        Raises:
            RemoteError: the server refused.
        """
        fid, _ = await self.client.walk(self.root, path.split("/") if path else [])
        try:
            await self.client.open_for(fid, read=True)
            if self.client.dialect is Dialect.L:
                entries = await self.client.readdir_all(fid)
                return [e.name for e in entries if e.name not in (".", "..")]
            return [s.name for s in await self.client.read_dir(fid)]
        finally:
            await self.client.clunk(fid)

    async def aclose(self) -> None:
        await self.client.aclose()


@asynccontextmanager
async def session(addr: str, dialect: Dialect = Dialect.L) -> AsyncIterator[Session]:
    """A connected, attached ``Session`` to ``addr``; closed on exit.

    Raises:
        ConnectionClosed: the server cannot be reached.
    """
    client = await Client.connect(addr, dialect=dialect)
    try:
        root, _ = await client.attach(uname="tester")
        yield Session(client, root)
    finally:
        with trio.CancelScope(shield=True):
            await client.aclose()


def integrity_check(db: Path) -> list[str]:
    """``PRAGMA integrity_check`` with the sqlite3 command-line tool (a separate program, as an
    operator would run it), falling back to the module when the tool is missing."""
    try:
        done = subprocess.run(
            ["sqlite3", str(db), "PRAGMA integrity_check;"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout.split()
    except FileNotFoundError:
        with sqlite3.connect(db) as conn:
            return [row[0] for row in conn.execute("PRAGMA integrity_check")]


def log_lines(data: bytes) -> list[str]:
    """The entries of a ``log`` file's content."""
    return data.decode().splitlines()
