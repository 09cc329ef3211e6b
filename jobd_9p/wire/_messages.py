"""The 9P messages as frozen dataclasses: one class per message, ``tag`` always first.

Field names follow Linux ``include/net/9p/9p.h`` and diod's protocol.md, in wire order.
Fields that only exist in some dialects (``n_uname``, ``errno``, ``extension``) have defaults
and are ignored when encoding for a dialect that lacks them (decoding there gives the default).
``TYPE`` is the message's type byte on the wire. This module holds the 9P2000 messages and
re-exports the value types and the 9P2000.L messages, so every message is importable from here.
"""

from dataclasses import dataclass
from typing import ClassVar

from ._constants import NONUNAME
from ._messages_dotl import (
    Rfsync,
    Rgetattr,
    Rgetlock,
    Rlcreate,
    Rlerror,
    Rlink,
    Rlock,
    Rlopen,
    Rmkdir,
    Rmknod,
    Rreaddir,
    Rreadlink,
    Rrename,
    Rrenameat,
    Rsetattr,
    Rstatfs,
    Rsymlink,
    Runlinkat,
    Rxattrcreate,
    Rxattrwalk,
    Tfsync,
    Tgetattr,
    Tgetlock,
    Tlcreate,
    Tlink,
    Tlock,
    Tlopen,
    Tmkdir,
    Tmknod,
    Treaddir,
    Treadlink,
    Trename,
    Trenameat,
    Tsetattr,
    Tstatfs,
    Tsymlink,
    Tunlinkat,
    Txattrcreate,
    Txattrwalk,
)
from ._types import Dirent, Message, Qid, Stat

__all__ = [
    "CLASSIC_MESSAGES",
    "DOTL_MESSAGES",
    "Dirent",
    "Message",
    "Qid",
    "Rattach",
    "Rauth",
    "Rclunk",
    "Rcreate",
    "Rerror",
    "Rflush",
    "Rfsync",
    "Rgetattr",
    "Rgetlock",
    "Rlcreate",
    "Rlerror",
    "Rlink",
    "Rlock",
    "Rlopen",
    "Rmkdir",
    "Rmknod",
    "Ropen",
    "Rread",
    "Rreaddir",
    "Rreadlink",
    "Rremove",
    "Rrename",
    "Rrenameat",
    "Rsetattr",
    "Rstat",
    "Rstatfs",
    "Rsymlink",
    "Runlinkat",
    "Rversion",
    "Rwalk",
    "Rwrite",
    "Rwstat",
    "Rxattrcreate",
    "Rxattrwalk",
    "Stat",
    "Tattach",
    "Tauth",
    "Tclunk",
    "Tcreate",
    "Tflush",
    "Tfsync",
    "Tgetattr",
    "Tgetlock",
    "Tlcreate",
    "Tlink",
    "Tlock",
    "Tlopen",
    "Tmkdir",
    "Tmknod",
    "Topen",
    "Tread",
    "Treaddir",
    "Treadlink",
    "Tremove",
    "Trename",
    "Trenameat",
    "Tsetattr",
    "Tstat",
    "Tstatfs",
    "Tsymlink",
    "Tunlinkat",
    "Tversion",
    "Twalk",
    "Twrite",
    "Twstat",
    "Txattrcreate",
    "Txattrwalk",
]


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
