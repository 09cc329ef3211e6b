"""jobctl's 9P2000 connection over py9p's synchronous client: addresses, fids, whole-file I/O.

Rules this module keeps:
1. Reads loop until a short read (count < requested): jobd's files are synthetic, so a short read
   is the end.
2. A walk that stops part way is repeated name by name so the user sees the server's own error.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import py9p


class UsageError(Exception):
    """Bad command line; exit 2."""


class CommandError(Exception):
    """A failure to report as ``jobctl: MESSAGE``; exit 1."""


@dataclass(frozen=True, slots=True)
class Address:
    """Where jobd listens: TCP ``host``/``port`` or a unix socket ``path``."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"


def parse_addr(text: str) -> Address:
    """Parse ``HOST:PORT``, ``[V6]:PORT`` or ``unix:PATH``.

    Raises:
        UsageError: the address is malformed.
    """
    if text.startswith("unix:"):
        if not text[5:]:
            raise UsageError(f"bad address {text!r}: empty socket path")
        return Address(path=text[5:])
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad address {text!r}: expected HOST:PORT or unix:PATH")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Address(host=host, port=int(port))


class Connection:
    """One attached 9P2000 session with fid allocation, over py9p's client."""

    ROOT_FID = 0

    def __init__(self, client: py9p.Client) -> None:
        self._client = client
        self._next_fid = 1
        client.negotiate()
        client.attach(self.ROOT_FID)
        self.iounit = max(1, client.msize - py9p.IOHDRSZ)

    @classmethod
    def open(cls, addr: Address, *, timeout: float = 10.0) -> Connection:
        """Connect and attach.

        Raises:
            CommandError: the server cannot be reached or refused the session.
        """
        try:
            if addr.path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(addr.path)
            else:
                sock = socket.create_connection((addr.host, addr.port), timeout=timeout)
            sock.settimeout(None)  # ctl verbs such as kill may take the server a while
        except OSError as exc:
            raise CommandError(_connect_reason(addr, exc)) from exc
        try:
            return cls(py9p.Client(sock))
        except (py9p.NinePError, OSError, EOFError) as exc:
            sock.close()
            raise CommandError(f"cannot start a 9P session with {addr}: {exc}") from exc

    def close(self) -> None:
        self._client.close()

    def _fid(self) -> int:
        fid = self._next_fid
        self._next_fid += 1
        return fid

    def walk(self, path: str) -> int:
        """Walk from the root to ``path`` into a new fid.

        Raises:
            py9p.RemoteError: the server's error for the first name that does not exist.
        """
        names = [p for p in path.split("/") if p]
        fid = self._fid()
        qids = self._client.walk(self.ROOT_FID, fid, names)
        if len(qids) == len(names):
            return fid
        # A walk failing after its first name answers with the qids walked, not an error: walk the
        # failing name alone from the prefix so the user sees the server's own error text.
        prefix = self._fid()
        self._client.walk(self.ROOT_FID, prefix, names[: len(qids)])
        try:
            self._client.walk(prefix, self._fid(), names[len(qids) : len(qids) + 1])
        finally:
            self._client.clunk(prefix)
        raise py9p.RemoteError(f"{'/'.join(names[: len(qids) + 1])}: file does not exist")

    @contextlib.contextmanager
    def opened(self, path: str, mode: int) -> Iterator[int]:
        fid = self.walk(path)
        try:
            self._client.open(fid, mode)
            yield fid
        finally:
            self._clunk_quietly(fid)

    def _clunk_quietly(self, fid: int) -> None:
        # The fid may already be gone with a deleted job; the clunk's failure changes nothing.
        with contextlib.suppress(py9p.NinePError, OSError, EOFError):
            self._client.clunk(fid)

    def read_at(self, fid: int, offset: int) -> bytes:
        """Everything from ``offset`` to the current end."""
        chunks: list[bytes] = []
        while True:
            data = self._client.read(fid, self.iounit, offset)
            chunks.append(data)
            offset += len(data)
            if len(data) < self.iounit:
                return b"".join(chunks)

    def read_file(self, path: str) -> bytes:
        with self.opened(path, int(py9p.OREAD)) as fid:
            return self.read_at(fid, 0)

    def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` in one open (one message per write for ctl-style files)."""
        with self.opened(path, int(py9p.OWRITE)) as fid:
            offset = 0
            while True:
                chunk = data[offset : offset + self.iounit]
                offset += self._client.write(fid, chunk, offset)
                if offset >= len(data):
                    return

    def list_dir(self, path: str) -> list[py9p.Dir]:
        """The entries of a directory, decoded from its packed stat reads."""
        raw = self.read_file(path)
        entries = []
        pos = 0
        while pos + 2 <= len(raw):
            size = int.from_bytes(raw[pos : pos + 2], "little") + 2
            entries.append(py9p.decode_dir(raw[pos : pos + size]))
            pos += size
        return entries

    def job_exists(self, name: str) -> bool:
        try:
            fid = self.walk(f"jobs/{name}")
        except py9p.RemoteError:
            return False
        self._clunk_quietly(fid)
        return True


def _connect_reason(addr: Address, exc: OSError) -> str:
    why = {
        errno.ECONNREFUSED: "connection refused",
        errno.ENOENT: "no such socket",
        errno.ETIMEDOUT: "timed out",
    }.get(exc.errno or 0, str(exc) or type(exc).__name__)
    if isinstance(exc, TimeoutError):
        why = "timed out"
    return f"cannot connect to jobd at {addr}: {why} (is jobd running? use --addr or JOBD_ADDR)"
