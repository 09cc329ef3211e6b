"""Drive jobd with pyroute2's plan9 client (9P2000, asyncio) — run with the pyroute2 environment's
python.

    pyroute2_driver.py HOST:PORT [STEP ...]

Prints ``PASS``/``FAIL`` lines and ``DONE`` (see ``steps.py``).

pyroute2's client is written for pyroute2's own 9P server; against any other server (diod,
Plan 9's lib9p, jobd) these habits fail, and they are pyroute2's bugs, worked around here on
the client side (a real server would not accept or produce what pyroute2 expects):
- ``read``/``write`` never send Topen: read(5) allows I/O only on an open fid, and jobd answers
  "fid not open" as lib9p and diod do. We send Topen (and Tclunk) with pyroute2's own message
  classes through its ``request``.
- it decodes every Rerror's text as JSON (pyroute2's server sends a JSON object there); a 9P2000
  error string makes ``request`` raise ``json.JSONDecodeError``. We parse Rerror ourselves
  (``_Marshal``) to get the text back.
- ``write`` ignores its offset (always 0); our writes are whole files at 0, so it does not matter.
- Tversion uses NOTAG, which ``request`` then returns to its tag pool; 255 requests later every
  request raises ``KeyError('address is not allocated')``. We drop that pool entry.
It also asks for reads of 8192 bytes at msize 8192 (more than fits); jobd clamps the count, as
read(5) allows.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from pathlib import Path
from typing import Any

from pyroute2.plan9 import (  # type: ignore[import-not-found]
    Marshal9P,
    Rerror,
    msg_tclunk,
    msg_topen,
    msg_tstat,
    msg_twalk,
)
from pyroute2.plan9.client import Plan9ClientSocket  # type: ignore[import-not-found]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import ClientError, run_steps

OREAD, OWRITE, OTRUNC = 0, 1, 0x10


class Pyroute2RemoteError(Exception):
    """An Rerror, with the server's text."""


class _Marshal(Marshal9P):  # type: ignore[misc]
    """pyroute2's marshal, except that Rerror carries a plain 9P2000 string (see the docstring)."""

    def parse(self, data: bytes, seq: Any = None, callback: Any = None,
              skip_alien_seq: bool = False) -> Any:  # fmt: skip
        offset = 0
        while offset <= len(data) - 5:
            length, key, tag = struct.unpack_from("=IBH", data, offset)
            if not 0 < length <= len(data):
                break
            msg = self.get_parser(key, 0, tag)(data, offset, length)
            if key == Rerror:
                raise Pyroute2RemoteError(msg["ename"])
            offset += length
            if msg is not None:
                yield msg


def _stat_entries(raw: bytes) -> list[tuple[str, int]]:
    """(name, length) of each stat(5) entry of a directory read."""
    out, pos = [], 0
    while pos + 2 <= len(raw):
        size = struct.unpack_from("<H", raw, pos)[0]
        entry = raw[pos + 2 : pos + 2 + size]
        length = struct.unpack_from("<Q", entry, 2 + 4 + 13 + 4 + 4 + 4)[0]
        name_len = struct.unpack_from("<H", entry, 39)[0]
        out.append((entry[41 : 41 + name_len].decode(), length))
        pos += 2 + size
    return out


class Pyroute2FS:
    def __init__(self, host: str, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.client = Plan9ClientSocket(address=(host, port))
        self.client.set_marshal(_Marshal())
        self._run(self.client.start_session())
        # Tversion went out with NOTAG, a tag pyroute2 did not take from its pool; request() still
        # "frees" it after 255 more requests, which raises KeyError in every request from then on.
        pool = self.client.addr_pool
        pool.ban = [item for item in pool.ban if item["addr"] != 0xFFFF]

    def _run(self, coro: Any) -> Any:
        try:
            return self.loop.run_until_complete(coro)
        except Pyroute2RemoteError as e:
            raise ClientError(None, str(e)) from e

    async def _walk_open(self, path: str, mode: int) -> int:
        fid = self.client.fid_pool.alloc()
        walk = msg_twalk()
        walk["fid"], walk["newfid"] = 0, fid
        walk["wname"] = [p for p in path.split("/") if p]
        reply = await self.client.request(walk)
        if len(reply["wqid"]) != len(walk["wname"]):
            # walk(5): a partial Rwalk means the next name does not exist
            raise Pyroute2RemoteError(
                f"{path}: not found (walk stopped after {len(reply['wqid'])})"
            )
        if mode >= 0:
            opening = msg_topen()
            opening["fid"], opening["mode"] = fid, mode
            try:
                await self.client.request(opening)
            except Pyroute2RemoteError:
                await self._clunk(fid)
                raise
        return fid

    async def _clunk(self, fid: int) -> None:
        clunk = msg_tclunk()
        clunk["fid"] = fid
        await self.client.request(clunk)

    async def _read_all(self, path: str) -> bytes:
        fid = await self._walk_open(path, OREAD)
        try:
            chunks, offset = [], 0
            while data := bytes((await self.client.read(fid, offset=offset))["data"]):
                chunks.append(data)
                offset += len(data)
            return b"".join(chunks)
        finally:
            await self._clunk(fid)

    async def _write(self, path: str, data: bytes) -> None:
        fid = await self._walk_open(path, OWRITE | OTRUNC)
        try:
            await self.client.write(fid, data)
        finally:
            await self._clunk(fid)

    async def _size(self, path: str) -> int:
        fid = await self._walk_open(path, -1)
        try:
            request = msg_tstat()
            request["fid"] = fid
            reply = await self.client.request(request)
            return int(reply["stat"]["length"])
        finally:
            await self._clunk(fid)

    def ls(self, path: str) -> list[str]:
        return sorted(name for name, _ in _stat_entries(self._run(self._read_all(path))))

    def read(self, path: str) -> bytes:
        data: bytes = self._run(self._read_all(path))
        return data

    def write(self, path: str, data: bytes) -> None:
        self._run(self._write(path, data))

    def size(self, path: str) -> int:
        size: int = self._run(self._size(path))
        return size


def main(argv: list[str]) -> int:
    host, _, port = argv[1].rpartition(":")
    fs = Pyroute2FS(host, int(port))
    lines = run_steps(fs, argv[2:] or None)
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
