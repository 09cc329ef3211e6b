"""The sans-IO protocol state of one 9P connection: dialect, msize and fids.

Rules this module keeps:
1. ``Session.handle`` takes one decoded request and returns its reply; it never does I/O and never
   raises for a bad request: every failure becomes an error reply (``errors.error_reply``).
2. Every request is validated here (negotiated version, known fid, fid not in use, open mode,
   directory-read offsets, counts clamped to msize) before it touches the core.
3. An unexpected exception is a bug: it is logged with its traceback and answered with EIO; the
   session stays usable.
4. Tversion resets the session: every fid is clunked. Tflush is answered here with Rflush; the
   cancellation of the flushed request is the server's job (it owns the tasks).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from jobd_core import JobdError, Kind, Node, OpenMode, ReadOnlyNamespace

from . import wire
from ._limits import DEFAULT_MAX_FIDS, LimitExceeded, RefusalLog
from ._logging import refusal_level
from ._session_attrs import qid_of, wire_stat, wstat_truncation
from ._session_dir import DirentReader, StatDirReader
from ._session_dotl import DotLHandlers
from ._session_fids import Fid, FidTable
from .errors import SessionError, error_reply

logger = logging.getLogger(__name__)

DEFAULT_MAX_MSIZE = 1024 * 1024 + wire.IOHDRSZ  # 1 MiB of data per read/write plus headers
MIN_MSIZE = wire.MIN_MSIZE

Handler = Callable[[Any], Awaitable[wire.Message]]


class NamespaceLike(Protocol):
    """What a session needs of the core's namespace: its root node."""

    @property
    def root(self) -> Node: ...


class Session(DotLHandlers):
    """Protocol state of one 9P connection.

    Args:
        namespace: the core's namespace (anything with a ``root`` node).
        max_msize: the largest msize this server agrees to; a client's larger msize is capped.
        max_fids: fids this connection may hold; more are refused with EMFILE.
        refusals: where refusals by a limit are logged (once per kind at WARNING).
        debug_log: where refused requests are explained, once each, at ``refusal_level``
            (default: this module's logger).
    """

    def __init__(
        self,
        namespace: NamespaceLike,
        *,
        max_msize: int = DEFAULT_MAX_MSIZE,
        debug_log: logging.Logger | None = None,
        max_fids: int = DEFAULT_MAX_FIDS,
        refusals: RefusalLog | None = None,
    ) -> None:
        if max_msize < MIN_MSIZE:
            raise ValueError(f"max_msize {max_msize} is below the minimum {MIN_MSIZE}")
        self._root = namespace.root
        self.max_msize = max_msize
        self.dialect: wire.Dialect | None = None
        self.msize = max_msize
        self._fids = FidTable(max_fids)
        self._refusals = refusals if refusals is not None else RefusalLog("?")
        # --read-only: changes of metadata and names are refused here (EROFS) too, so every
        # change a client tries gets the same answer; opens for writing are refused by the view.
        self.read_only = isinstance(namespace, ReadOnlyNamespace)
        self._debug_log = debug_log or logger
        self._handlers: dict[type[wire.Message], Handler] = {
            wire.Tversion: self._version,
            wire.Tauth: self._auth,
            wire.Tattach: self._attach,
            wire.Tflush: self._flush,
            wire.Twalk: self._walk,
            wire.Topen: self._open,
            wire.Tcreate: self._create,
            wire.Tread: self._read,
            wire.Twrite: self._write,
            wire.Tclunk: self._clunk,
            wire.Tremove: self._remove,
            wire.Tstat: self._stat,
            wire.Twstat: self._wstat,
            **self.dotl_handlers(),
        }

    @property
    def fid_count(self) -> int:
        """How many fids are in use (for tests and diagnostics)."""
        return len(self._fids)

    @property
    def iounit(self) -> int:
        """The most data one Tread/Twrite may carry at the negotiated msize."""
        return self.msize - wire.IOHDRSZ

    async def handle(self, msg: wire.Message) -> wire.Message:
        """Process one request and return its reply (an error reply for any failure).

        Raises:
            trio.Cancelled: only cancellation propagates (a flushed request or disconnect).
        """
        try:
            return await self._handler_for(msg)(msg)
        except LimitExceeded as exc:
            self._refusals.refused(exc.kind, str(exc))
            return error_reply(msg.tag, exc, self.dialect)
        except (JobdError, SessionError) as exc:
            name = type(msg).__name__  # InvalidArgument (a ValueError): bad input, a warning
            level = refusal_level(exc.errno, invalid_input=isinstance(exc, ValueError))
            self._debug_log.log(level, "%s tag=%d refused: %s", name, msg.tag, exc,
                                extra={"tag": msg.tag, "request": name, "errno": exc.errno})
            return error_reply(msg.tag, exc, self.dialect)
        except Exception as exc:
            logger.exception("unexpected failure handling %r", msg, extra={"tag": msg.tag})
            return error_reply(msg.tag, exc, self.dialect)

    async def close(self) -> None:
        """Clunk every fid (disconnect or Tversion). Never raises (except cancellation): a fid
        that fails to close is logged and the others are still closed."""
        for fid in self._fids.drain():
            try:
                await fid.close()
            except JobdError as exc:
                logger.warning("closing fid %d failed: %s", fid.num, exc)
            except Exception:
                logger.exception("closing fid %d failed unexpectedly", fid.num)

    # ------------------------------------------------------------------------------ dispatch
    def _handler_for(self, msg: wire.Message) -> Handler:
        handler = self._handlers.get(type(msg))
        if handler is None:
            raise SessionError(f"{type(msg).__name__} is not a request", errno.EOPNOTSUPP)
        if isinstance(msg, wire.Tversion):
            return handler
        if self.dialect is None:
            raise SessionError("no version negotiated (send Tversion first)", errno.EPROTO)
        if not wire.is_valid_in(type(msg), self.dialect):
            raise SessionError(
                f"{type(msg).__name__} is not part of {self.dialect.value}", errno.EOPNOTSUPP
            )
        if self.read_only and isinstance(msg, _CHANGES):
            raise SessionError("read-only file system", errno.EROFS)
        return handler

    # ------------------------------------------------------------------------ session set-up
    async def _version(self, msg: wire.Tversion) -> wire.Message:
        await self.close()
        self.dialect = None
        if msg.msize < MIN_MSIZE:
            raise SessionError(f"msize {msg.msize} too small (minimum {MIN_MSIZE})", errno.EINVAL)
        msize = min(msg.msize, self.max_msize)
        dialect = wire.Dialect.negotiate(msg.version)
        if dialect is None:
            return wire.Rversion(tag=msg.tag, msize=msize, version="unknown")
        self.dialect = dialect
        self.msize = msize
        return wire.Rversion(tag=msg.tag, msize=msize, version=dialect.value)

    async def _auth(self, msg: wire.Tauth) -> wire.Message:
        # ENOENT is what diod answers and what diod's client tools take as "no auth needed".
        raise SessionError("authentication not required", errno.ENOENT)

    async def _attach(self, msg: wire.Tattach) -> wire.Message:
        self._fids.check_free(msg.fid)
        if msg.afid != wire.NOFID:
            raise SessionError(f"unknown afid {msg.afid} (no authentication)", errno.EBADF)
        # uname "" and n_uname NONUNAME are fine: jobd has no per-user permissions.
        self._fids.add(Fid(msg.fid, self._root, msg.uname))
        return wire.Rattach(tag=msg.tag, qid=qid_of(self._root.stat()))

    async def _flush(self, msg: wire.Tflush) -> wire.Message:
        return wire.Rflush(tag=msg.tag)

    # ------------------------------------------------------------------------------- walking
    async def _walk(self, msg: wire.Twalk) -> wire.Message:
        fid = self._fids.get(msg.fid)
        if msg.newfid == msg.fid and (fid.opened or fid.opening):
            raise SessionError(f"fid {msg.fid} is open and cannot move", errno.EBADF)
        # walk(5) forbids walking from an open fid at all; diod allows it into a new fid and
        # diod's tools rely on it (diodls -l walks from the directory it reads). The new fid
        # is a plain unopened fid, so nothing about the open one changes.
        if msg.newfid != msg.fid:
            self._fids.check_free(msg.newfid)
        if len(msg.wnames) > wire.MAXWELEM:
            raise SessionError(f"too many names in walk ({len(msg.wnames)})", errno.EINVAL)
        node = fid.node
        qids: list[wire.Qid] = []
        for i, name in enumerate(msg.wnames):
            try:
                node = _step(node, name)
            except (JobdError, SessionError):
                if i == 0:
                    raise
                return wire.Rwalk(tag=msg.tag, wqids=tuple(qids))
            qids.append(qid_of(node.stat()))
        self._fids.add(Fid(msg.newfid, node, fid.uname))
        return wire.Rwalk(tag=msg.tag, wqids=tuple(qids))

    # ------------------------------------------------------------------------------- opening
    async def _open(self, msg: wire.Topen) -> wire.Message:
        fid = self._fids.get(msg.fid)
        access = msg.mode & 3
        mode = OpenMode(
            read=access in (wire.OREAD, wire.ORDWR, wire.OEXEC),
            write=access in (wire.OWRITE, wire.ORDWR),
            truncate=bool(msg.mode & wire.OTRUNC),
        )
        await self._open_fid(fid, mode)
        fid.remove_on_close = bool(msg.mode & wire.ORCLOSE)
        return wire.Ropen(tag=msg.tag, qid=qid_of(fid.node.stat()), iounit=self.iounit)

    async def _open_fid(self, fid: Fid, mode: OpenMode) -> None:
        """Open ``fid`` in ``mode``: a core handle, and for directories also a reader.

        Raises:
            SessionError: the fid is already open, EISDIR for writing a directory, EACCES when
                the node's permission bits forbid the mode.
            JobdError: from ``Node.open``.
        """
        if fid.opened or fid.opening:
            raise SessionError(f"fid {fid.num} already open", errno.EBADF)
        st = fid.node.stat()
        if st.kind is Kind.DIR and (mode.write or mode.truncate):
            raise SessionError(f"{st.name}: is a directory", errno.EISDIR)
        if mode.write and not st.mode & 0o222:
            raise SessionError(f"{st.name}: read-only", errno.EACCES)
        if mode.read and not st.mode & 0o444:
            raise SessionError(f"{st.name}: write-only", errno.EACCES)
        fid.opening = True
        try:
            handle = await fid.node.open(mode)
        finally:
            fid.opening = False
        if not self._fids.holds(fid):  # clunked while the core was opening it
            await handle.close()
            raise SessionError(f"fid {fid.num} was clunked during open", errno.EBADF)
        fid.handle = handle
        fid.mode = mode
        if st.kind is Kind.DIR:  # the handle only proves the directory exists; we read it here
            if self.dialect is wire.Dialect.L:
                fid.dirent_reader = DirentReader()
            else:
                assert self.dialect is not None
                fid.stat_reader = StatDirReader(self.dialect)

    async def _create(self, msg: wire.Tcreate) -> wire.Message:
        fid = self._fids.get(msg.fid)
        kind = Kind.DIR if msg.perm & wire.DMDIR else Kind.FILE
        node = await self._create_child(fid, msg.name, kind, msg.perm & 0o777)
        access = msg.mode & 3
        mode = OpenMode(read=access != wire.OWRITE, write=access in (wire.OWRITE, wire.ORDWR))
        await self._open_in_place(fid, node, mode)
        return wire.Rcreate(tag=msg.tag, qid=qid_of(node.stat()), iounit=self.iounit)

    async def _open_in_place(self, fid: Fid, node: Node, mode: OpenMode) -> None:
        """Tcreate/Tlcreate: ``fid`` (a directory) becomes ``node``, opened in ``mode``; on
        failure it stays the directory.

        Raises:
            SessionError, JobdError: as ``_open_fid``.
        """
        new = Fid(fid.num, node, fid.uname)
        self._fids.add(new)
        try:
            await self._open_fid(new, mode)
        except BaseException:
            if self._fids.holds(new):
                self._fids.add(fid)
            raise

    async def _create_child(
        self, fid: Fid, name: str, kind: Kind, perm: int, *, open_existing: bool = False
    ) -> Node:
        """Create ``name`` in the directory of ``fid`` (jobd refuses unless the core allows).

        With ``open_existing`` (Tlcreate without O_EXCL), an existing file of that name is
        returned instead, as open(2) with O_CREAT does and diod answers; p9fs writes every file
        that way (create, then open). Otherwise an existing name is EEXIST (create(5)).

        Raises:
            SessionError: the fid is open or not a directory; EEXIST.
            JobdError: from ``Node.create`` (PermissionDenied in jobd's tree).
        """
        if fid.opened or fid.opening:
            raise SessionError(f"fid {fid.num} is open", errno.EBADF)
        if not fid.is_dir:
            raise SessionError(f"{fid.node.name}: not a directory", errno.ENOTDIR)
        _check_name(name)
        try:
            existing = fid.node.lookup(name)
        except JobdError:
            return await fid.node.create(name, kind, perm)
        if open_existing and existing.kind is Kind.FILE and kind is Kind.FILE:
            return existing
        raise SessionError(f"{name}: file exists", errno.EEXIST)

    # ------------------------------------------------------------------------------------ I/O
    async def _read(self, msg: wire.Tread) -> wire.Message:
        fid = self._opened(msg.fid, want_write=False)
        count = min(msg.count, self.iounit)
        if fid.xattr_list:
            return wire.Rread(tag=msg.tag, data=b"")  # jobd's files have no extended attributes
        if fid.is_dir:
            if fid.stat_reader is None:
                raise SessionError("directories are read with Treaddir in 9P2000.L", errno.EISDIR)
            data = fid.stat_reader.read(fid.node, msg.offset, count)
        else:
            assert fid.handle is not None
            data = await fid.handle.read(msg.offset, count)
        return wire.Rread(tag=msg.tag, data=data[:count])

    async def _write(self, msg: wire.Twrite) -> wire.Message:
        if self._fids.get(msg.fid).is_dir:
            raise SessionError(f"{self._fids.get(msg.fid).node.name}: is a directory", errno.EISDIR)
        fid = self._opened(msg.fid, want_write=True)
        assert fid.handle is not None
        count = await fid.handle.write(msg.offset, msg.data)
        return wire.Rwrite(tag=msg.tag, count=count)

    def _opened(self, num: int, *, want_write: bool) -> Fid:
        """The fid ``num``, opened for writing (``want_write``) or reading.

        Raises:
            SessionError: EBADF for an unknown fid, a fid not open, or open in another mode.
        """
        fid = self._fids.get(num)
        if fid.mode is None:
            raise SessionError(f"fid {num} is not open", errno.EBADF)
        if want_write and not fid.mode.write:
            raise SessionError(f"fid {num} is not open for writing", errno.EBADF)
        if not want_write and not fid.mode.read:
            raise SessionError(f"fid {num} is not open for reading", errno.EBADF)
        return fid

    # --------------------------------------------------------------------------- release
    async def _clunk(self, msg: wire.Tclunk) -> wire.Message:
        fid = self._fids.pop(msg.fid)
        await fid.close()
        return wire.Rclunk(tag=msg.tag)

    async def _remove(self, msg: wire.Tremove) -> wire.Message:
        fid = self._fids.pop(msg.fid)  # clunked whether or not the removal succeeds
        fid.remove_on_close = False
        try:
            await fid.close()
        finally:
            await fid.node.remove()
        return wire.Rremove(tag=msg.tag)

    # ------------------------------------------------------------------------------ metadata
    async def _stat(self, msg: wire.Tstat) -> wire.Message:
        fid = self._fids.get(msg.fid)
        return wire.Rstat(tag=msg.tag, stat=wire_stat(fid.node.stat()))

    async def _wstat(self, msg: wire.Twstat) -> wire.Message:
        fid = self._fids.get(msg.fid)
        st = fid.node.stat()
        length = wstat_truncation(msg.stat, st)
        current = 0 if st.kind is Kind.DIR else st.size
        if length is not None and (length != current or (length == 0 and st.kind is Kind.FILE)):
            await fid.node.truncate(length)
        return wire.Rwstat(tag=msg.tag)


# Requests that change names or metadata: refused up front on a read-only session. (Opens for
# writing are refused by the read-only view; Tremove still clunks its fid, then fails there.)
_CHANGES = (wire.Twstat, wire.Tsetattr, wire.Tcreate, wire.Tlcreate, wire.Tmkdir, wire.Tsymlink,
            wire.Tmknod, wire.Tlink, wire.Trename, wire.Trenameat, wire.Tunlinkat,
            wire.Txattrcreate)  # fmt: skip


def _check_name(name: str) -> None:
    """Raises SessionError (ENOENT/EINVAL) for names no directory can hold."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise SessionError(f"invalid file name {name!r}", errno.EINVAL)


def _step(node: Node, name: str) -> Node:
    """One walk step: ``..`` goes up (the root is its own parent), other names are looked up.

    Raises:
        SessionError: ENOENT for names that cannot exist ("", ".", names with '/').
        NotFound, NotADirectory: from ``Node.lookup``.
    """
    if name == "..":
        return node.parent()
    if name in ("", ".") or "/" in name:
        raise SessionError(f"{name!r}: no such file", errno.ENOENT)
    return node.lookup(name)
