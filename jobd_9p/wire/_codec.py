"""encode / decode / Decoder: bytes in, messages out, no I/O (h11's sans-IO shape).

Rules:
1. ``ProtocolError`` is the only exception decoding raises; every other failure inside a
   generated decoder is translated by ``bad_type`` / ``malformed`` (here and in Decoder).
2. A Decoder that raised is dead: it raises ProtocolError again on every later call, because
   after a bad frame the byte stream can no longer be trusted (the server closes it).
"""

import struct
from functools import partial
from typing import Any

from ._compile import Decoder as _Dec
from ._compile import Encoder as _Enc
from ._compile import Malformed, compile_decoder, compile_encoder
from ._constants import HEADER_SIZE
from ._dialect import Dialect
from ._errors import ProtocolError
from ._layouts import layouts
from ._messages import CLASSIC_MESSAGES, DOTL_MESSAGES, Dirent, Message, Stat
from ._stat import (
    dec_stat,
    dec_stat_n,
    dec_wqids,
    enc_stat,
    enc_stat_n,
    enc_wnames,
    enc_wqids,
    iter_dirents,
)
from ._stat import dirent_size as dirent_size
from ._stat import encode_dirents as encode_dirents

Buffer = bytes | bytearray | memoryview

_HEADER_unpack = struct.Struct("<IBH").unpack_from
_BY_TYPE: dict[int, type[Message]] = {c.TYPE: c for c in (*CLASSIC_MESSAGES, *DOTL_MESSAGES)}
# Types whose body is a data payload (Rread, Twrite, Rreaddir): the only ones decoded from a
# memoryview (no copy of the frame before the payload's one copy); every other frame is
# decoded from bytes, where str.decode is fastest (see _compile's rule 0).
PAYLOAD_TYPES: list[bool] = [False] * 256
for _cls, _layout in layouts(Dialect.L).items():
    PAYLOAD_TYPES[_cls.TYPE] = any(code == "D" for _, code in _layout)


class _Tables:
    """The compiled codec of one dialect: a 256-slot decoder list and a class -> encoder map."""

    __slots__ = ("decoders", "encoders")

    def __init__(self, dialect: Dialect) -> None:
        ext = dialect is not Dialect.P9P2000
        helpers: dict[str, Any] = {
            "dec_R": dec_wqids,
            "dec_S": partial(dec_stat_n, extended=ext),
            "enc_W": enc_wnames,
            "enc_R": enc_wqids,
            "enc_S": partial(enc_stat_n, extended=ext),
        }
        self.decoders: list[_Dec | None] = [None] * 256
        self.encoders: dict[type[Message], _Enc] = {}
        for cls, layout in layouts(dialect).items():
            self.decoders[cls.TYPE] = compile_decoder(cls, layout, helpers)
            self.encoders[cls] = compile_encoder(cls, layout, helpers)


_P9P2000 = _Tables(Dialect.P9P2000)
_U = _Tables(Dialect.U)
_L = _Tables(Dialect.L)
# Enum attribute access costs ~60 ns; module globals and identity tests are cheaper.
_DIALECT_L = Dialect.L
_DIALECT_U = Dialect.U
_DIALECT_P9P2000 = Dialect.P9P2000
_L_DECODERS = _L.decoders
_U_DECODERS = _U.decoders
_P9P2000_DECODERS = _P9P2000.decoders


def _tables(dialect: Dialect) -> _Tables:
    if dialect is _DIALECT_L:
        return _L
    if dialect is _DIALECT_U:
        return _U
    if dialect is _DIALECT_P9P2000:
        return _P9P2000
    raise TypeError(f"not a Dialect: {dialect!r}")


def message_class(type_byte: int) -> type[Message] | None:
    """The message class of a wire type byte in any dialect, or None if there is none."""
    return _BY_TYPE.get(type_byte)


def is_valid_in(msg_type: type[Message], dialect: Dialect) -> bool:
    """Whether messages of class ``msg_type`` may be sent or received in ``dialect``.

    9P2000 and .u: the classic messages. .L: the classic ones too (Linux uses only some of
    them, decoding the rest is harmless; their .u layouts apply) plus the .L messages.
    """
    return msg_type in _tables(dialect).encoders


def encode(msg: Message, dialect: Dialect) -> bytes:
    """Encode ``msg`` as one whole frame (size[4] type[1] tag[2] body).

    Fields that ``dialect`` lacks (e.g. ``Rerror.errno`` in 9P2000) are not written.

    Raises:
        ProtocolError: the message's class is not valid in ``dialect``.
        ValueError: a field is out of range (e.g. a tag > 0xFFFF, more than MAXWELEM names,
            a string longer than 65535 bytes) or a string is not encodable as UTF-8.
    """
    try:
        enc = _tables(dialect).encoders[msg.__class__]
    except KeyError:
        raise ProtocolError(
            f"{type(msg).__name__} is not a message of {dialect.value}", tag=msg.tag
        ) from None
    try:
        return enc(msg)
    except struct.error as exc:
        raise ValueError(f"cannot encode {type(msg).__name__} (tag {msg.tag}): {exc}") from exc


def bad_type(typ: int, tag: int) -> ProtocolError:
    cls = _BY_TYPE.get(typ)
    what = f"{cls.__name__} is not valid here" if cls else f"unknown message type {typ}"
    return ProtocolError(what, tag=tag, msg_type=typ)


def malformed(typ: int, tag: int, exc: Exception) -> ProtocolError:
    return ProtocolError(f"malformed {_BY_TYPE[typ].__name__}: {exc}", tag=tag, msg_type=typ)


def decode(frame: Buffer, dialect: Dialect) -> Message:
    """Decode one whole frame (size field included; it must equal ``len(frame)``).

    Raises:
        ProtocolError: anything wrong with the frame; ``.tag`` is set when the header was
            readable.
    """
    n = len(frame)
    if n < HEADER_SIZE:
        raise ProtocolError(f"frame of {n} bytes is shorter than the 7-byte header")
    size, typ, tag = _HEADER_unpack(frame, 0)
    if size != n:
        raise ProtocolError(f"size field {size} does not match the frame's {n} bytes", tag=tag)
    if PAYLOAD_TYPES[typ]:
        if frame.__class__ is bytearray:
            frame = memoryview(frame)  # slice it without copying; the payload is copied once
    elif frame.__class__ is not bytes:
        frame = bytes(frame)
    # inlined _tables(): this is the per-message hot path
    if dialect is _DIALECT_L:
        dec = _L_DECODERS[typ]
    elif dialect is _DIALECT_P9P2000:
        dec = _P9P2000_DECODERS[typ]
    elif dialect is _DIALECT_U:
        dec = _U_DECODERS[typ]
    else:
        raise TypeError(f"not a Dialect: {dialect!r}")
    if dec is None:
        raise bad_type(typ, tag)
    try:
        msg: Message = dec(frame, tag)
    except (Malformed, struct.error, UnicodeDecodeError) as exc:
        raise malformed(typ, tag, exc) from None
    return msg


def encode_stat(stat: Stat, dialect: Dialect) -> bytes:
    """One stat(5) entry as in a 9P2000/.u directory read (size[2] first).

    Raises:
        ValueError: a field is out of range or a string not encodable.
    """
    try:
        return enc_stat(stat, dialect is not Dialect.P9P2000)
    except struct.error as exc:
        raise ValueError(f"cannot encode {stat!r}: {exc}") from exc


def decode_stat(data: Buffer, dialect: Dialect) -> Stat:
    """Decode exactly one stat entry (size[2] first) filling ``data``.

    Raises:
        ProtocolError: malformed, or bytes left over.
    """
    stats = decode_stats(data, dialect)
    if len(stats) != 1:
        raise ProtocolError(f"expected one stat entry, found {len(stats)}")
    return stats[0]


def decode_stats(data: Buffer, dialect: Dialect) -> list[Stat]:
    """Decode the concatenated stat entries of a 9P2000/.u directory read.

    Raises:
        ProtocolError: malformed entries.
    """
    ext = dialect is not Dialect.P9P2000
    out: list[Stat] = []
    if isinstance(data, memoryview):
        data = bytes(data)
    o, end = 0, len(data)
    try:
        while o < end:
            stat, o = dec_stat(data, o, end, ext)
            out.append(stat)
    except (Malformed, struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed stat: {exc}") from None
    return out


def decode_dirents(data: Buffer) -> list[Dirent]:
    """Unpack Rreaddir data into Dirents.

    Raises:
        ProtocolError: malformed entries.
    """
    try:
        return iter_dirents(data)
    except (Malformed, struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed dirent: {exc}") from None
