"""The value types of 9P (Qid, Stat, Dirent) and the base class of its messages."""

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
