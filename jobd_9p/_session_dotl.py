"""The 9P2000.L requests of a session (mixed into ``Session``).

Rules this module keeps:
1. What the Linux client needs works: attach/walk/getattr/setattr/lopen/read/write/readdir/
   unlinkat/statfs/fsync/lock. What jobd's synthetic tree cannot do gets a fitting errno:
   creating or linking files EPERM, renames EPERM, readlink EINVAL; no extended attributes
   (getxattr ENODATA, listxattr an empty list, setxattr EOPNOTSUPP).
2. Locks always succeed and nothing is ever reported locked: there is nothing to protect.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import Any

from jobd_core import Kind, Node, OpenMode

from . import wire
from ._session_attrs import V9FS_MAGIC, getattr_reply, qid_of, setattr_truncation
from ._session_fids import Fid, FidTable
from .errors import SessionError

NAME_MAX = 255


class DotLHandlers:
    """Handlers of the .L-only requests; ``Session`` provides the state they use."""

    _fids: FidTable
    msize: int

    @property
    def iounit(self) -> int:
        raise NotImplementedError

    async def _open_fid(self, fid: Fid, mode: OpenMode) -> None:
        raise NotImplementedError

    async def _open_in_place(self, fid: Fid, node: Node, mode: OpenMode) -> None:
        raise NotImplementedError

    async def _create_child(
        self, fid: Fid, name: str, kind: Kind, perm: int, *, open_existing: bool = False
    ) -> Node:
        raise NotImplementedError

    def dotl_handlers(self) -> dict[type[wire.Message], Callable[[Any], Awaitable[wire.Message]]]:
        """The handler of each .L request type."""
        return {
            wire.Tstatfs: self._statfs,
            wire.Tlopen: self._lopen,
            wire.Tlcreate: self._lcreate,
            wire.Tsymlink: self._refuse_create,
            wire.Tmknod: self._refuse_create,
            wire.Tlink: self._refuse_create,
            wire.Trename: self._rename,
            wire.Trenameat: self._rename,
            wire.Treadlink: self._readlink,
            wire.Tgetattr: self._getattr,
            wire.Tsetattr: self._setattr,
            wire.Txattrwalk: self._xattrwalk,
            wire.Txattrcreate: self._xattrcreate,
            wire.Treaddir: self._readdir,
            wire.Tfsync: self._fsync,
            wire.Tlock: self._lock,
            wire.Tgetlock: self._getlock,
            wire.Tmkdir: self._mkdir,
            wire.Tunlinkat: self._unlinkat,
        }

    async def _statfs(self, msg: wire.Tstatfs) -> wire.Message:
        self._fids.get(msg.fid)
        return wire.Rstatfs(
            tag=msg.tag, type=V9FS_MAGIC, bsize=4096, blocks=0, bfree=0, bavail=0,
            files=0, ffree=0, fsid=0, namelen=NAME_MAX,
        )  # fmt: skip

    async def _lopen(self, msg: wire.Tlopen) -> wire.Message:
        fid = self._fids.get(msg.fid)
        access = msg.flags & wire.P9_DOTL_ACCMODE
        mode = OpenMode(
            read=access != wire.P9_DOTL_WRONLY,
            write=access in (wire.P9_DOTL_WRONLY, wire.P9_DOTL_RDWR),
            truncate=bool(msg.flags & wire.P9_DOTL_TRUNC),
        )
        await self._open_fid(fid, mode)
        return wire.Rlopen(tag=msg.tag, qid=qid_of(fid.node.stat()), iounit=self.iounit)

    async def _lcreate(self, msg: wire.Tlcreate) -> wire.Message:
        fid = self._fids.get(msg.fid)
        node = await self._create_child(fid, msg.name, Kind.FILE, msg.mode & 0o777,
                                        open_existing=not msg.flags & wire.P9_DOTL_EXCL)
        access = msg.flags & wire.P9_DOTL_ACCMODE
        mode = OpenMode(
            read=access != wire.P9_DOTL_WRONLY,
            write=access in (wire.P9_DOTL_WRONLY, wire.P9_DOTL_RDWR),
            truncate=bool(msg.flags & wire.P9_DOTL_TRUNC),
        )
        await self._open_in_place(fid, node, mode)
        return wire.Rlcreate(tag=msg.tag, qid=qid_of(node.stat()), iounit=self.iounit)

    async def _mkdir(self, msg: wire.Tmkdir) -> wire.Message:
        fid = self._fids.get(msg.dfid)
        node = await self._create_child(fid, msg.name, Kind.DIR, msg.mode & 0o777)
        return wire.Rmkdir(tag=msg.tag, qid=qid_of(node.stat()))

    async def _refuse_create(self, msg: wire.Tsymlink | wire.Tmknod | wire.Tlink) -> wire.Message:
        self._fids.get(msg.dfid if isinstance(msg, wire.Tmknod | wire.Tlink) else msg.fid)
        raise SessionError(
            "jobd's files are synthetic: no links, devices or symlinks; write to /clone",
            errno.EPERM,
        )

    async def _rename(self, msg: wire.Trename | wire.Trenameat) -> wire.Message:
        if isinstance(msg, wire.Trename):
            self._fids.get(msg.fid)
            self._fids.get(msg.dfid)
        else:
            self._fids.get(msg.olddirfid)
            self._fids.get(msg.newdirfid)
        raise SessionError("jobs cannot be renamed", errno.EPERM)

    async def _readlink(self, msg: wire.Treadlink) -> wire.Message:
        fid = self._fids.get(msg.fid)
        raise SessionError(f"{fid.node.name}: not a symbolic link", errno.EINVAL)

    async def _getattr(self, msg: wire.Tgetattr) -> wire.Message:
        fid = self._fids.get(msg.fid)
        return getattr_reply(msg.tag, fid.node.stat())

    async def _setattr(self, msg: wire.Tsetattr) -> wire.Message:
        fid = self._fids.get(msg.fid)
        st = fid.node.stat()
        size = setattr_truncation(msg, st)
        if size is not None:
            if st.kind is Kind.DIR:
                raise SessionError(f"{st.name or '/'}: is a directory", errno.EISDIR)
            await fid.node.truncate(size)
        return wire.Rsetattr(tag=msg.tag)

    async def _xattrwalk(self, msg: wire.Txattrwalk) -> wire.Message:
        fid = self._fids.get(msg.fid)
        if msg.newfid != msg.fid:
            self._fids.check_free(msg.newfid)
        if msg.name:
            raise SessionError(f"no extended attribute {msg.name!r}", errno.ENODATA)
        # listxattr: an empty list, read through newfid (as diod answers)
        listing = Fid(msg.newfid, fid.node, fid.uname, mode=OpenMode(), xattr_list=True)
        self._fids.add(listing)
        return wire.Rxattrwalk(tag=msg.tag, size=0)

    async def _xattrcreate(self, msg: wire.Txattrcreate) -> wire.Message:
        self._fids.get(msg.fid)
        raise SessionError("extended attributes are not supported", errno.EOPNOTSUPP)

    async def _readdir(self, msg: wire.Treaddir) -> wire.Message:
        fid = self._fids.get(msg.fid)
        if not fid.is_dir:
            raise SessionError(f"{fid.node.name}: not a directory", errno.ENOTDIR)
        if fid.dirent_reader is None:
            raise SessionError(f"fid {msg.fid} is not open", errno.EBADF)
        count = min(msg.count, self.msize - wire.READDIRHDRSZ)
        data = fid.dirent_reader.read(fid.node, msg.offset, count)
        return wire.Rreaddir(tag=msg.tag, data=data)

    async def _fsync(self, msg: wire.Tfsync) -> wire.Message:
        self._fids.get(msg.fid)  # every acknowledged change is already committed
        return wire.Rfsync(tag=msg.tag)

    async def _lock(self, msg: wire.Tlock) -> wire.Message:
        self._fids.get(msg.fid)
        return wire.Rlock(tag=msg.tag, status=wire.P9_LOCK_SUCCESS)

    async def _getlock(self, msg: wire.Tgetlock) -> wire.Message:
        self._fids.get(msg.fid)
        return wire.Rgetlock(
            tag=msg.tag, type=wire.P9_LOCK_TYPE_UNLCK, start=msg.start, length=msg.length,
            proc_id=msg.proc_id, client_id=msg.client_id,
        )  # fmt: skip

    async def _unlinkat(self, msg: wire.Tunlinkat) -> wire.Message:
        fid = self._fids.get(msg.dirfid)
        if not fid.is_dir:
            raise SessionError(f"{fid.node.name}: not a directory", errno.ENOTDIR)
        if msg.name in ("", ".", "..") or "/" in msg.name:
            raise SessionError(f"cannot remove {msg.name!r}", errno.EINVAL)
        child = fid.node.lookup(msg.name)
        is_dir = child.kind is Kind.DIR
        if msg.flags & wire.AT_REMOVEDIR and not is_dir:
            raise SessionError(f"{msg.name}: not a directory", errno.ENOTDIR)
        if not msg.flags & wire.AT_REMOVEDIR and is_dir:
            raise SessionError(f"{msg.name}: is a directory", errno.EISDIR)
        await child.remove()
        return wire.Runlinkat(tag=msg.tag)
