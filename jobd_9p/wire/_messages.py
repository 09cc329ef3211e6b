"""The 9P messages as frozen dataclasses: one class per message, ``tag`` always first.

Field names follow Linux ``include/net/9p/9p.h`` and diod's protocol.md, in wire order.
Fields that only exist in some dialects (``n_uname``, ``errno``, ``extension``) have defaults
and are ignored when encoding for a dialect that lacks them (decoding there gives the default).
``TYPE`` is the message's type byte on the wire.
"""

from dataclasses import dataclass
from typing import ClassVar

from ._constants import NONUNAME


@dataclass(frozen=True, slots=True)
class Qid:
    """A server's unique identification of a file: type (QT*), version, path."""

    type: int
    version: int
    path: int


@dataclass(frozen=True, slots=True)
class Stat:
    """The stat(5) structure; the last four fields exist on the wire only in 9P2000.u/.L."""

    type: int
    dev: int
    qid: Qid
    mode: int
    atime: int
    mtime: int
    length: int
    name: str
    uid: str
    gid: str
    muid: str
    extension: str = ""
    n_uid: int = NONUNAME
    n_gid: int = NONUNAME
    n_muid: int = NONUNAME


@dataclass(frozen=True, slots=True)
class Dirent:
    """One entry of a 9P2000.L Rreaddir: qid, offset (cookie of the NEXT entry), type, name."""

    qid: Qid
    offset: int
    type: int
    name: str


class Message:
    """Base class of every 9P message."""

    __slots__ = ()
    TYPE: ClassVar[int]
    tag: int


# ---------------------------------------------------------------------------------- 9P2000 core
@dataclass(frozen=True, slots=True)
class Tversion(Message):
    TYPE: ClassVar[int] = 100
    tag: int
    msize: int
    version: str


@dataclass(frozen=True, slots=True)
class Rversion(Message):
    TYPE: ClassVar[int] = 101
    tag: int
    msize: int
    version: str


@dataclass(frozen=True, slots=True)
class Tauth(Message):
    TYPE: ClassVar[int] = 102
    tag: int
    afid: int
    uname: str
    aname: str
    n_uname: int = NONUNAME  # .u/.L


@dataclass(frozen=True, slots=True)
class Rauth(Message):
    TYPE: ClassVar[int] = 103
    tag: int
    aqid: Qid


@dataclass(frozen=True, slots=True)
class Tattach(Message):
    TYPE: ClassVar[int] = 104
    tag: int
    fid: int
    afid: int
    uname: str
    aname: str
    n_uname: int = NONUNAME  # .u/.L


@dataclass(frozen=True, slots=True)
class Rattach(Message):
    TYPE: ClassVar[int] = 105
    tag: int
    qid: Qid


@dataclass(frozen=True, slots=True)
class Rerror(Message):
    TYPE: ClassVar[int] = 107
    tag: int
    ename: str
    errno: int = 0  # .u/.L


@dataclass(frozen=True, slots=True)
class Tflush(Message):
    TYPE: ClassVar[int] = 108
    tag: int
    oldtag: int


@dataclass(frozen=True, slots=True)
class Rflush(Message):
    TYPE: ClassVar[int] = 109
    tag: int


@dataclass(frozen=True, slots=True)
class Twalk(Message):
    TYPE: ClassVar[int] = 110
    tag: int
    fid: int
    newfid: int
    wnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rwalk(Message):
    TYPE: ClassVar[int] = 111
    tag: int
    wqids: tuple[Qid, ...]


@dataclass(frozen=True, slots=True)
class Topen(Message):
    TYPE: ClassVar[int] = 112
    tag: int
    fid: int
    mode: int


@dataclass(frozen=True, slots=True)
class Ropen(Message):
    TYPE: ClassVar[int] = 113
    tag: int
    qid: Qid
    iounit: int


@dataclass(frozen=True, slots=True)
class Tcreate(Message):
    TYPE: ClassVar[int] = 114
    tag: int
    fid: int
    name: str
    perm: int
    mode: int
    extension: str = ""  # .u/.L


@dataclass(frozen=True, slots=True)
class Rcreate(Message):
    TYPE: ClassVar[int] = 115
    tag: int
    qid: Qid
    iounit: int


@dataclass(frozen=True, slots=True)
class Tread(Message):
    TYPE: ClassVar[int] = 116
    tag: int
    fid: int
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class Rread(Message):
    TYPE: ClassVar[int] = 117
    tag: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Twrite(Message):
    TYPE: ClassVar[int] = 118
    tag: int
    fid: int
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Rwrite(Message):
    TYPE: ClassVar[int] = 119
    tag: int
    count: int


@dataclass(frozen=True, slots=True)
class Tclunk(Message):
    TYPE: ClassVar[int] = 120
    tag: int
    fid: int


@dataclass(frozen=True, slots=True)
class Rclunk(Message):
    TYPE: ClassVar[int] = 121
    tag: int


@dataclass(frozen=True, slots=True)
class Tremove(Message):
    TYPE: ClassVar[int] = 122
    tag: int
    fid: int


@dataclass(frozen=True, slots=True)
class Rremove(Message):
    TYPE: ClassVar[int] = 123
    tag: int


@dataclass(frozen=True, slots=True)
class Tstat(Message):
    TYPE: ClassVar[int] = 124
    tag: int
    fid: int


@dataclass(frozen=True, slots=True)
class Rstat(Message):
    TYPE: ClassVar[int] = 125
    tag: int
    stat: Stat


@dataclass(frozen=True, slots=True)
class Twstat(Message):
    TYPE: ClassVar[int] = 126
    tag: int
    fid: int
    stat: Stat


@dataclass(frozen=True, slots=True)
class Rwstat(Message):
    TYPE: ClassVar[int] = 127
    tag: int


# ------------------------------------------------------------------------------------ 9P2000.L
@dataclass(frozen=True, slots=True)
class Rlerror(Message):
    TYPE: ClassVar[int] = 7
    tag: int
    ecode: int


@dataclass(frozen=True, slots=True)
class Tstatfs(Message):
    TYPE: ClassVar[int] = 8
    tag: int
    fid: int


@dataclass(frozen=True, slots=True)
class Rstatfs(Message):
    TYPE: ClassVar[int] = 9
    tag: int
    type: int
    bsize: int
    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    fsid: int
    namelen: int


@dataclass(frozen=True, slots=True)
class Tlopen(Message):
    TYPE: ClassVar[int] = 12
    tag: int
    fid: int
    flags: int


@dataclass(frozen=True, slots=True)
class Rlopen(Message):
    TYPE: ClassVar[int] = 13
    tag: int
    qid: Qid
    iounit: int


@dataclass(frozen=True, slots=True)
class Tlcreate(Message):
    TYPE: ClassVar[int] = 14
    tag: int
    fid: int
    name: str
    flags: int
    mode: int
    gid: int


@dataclass(frozen=True, slots=True)
class Rlcreate(Message):
    TYPE: ClassVar[int] = 15
    tag: int
    qid: Qid
    iounit: int


@dataclass(frozen=True, slots=True)
class Tsymlink(Message):
    TYPE: ClassVar[int] = 16
    tag: int
    fid: int
    name: str
    symtgt: str
    gid: int


@dataclass(frozen=True, slots=True)
class Rsymlink(Message):
    TYPE: ClassVar[int] = 17
    tag: int
    qid: Qid


@dataclass(frozen=True, slots=True)
class Tmknod(Message):
    TYPE: ClassVar[int] = 18
    tag: int
    dfid: int
    name: str
    mode: int
    major: int
    minor: int
    gid: int


@dataclass(frozen=True, slots=True)
class Rmknod(Message):
    TYPE: ClassVar[int] = 19
    tag: int
    qid: Qid


@dataclass(frozen=True, slots=True)
class Trename(Message):
    TYPE: ClassVar[int] = 20
    tag: int
    fid: int
    dfid: int
    name: str


@dataclass(frozen=True, slots=True)
class Rrename(Message):
    TYPE: ClassVar[int] = 21
    tag: int


@dataclass(frozen=True, slots=True)
class Treadlink(Message):
    TYPE: ClassVar[int] = 22
    tag: int
    fid: int


@dataclass(frozen=True, slots=True)
class Rreadlink(Message):
    TYPE: ClassVar[int] = 23
    tag: int
    target: str


@dataclass(frozen=True, slots=True)
class Tgetattr(Message):
    TYPE: ClassVar[int] = 24
    tag: int
    fid: int
    request_mask: int


@dataclass(frozen=True, slots=True)
class Rgetattr(Message):
    TYPE: ClassVar[int] = 25
    tag: int
    valid: int
    qid: Qid
    mode: int
    uid: int
    gid: int
    nlink: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_sec: int
    atime_nsec: int
    mtime_sec: int
    mtime_nsec: int
    ctime_sec: int
    ctime_nsec: int
    btime_sec: int
    btime_nsec: int
    gen: int
    data_version: int


@dataclass(frozen=True, slots=True)
class Tsetattr(Message):
    TYPE: ClassVar[int] = 26
    tag: int
    fid: int
    valid: int
    mode: int
    uid: int
    gid: int
    size: int
    atime_sec: int
    atime_nsec: int
    mtime_sec: int
    mtime_nsec: int


@dataclass(frozen=True, slots=True)
class Rsetattr(Message):
    TYPE: ClassVar[int] = 27
    tag: int


@dataclass(frozen=True, slots=True)
class Txattrwalk(Message):
    TYPE: ClassVar[int] = 30
    tag: int
    fid: int
    newfid: int
    name: str


@dataclass(frozen=True, slots=True)
class Rxattrwalk(Message):
    TYPE: ClassVar[int] = 31
    tag: int
    size: int


@dataclass(frozen=True, slots=True)
class Txattrcreate(Message):
    TYPE: ClassVar[int] = 32
    tag: int
    fid: int
    name: str
    attr_size: int
    flags: int


@dataclass(frozen=True, slots=True)
class Rxattrcreate(Message):
    TYPE: ClassVar[int] = 33
    tag: int


@dataclass(frozen=True, slots=True)
class Treaddir(Message):
    TYPE: ClassVar[int] = 40
    tag: int
    fid: int
    offset: int
    count: int


@dataclass(frozen=True, slots=True)
class Rreaddir(Message):
    """``data`` is packed dirents: see encode_dirents / decode_dirents."""

    TYPE: ClassVar[int] = 41
    tag: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Tfsync(Message):
    TYPE: ClassVar[int] = 50
    tag: int
    fid: int
    datasync: int  # Linux sends it (p9_client_fsync "dd"); diod's protocol.md predates it


@dataclass(frozen=True, slots=True)
class Rfsync(Message):
    TYPE: ClassVar[int] = 51
    tag: int


@dataclass(frozen=True, slots=True)
class Tlock(Message):
    TYPE: ClassVar[int] = 52
    tag: int
    fid: int
    type: int
    flags: int
    start: int
    length: int
    proc_id: int
    client_id: str


@dataclass(frozen=True, slots=True)
class Rlock(Message):
    TYPE: ClassVar[int] = 53
    tag: int
    status: int


@dataclass(frozen=True, slots=True)
class Tgetlock(Message):
    TYPE: ClassVar[int] = 54
    tag: int
    fid: int
    type: int
    start: int
    length: int
    proc_id: int
    client_id: str


@dataclass(frozen=True, slots=True)
class Rgetlock(Message):
    TYPE: ClassVar[int] = 55
    tag: int
    type: int
    start: int
    length: int
    proc_id: int
    client_id: str


@dataclass(frozen=True, slots=True)
class Tlink(Message):
    TYPE: ClassVar[int] = 70
    tag: int
    dfid: int
    fid: int
    name: str


@dataclass(frozen=True, slots=True)
class Rlink(Message):
    TYPE: ClassVar[int] = 71
    tag: int


@dataclass(frozen=True, slots=True)
class Tmkdir(Message):
    TYPE: ClassVar[int] = 72
    tag: int
    dfid: int
    name: str
    mode: int
    gid: int


@dataclass(frozen=True, slots=True)
class Rmkdir(Message):
    TYPE: ClassVar[int] = 73
    tag: int
    qid: Qid


@dataclass(frozen=True, slots=True)
class Trenameat(Message):
    TYPE: ClassVar[int] = 74
    tag: int
    olddirfid: int
    oldname: str
    newdirfid: int
    newname: str


@dataclass(frozen=True, slots=True)
class Rrenameat(Message):
    TYPE: ClassVar[int] = 75
    tag: int


@dataclass(frozen=True, slots=True)
class Tunlinkat(Message):
    TYPE: ClassVar[int] = 76
    tag: int
    dirfid: int
    name: str
    flags: int


@dataclass(frozen=True, slots=True)
class Runlinkat(Message):
    TYPE: ClassVar[int] = 77
    tag: int


CLASSIC_MESSAGES: tuple[type[Message], ...] = (
    Tversion, Rversion, Tauth, Rauth, Tattach, Rattach, Rerror, Tflush, Rflush, Twalk, Rwalk,
    Topen, Ropen, Tcreate, Rcreate, Tread, Rread, Twrite, Rwrite, Tclunk, Rclunk, Tremove, Rremove,
    Tstat, Rstat, Twstat, Rwstat,
)  # fmt: skip
DOTL_MESSAGES: tuple[type[Message], ...] = (
    Rlerror, Tstatfs, Rstatfs, Tlopen, Rlopen, Tlcreate, Rlcreate, Tsymlink, Rsymlink, Tmknod,
    Rmknod, Trename, Rrename, Treadlink, Rreadlink, Tgetattr, Rgetattr, Tsetattr, Rsetattr,
    Txattrwalk, Rxattrwalk, Txattrcreate, Rxattrcreate, Treaddir, Rreaddir, Tfsync, Rfsync,
    Tlock, Rlock, Tgetlock, Rgetlock, Tlink, Rlink, Tmkdir, Rmkdir, Trenameat, Rrenameat,
    Tunlinkat, Runlinkat,
)  # fmt: skip
