"""The message table: wire layout of every message, per dialect (hugelgupf/p9's table idea).

A layout is a string of ``name:code`` items in wire order after size[4] type[1] tag[2]. Codes
(after Linux ``net/9p/protocol.c``): b u8, w u16, d u32, q u64, s string[2+n], Q qid[13],
D data (count[4] + bytes), W wnames (nwname[2] + strings), R wqids (nwqid[2] + qids),
S stat (n[2] + stat(5) entry).

9P2000.u and 9P2000.L use the same classic layouts plus the .u extra fields (Linux's ``?``
items are written for both); .L adds its own messages. Rule: a type byte missing from a
dialect's table is a protocol error in that dialect.
"""

from ._dialect import Dialect
from ._messages import (
    CLASSIC_MESSAGES,
    DOTL_MESSAGES,
    Message,
    Rattach,
    Rauth,
    Rclunk,
    Rcreate,
    Rerror,
    Rflush,
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
    Ropen,
    Rread,
    Rreaddir,
    Rreadlink,
    Rremove,
    Rrename,
    Rrenameat,
    Rsetattr,
    Rstat,
    Rstatfs,
    Rsymlink,
    Runlinkat,
    Rversion,
    Rwalk,
    Rwrite,
    Rwstat,
    Rxattrcreate,
    Rxattrwalk,
    Tattach,
    Tauth,
    Tclunk,
    Tcreate,
    Tflush,
    Tfsync,
    Tgetattr,
    Tgetlock,
    Tlcreate,
    Tlink,
    Tlock,
    Tlopen,
    Tmkdir,
    Tmknod,
    Topen,
    Tread,
    Treaddir,
    Treadlink,
    Tremove,
    Trename,
    Trenameat,
    Tsetattr,
    Tstat,
    Tstatfs,
    Tsymlink,
    Tunlinkat,
    Tversion,
    Twalk,
    Twrite,
    Twstat,
    Txattrcreate,
    Txattrwalk,
)

Layout = tuple[tuple[str, str], ...]

_CLASSIC: dict[type[Message], str] = {
    Tversion: "msize:d version:s",
    Rversion: "msize:d version:s",
    Tauth: "afid:d uname:s aname:s",
    Rauth: "aqid:Q",
    Tattach: "fid:d afid:d uname:s aname:s",
    Rattach: "qid:Q",
    Rerror: "ename:s",
    Tflush: "oldtag:w",
    Rflush: "",
    Twalk: "fid:d newfid:d wnames:W",
    Rwalk: "wqids:R",
    Topen: "fid:d mode:b",
    Ropen: "qid:Q iounit:d",
    Tcreate: "fid:d name:s perm:d mode:b",
    Rcreate: "qid:Q iounit:d",
    Tread: "fid:d offset:q count:d",
    Rread: "data:D",
    Twrite: "fid:d offset:q data:D",
    Rwrite: "count:d",
    Tclunk: "fid:d",
    Rclunk: "",
    Tremove: "fid:d",
    Rremove: "",
    Tstat: "fid:d",
    Rstat: "stat:S",
    Twstat: "fid:d stat:S",
    Rwstat: "",
}

# .u extra fields, appended to the classic layout (also used by .L).
_DOTU_EXTRA: dict[type[Message], str] = {
    Tauth: "n_uname:d",
    Tattach: "n_uname:d",
    Rerror: "errno:d",
    Tcreate: "extension:s",
}

_DOTL: dict[type[Message], str] = {
    Rlerror: "ecode:d",
    Tstatfs: "fid:d",
    Rstatfs: "type:d bsize:d blocks:q bfree:q bavail:q files:q ffree:q fsid:q namelen:d",
    Tlopen: "fid:d flags:d",
    Rlopen: "qid:Q iounit:d",
    Tlcreate: "fid:d name:s flags:d mode:d gid:d",
    Rlcreate: "qid:Q iounit:d",
    Tsymlink: "fid:d name:s symtgt:s gid:d",
    Rsymlink: "qid:Q",
    Tmknod: "dfid:d name:s mode:d major:d minor:d gid:d",
    Rmknod: "qid:Q",
    Trename: "fid:d dfid:d name:s",
    Rrename: "",
    Treadlink: "fid:d",
    Rreadlink: "target:s",
    Tgetattr: "fid:d request_mask:q",
    Rgetattr: (
        "valid:q qid:Q mode:d uid:d gid:d nlink:q rdev:q size:q blksize:q blocks:q"
        " atime_sec:q atime_nsec:q mtime_sec:q mtime_nsec:q ctime_sec:q ctime_nsec:q"
        " btime_sec:q btime_nsec:q gen:q data_version:q"
    ),
    Tsetattr: (
        "fid:d valid:d mode:d uid:d gid:d size:q atime_sec:q atime_nsec:q mtime_sec:q mtime_nsec:q"
    ),
    Rsetattr: "",
    Txattrwalk: "fid:d newfid:d name:s",
    Rxattrwalk: "size:q",
    Txattrcreate: "fid:d name:s attr_size:q flags:d",
    Rxattrcreate: "",
    Treaddir: "fid:d offset:q count:d",
    Rreaddir: "data:D",
    Tfsync: "fid:d datasync:d",
    Rfsync: "",
    Tlock: "fid:d type:b flags:d start:q length:q proc_id:d client_id:s",
    Rlock: "status:b",
    Tgetlock: "fid:d type:b start:q length:q proc_id:d client_id:s",
    Rgetlock: "type:b start:q length:q proc_id:d client_id:s",
    Tlink: "dfid:d fid:d name:s",
    Rlink: "",
    Tmkdir: "dfid:d name:s mode:d gid:d",
    Rmkdir: "qid:Q",
    Trenameat: "olddirfid:d oldname:s newdirfid:d newname:s",
    Rrenameat: "",
    Tunlinkat: "dirfid:d name:s flags:d",
    Runlinkat: "",
}


def _parse(spec: str) -> Layout:
    items = []
    for item in spec.split():
        name, code = item.split(":")
        items.append((name, code))
    return tuple(items)


def layouts(dialect: Dialect) -> dict[type[Message], Layout]:
    """The layout of every message valid in ``dialect``."""
    table: dict[type[Message], str] = dict(_CLASSIC)
    if dialect is not Dialect.P9P2000:
        for cls, extra in _DOTU_EXTRA.items():
            table[cls] = f"{table[cls]} {extra}"
    if dialect is Dialect.L:
        table.update(_DOTL)
    return {cls: _parse(spec) for cls, spec in table.items()}


def _check_complete() -> None:
    # The layouts must name exactly the dataclass fields (after tag) of every message, in
    # order: a table that drifts from the classes fails at import, not on the wire.
    import dataclasses

    full = layouts(Dialect.L)
    for cls in (*CLASSIC_MESSAGES, *DOTL_MESSAGES):
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if names != ["tag", *(n for n, _ in full[cls])]:
            raise AssertionError(f"layout of {cls.__name__} does not match its fields")


_check_complete()
