"""The messages 9P2000.L adds (Linux include/net/9p/9p.h, diod protocol.md), in wire field order."""

from dataclasses import dataclass
from typing import ClassVar

from ._types import Message, Qid


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
