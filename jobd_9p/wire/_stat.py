"""Variable-length structures: stat(5) entries, walk names and qids, 9P2000.L dirents.

Decoders here follow the rules of ``_compile`` (``b`` is bytes or bytearray, except for the
dirent parser, which takes any buffer): they take ``(b, o, end)``, check every length
against ``end`` and raise only ``struct.error``, ``UnicodeDecodeError`` or ``Malformed``.
"""

import struct
from collections.abc import Iterable
from typing import Any

from ._compile import Malformed, compile_builder
from ._constants import MAXWELEM, NONUNAME
from ._messages import Dirent, Qid, Stat

_H = struct.Struct("<H")
_H_unpack = _H.unpack_from
_H_pack = _H.pack
# size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4] length[8]
_STAT_FIXED = struct.Struct("<HHIBIQIIIQ")
_STAT_IDS = struct.Struct("<III")  # .u: n_uid n_gid n_muid
_QID = struct.Struct("<BIQ")
# qid[13] offset[8] type[1] namelen[2]
_DIRENT_FIXED = struct.Struct("<BIQQBH")
_new_qid = compile_builder(Qid)
_new_stat = compile_builder(Stat)
_new_dirent = compile_builder(Dirent)
_WQIDS = [struct.Struct("<H" + "BIQ" * n) for n in range(MAXWELEM + 1)]


def dec_stat(b: Any, o: int, end: int, extended: bool) -> tuple[Stat, int]:
    """Decode one stat entry (size[2] first) at ``o``; it must fit before ``end``."""
    size, typ, dev, qt, qv, qp, mode, atime, mtime, length = _STAT_FIXED.unpack_from(b, o)
    stat_end = o + 2 + size
    if stat_end > end:
        raise Malformed("stat size exceeds its container")
    o += _STAT_FIXED.size
    strings = []
    for _ in range(5 if extended else 4):
        (n,) = _H_unpack(b, o)
        o += 2
        e = o + n
        if e > stat_end:
            raise Malformed("stat string exceeds the stat")
        strings.append(b[o:e].decode())
        o = e
    qid = _new_qid(qt, qv, qp)
    if not extended:
        if o != stat_end:
            raise Malformed("stat size does not match its fields")
        name, uid, gid, muid = strings
        return _new_stat(
            typ, dev, qid, mode, atime, mtime, length, name, uid, gid, muid, "",
            NONUNAME, NONUNAME, NONUNAME,
        ), o  # fmt: skip
    if o + 12 != stat_end:
        raise Malformed("stat size does not match its fields")
    n_uid, n_gid, n_muid = _STAT_IDS.unpack_from(b, o)
    name, uid, gid, muid, extension = strings
    stat = _new_stat(
        typ, dev, qid, mode, atime, mtime, length, name, uid, gid, muid,
        extension, n_uid, n_gid, n_muid,
    )  # fmt: skip
    return stat, stat_end


def enc_stat(stat: Stat, extended: bool) -> bytes:
    """Encode one stat entry, its size[2] first."""
    strings = [stat.name, stat.uid, stat.gid, stat.muid]
    if extended:
        strings.append(stat.extension)
    parts: list[bytes] = []
    for s in strings:
        raw = s.encode("utf-8")
        parts.append(_H_pack(len(raw)))
        parts.append(raw)
    if extended:
        parts.append(_STAT_IDS.pack(stat.n_uid, stat.n_gid, stat.n_muid))
    tail = b"".join(parts)
    q = stat.qid
    head = _STAT_FIXED.pack(
        _STAT_FIXED.size - 2 + len(tail), stat.type, stat.dev, q.type, q.version, q.path,
        stat.mode, stat.atime, stat.mtime, stat.length,
    )  # fmt: skip
    return head + tail


def dec_stat_n(b: Any, o: int, end: int, extended: bool) -> tuple[Stat, int]:
    """Rstat/Twstat's ``n[2] stat[n]``: n must be exactly the stat's own length."""
    (n,) = _H_unpack(b, o)
    o += 2
    if o + n > end:
        raise Malformed("stat[n] exceeds the frame")
    stat, e = dec_stat(b, o, o + n, extended)
    if e != o + n:
        raise Malformed("stat[n] does not match the stat's size")
    return stat, e


def enc_stat_n(stat: Stat, extended: bool) -> bytes:
    """Rstat/Twstat's ``n[2] stat[n]``."""
    raw = enc_stat(stat, extended)
    return _H_pack(len(raw)) + raw


def enc_wnames(names: tuple[str, ...]) -> bytes:
    """Twalk's ``nwname[2] nwname*(wname[s])``."""
    if len(names) > MAXWELEM:
        raise ValueError(f"{len(names)} walk elements (most is {MAXWELEM})")
    parts = [_H_pack(len(names))]
    for name in names:
        raw = name.encode("utf-8")
        parts.append(_H_pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def dec_wqids(b: Any, o: int, end: int) -> tuple[tuple[Qid, ...], int]:
    """Rwalk's ``nwqid[2] nwqid*(qid[13])``."""
    (n,) = _H_unpack(b, o)
    if n > MAXWELEM:
        raise Malformed(f"{n} walk qids (most is {MAXWELEM})")
    layout = _WQIDS[n]
    if o + layout.size > end:
        raise Malformed("walk qids exceed the frame")
    v = layout.unpack_from(b, o)
    return tuple(map(_new_qid, v[1::3], v[2::3], v[3::3])), o + layout.size


def enc_wqids(qids: tuple[Qid, ...]) -> bytes:
    """Rwalk's ``nwqid[2] nwqid*(qid[13])``."""
    if len(qids) > MAXWELEM:
        raise ValueError(f"{len(qids)} walk qids (most is {MAXWELEM})")
    flat: list[int] = []
    for q in qids:
        flat += (q.type, q.version, q.path)
    return _WQIDS[len(qids)].pack(len(qids), *flat)


def dirent_size(name: str) -> int:
    """Bytes one Rreaddir entry with this name takes: qid[13] offset[8] type[1] name[s].

    Raises:
        UnicodeEncodeError: ``name`` is not encodable as UTF-8.
    """
    return _DIRENT_FIXED.size + len(name.encode("utf-8"))


def encode_dirents(entries: Iterable[Dirent]) -> bytes:
    """Pack 9P2000.L directory entries into Rreaddir data.

    Raises:
        ValueError: a field is out of range or a name is not encodable.
    """
    parts: list[bytes] = []
    try:
        for d in entries:
            raw = d.name.encode("utf-8")
            q = d.qid
            parts.append(_DIRENT_FIXED.pack(q.type, q.version, q.path, d.offset, d.type, len(raw)))
            parts.append(raw)
    except struct.error as exc:
        raise ValueError(f"cannot encode dirent: {exc}") from exc
    return b"".join(parts)


def iter_dirents(b: Any) -> list[Dirent]:
    """Internal: unpack Rreaddir data (raises the decoder-internal exceptions)."""
    out = []
    o = 0
    end = len(b)
    unpack = _DIRENT_FIXED.unpack_from
    while o < end:
        qt, qv, qp, offset, typ, n = unpack(b, o)
        o += _DIRENT_FIXED.size
        e = o + n
        if e > end:
            raise Malformed("dirent name exceeds the data")
        out.append(_new_dirent(_new_qid(qt, qv, qp), offset, typ, str(b[o:e], "utf-8")))
        o = e
    return out
