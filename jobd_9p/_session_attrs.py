"""Translations between the core's ``Stat`` and 9P's qid / stat / getattr, and the checks of
Twstat / Tsetattr requests.

Rules this module keeps:
1. qid.path is the node id, qid.version the node version, qid.type QTDIR for directories.
2. jobd's tree is synthetic: the only metadata change a client can make is truncation to 0
   (what ``echo x > file`` sends). Time changes (``touch``) are accepted and ignored; changes to
   mode, owner or name that would alter something are refused with EPERM.
"""

from __future__ import annotations

import errno
import stat as _stat

from jobd_core import DirEntry, Kind, Stat

from . import wire
from .errors import SessionError

V9FS_MAGIC = 0x01021997  # Linux's statfs f_type for 9p
DT_DIR = 4
DT_REG = 8
BLOCK_SIZE = 4096

# "don't touch" values of a Twstat stat (stat(5)): ~0 of each integer width, "" for strings.
_DONT_TOUCH_16 = 0xFFFF
_DONT_TOUCH_32 = 0xFFFFFFFF
_DONT_TOUCH_64 = 0xFFFFFFFFFFFFFFFF


def qid_of(st: Stat | DirEntry) -> wire.Qid:
    """The qid of a node with stat ``st`` (or of a listed child: the same fields)."""
    qtype = wire.QTDIR if st.kind is Kind.DIR else wire.QTFILE
    return wire.Qid(type=qtype, version=st.version & _DONT_TOUCH_32, path=st.id)


def wire_stat(st: Stat) -> wire.Stat:
    """The stat(5) structure (with the .u fields filled in) of a node."""
    is_dir = st.kind is Kind.DIR
    return wire.Stat(
        type=0,
        dev=0,
        qid=qid_of(st),
        mode=(wire.DMDIR if is_dir else 0) | (st.mode & 0o777),
        atime=(st.atime_ns // 1_000_000_000) & _DONT_TOUCH_32,
        mtime=(st.mtime_ns // 1_000_000_000) & _DONT_TOUCH_32,
        length=0 if is_dir else st.size,
        name=st.name or "/",
        uid=st.owner,
        gid=st.group,
        muid=st.owner,
        extension="",
        n_uid=st.uid,
        n_gid=st.gid,
        n_muid=st.uid,
    )


def getattr_reply(tag: int, st: Stat) -> wire.Rgetattr:
    """Rgetattr for a node: every basic field valid (we always know them all)."""
    is_dir = st.kind is Kind.DIR
    size = 0 if is_dir else st.size
    return wire.Rgetattr(
        tag=tag,
        valid=wire.P9_GETATTR_BASIC,
        qid=qid_of(st),
        mode=(_stat.S_IFDIR if is_dir else _stat.S_IFREG) | (st.mode & 0o777),
        uid=st.uid,
        gid=st.gid,
        nlink=2 if is_dir else 1,
        rdev=0,
        size=size,
        blksize=BLOCK_SIZE,
        blocks=(size + 511) // 512,
        atime_sec=st.atime_ns // 1_000_000_000,
        atime_nsec=st.atime_ns % 1_000_000_000,
        mtime_sec=st.mtime_ns // 1_000_000_000,
        mtime_nsec=st.mtime_ns % 1_000_000_000,
        ctime_sec=st.ctime_ns // 1_000_000_000,
        ctime_nsec=st.ctime_ns % 1_000_000_000,
        btime_sec=0,
        btime_nsec=0,
        gen=0,
        data_version=0,
    )


def dirent_of(entry: DirEntry) -> wire.Dirent:
    """The Rreaddir entry of a listed child; its cookie is the child's id (``_session_dir``)."""
    dtype = DT_DIR if entry.kind is Kind.DIR else DT_REG
    return wire.Dirent(qid=qid_of(entry), offset=entry.id, type=dtype, name=entry.name)


def wstat_truncation(req: wire.Stat, current: Stat) -> int | None:
    """Check a Twstat; return the length to truncate to, or None for a no-op.

    Accepted: every field "don't touch" or equal to the current value, any atime/mtime (ignored),
    a length (the node decides which lengths it accepts).

    Raises:
        SessionError: EPERM for a change of name, mode, owner or the other fixed fields.
    """
    now = wire_stat(current)
    fixed = (
        ("type", req.type, _DONT_TOUCH_16, now.type),
        ("dev", req.dev, _DONT_TOUCH_32, now.dev),
        ("qid.type", req.qid.type, 0xFF, now.qid.type),
        ("qid.version", req.qid.version, _DONT_TOUCH_32, now.qid.version),
        ("qid.path", req.qid.path, _DONT_TOUCH_64, now.qid.path),
        ("mode", req.mode, _DONT_TOUCH_32, now.mode),
        ("name", req.name, "", now.name),
        ("uid", req.uid, "", now.uid),
        ("gid", req.gid, "", now.gid),
        ("muid", req.muid, "", now.muid),
        ("extension", req.extension, "", now.extension),
        ("n_uid", req.n_uid, _DONT_TOUCH_32, now.n_uid),
        ("n_gid", req.n_gid, _DONT_TOUCH_32, now.n_gid),
        ("n_muid", req.n_muid, _DONT_TOUCH_32, now.n_muid),
    )
    for field, value, dont_touch, current_value in fixed:
        if value != dont_touch and value != current_value:
            raise SessionError(f"{current.name}: cannot change {field}", errno.EPERM)
    if req.length == _DONT_TOUCH_64:
        return None
    return req.length


_SETATTR_IGNORED = (
    wire.P9_SETATTR_ATIME
    | wire.P9_SETATTR_MTIME
    | wire.P9_SETATTR_CTIME
    | wire.P9_SETATTR_ATIME_SET
    | wire.P9_SETATTR_MTIME_SET
)


def setattr_truncation(req: wire.Tsetattr, current: Stat) -> int | None:
    """Check a Tsetattr; return the size to truncate to, or None when nothing changes.

    Time changes (``touch``) are accepted and ignored; mode/uid/gid equal to the current value too.

    Raises:
        SessionError: EPERM for a real change of mode, uid or gid, or unknown valid bits.
    """
    valid = req.valid
    if valid & wire.P9_SETATTR_MODE and (req.mode & 0o7777) != (current.mode & 0o7777):
        raise SessionError(f"{current.name}: cannot change mode", errno.EPERM)
    if valid & wire.P9_SETATTR_UID and req.uid != current.uid:
        raise SessionError(f"{current.name}: cannot change owner", errno.EPERM)
    if valid & wire.P9_SETATTR_GID and req.gid != current.gid:
        raise SessionError(f"{current.name}: cannot change group", errno.EPERM)
    known = (
        _SETATTR_IGNORED
        | wire.P9_SETATTR_MODE
        | wire.P9_SETATTR_UID
        | wire.P9_SETATTR_GID
        | wire.P9_SETATTR_SIZE
    )
    if valid & ~known:
        raise SessionError(f"{current.name}: unsupported setattr bits {valid:#x}", errno.EPERM)
    if valid & wire.P9_SETATTR_SIZE:
        return req.size
    return None
