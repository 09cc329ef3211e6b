"""The codec against hand-derived byte vectors (h11's test_io idea), both ways, every message."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from wire_vectors import DIRENTS, DIRENTS_HEX, STAT, STAT_HEX, STAT_U, VECTORS, Vector

from jobd_9p import wire
from jobd_9p.wire import (
    CLASSIC_MESSAGES,
    DOTL_MESSAGES,
    NONUNAME,
    Decoder,
    Dialect,
    ProtocolError,
    Qid,
    Rerror,
    Rread,
    Tattach,
    Tclunk,
    Tgetattr,
    Tversion,
    Twalk,
    decode,
    encode,
)

CASES = [(v, d) for v in VECTORS for d in v.dialects]


def _case_id(case: tuple[Vector, Dialect]) -> str:
    v, d = case
    return f"{type(v.message).__name__}-{d.name}-{v.hex[:8]}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_vector_encodes_to_its_bytes(case: tuple[Vector, Dialect]) -> None:
    v, dialect = case
    assert encode(v.message, dialect) == v.frame


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_vector_bytes_decode_to_its_message(case: tuple[Vector, Dialect]) -> None:
    v, dialect = case
    assert decode(v.frame, dialect) == v.message
    assert decode(bytearray(v.frame), dialect) == v.message
    assert decode(memoryview(v.frame), dialect) == v.message


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_vector_through_the_stream_decoder_byte_by_byte(case: tuple[Vector, Dialect]) -> None:
    v, dialect = case
    dec = Decoder(dialect, max_size=1 << 16)
    for i in range(len(v.frame)):
        assert dec.next_message() is None
        dec.feed(v.frame[i : i + 1])
    assert dec.next_message() == v.message
    assert dec.next_message() is None
    assert dec.buffered == 0


@pytest.mark.parametrize("dialect", list(Dialect))
def test_every_message_of_every_dialect_has_a_vector(dialect: Dialect) -> None:
    covered = {type(v.message) for v in VECTORS if dialect in v.dialects}
    valid = {c for c in (*CLASSIC_MESSAGES, *DOTL_MESSAGES) if wire.is_valid_in(c, dialect)}
    assert valid == covered


def test_dialect_validity_table() -> None:
    for cls in CLASSIC_MESSAGES:
        assert all(wire.is_valid_in(cls, d) for d in Dialect), cls
    for cls in DOTL_MESSAGES:
        assert wire.is_valid_in(cls, Dialect.L)
        assert not wire.is_valid_in(cls, Dialect.P9P2000)
        assert not wire.is_valid_in(cls, Dialect.U)
    assert len(CLASSIC_MESSAGES) == 27 and len(DOTL_MESSAGES) == 39


def test_type_bytes_are_unique_and_looked_up() -> None:
    classes = (*CLASSIC_MESSAGES, *DOTL_MESSAGES)
    assert len({c.TYPE for c in classes}) == len(classes)
    for cls in classes:
        assert wire.message_class(cls.TYPE) is cls
    assert wire.message_class(106) is None  # Terror is not a message
    assert wire.message_class(6) is None  # nor Tlerror


@pytest.mark.parametrize("v", [v for v in VECTORS if v.dialects == (Dialect.L,)], ids=Vector.id)
def test_dotl_messages_are_protocol_errors_in_other_dialects(v: Vector) -> None:
    for dialect in (Dialect.P9P2000, Dialect.U):
        with pytest.raises(ProtocolError) as info:
            decode(v.frame, dialect)
        assert info.value.tag == v.message.tag
        assert info.value.msg_type == type(v.message).TYPE
        assert "not valid" in str(info.value)
        with pytest.raises(ProtocolError):
            encode(v.message, dialect)


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("9P2000", Dialect.P9P2000),
        ("9P2000.u", Dialect.U),
        ("9P2000.L", Dialect.L),
        ("9P2000.x", Dialect.P9P2000),
        ("9P2000.U", Dialect.P9P2000),  # suffixes are case-sensitive: unknown suffix ignored
        ("9P2000.L.extra", Dialect.P9P2000),
        ("9P2000.", Dialect.P9P2000),
        ("9P", None),
        ("9P2001", None),
        ("", None),
        ("unknown", None),
        ("9P2000L", None),
    ],
)
def test_version_negotiation(client: str, expected: Dialect | None) -> None:
    assert Dialect.negotiate(client) is expected


def test_dialect_fields_absent_from_the_wire_decode_to_defaults() -> None:
    frame = encode(Rerror(1, "gone", 2), Dialect.P9P2000)
    assert decode(frame, Dialect.P9P2000) == Rerror(1, "gone", 0)
    frame = encode(Tattach(1, 0, wire.NOFID, "u", "", 7), Dialect.P9P2000)
    assert decode(frame, Dialect.P9P2000) == Tattach(1, 0, wire.NOFID, "u", "", NONUNAME)


def test_stat_helpers_match_the_vectors() -> None:
    raw = bytes.fromhex("3a00" + STAT_HEX.replace(" ", ""))
    assert wire.encode_stat(STAT, Dialect.P9P2000) == raw
    assert wire.decode_stat(raw, Dialect.P9P2000) == STAT
    raw_u = wire.encode_stat(STAT_U, Dialect.U)
    assert raw_u == bytes.fromhex(
        "4800" + STAT_HEX.replace(" ", "") + "0000e8030000e8030000ffffffff"
    )
    assert wire.decode_stat(raw_u, Dialect.L) == STAT_U
    # a 9P2000 directory read is whole entries back to back
    assert wire.decode_stats(raw + raw, Dialect.P9P2000) == [STAT, STAT]
    assert wire.decode_stats(b"", Dialect.P9P2000) == []
    with pytest.raises(ProtocolError):
        wire.decode_stat(raw + raw, Dialect.P9P2000)
    with pytest.raises(ProtocolError):
        wire.decode_stats(raw[:-1], Dialect.P9P2000)
    with pytest.raises(ProtocolError):  # a 9P2000 entry read as .u lacks the .u fields
        wire.decode_stat(raw, Dialect.U)
    with pytest.raises(ProtocolError):
        wire.decode_stat(memoryview(raw)[:-3], Dialect.P9P2000)
    with pytest.raises(ValueError):
        wire.encode_stat(dataclasses.replace(STAT, type=0x10000), Dialect.P9P2000)


def test_dirent_helpers_match_the_vector() -> None:
    raw = bytes.fromhex(DIRENTS_HEX.replace(" ", ""))
    assert wire.encode_dirents(DIRENTS) == raw
    assert wire.decode_dirents(raw) == list(DIRENTS)
    assert sum(wire.dirent_size(d.name) for d in DIRENTS) == len(raw)
    assert wire.encode_dirents([]) == b""
    assert wire.decode_dirents(b"") == []
    for cut in range(1, len(raw)):
        if cut == wire.dirent_size("jobs"):
            continue  # a whole first entry
        with pytest.raises(ProtocolError):
            wire.decode_dirents(raw[:cut])
    with pytest.raises(ValueError):
        wire.encode_dirents([dataclasses.replace(DIRENTS[0], offset=-1)])


def _frame(typ: int, tag: int, body: bytes, size: int | None = None) -> bytes:
    n = 7 + len(body) if size is None else size
    return struct.pack("<IBH", n, typ, tag) + body


def _s(text: bytes) -> bytes:
    return struct.pack("<H", len(text)) + text


STAT_RAW = bytes.fromhex("3a00" + STAT_HEX.replace(" ", ""))


def _stat_n(raw: bytes, pad: int = 0) -> bytes:
    """Rstat's n[2] stat[n], with ``pad`` junk bytes counted in n after the stat."""
    return struct.pack("<H", len(raw) + pad) + raw + b"\x00" * pad


def _grow(raw: bytes, extra: int) -> bytes:
    """A stat entry whose size field claims ``extra`` more bytes than its fields take."""
    size = struct.unpack_from("<H", raw)[0] + extra
    body = raw[2:] + b"\x00" * max(extra, 0)
    return struct.pack("<H", size) + body


MALFORMED = [
    ("empty", b"", None),
    ("shorter than a header", b"\x07\x00\x00\x00\x78\x01", None),
    ("size field larger than the frame", _frame(120, 1, b"\x01\x00\x00\x00", size=12), 1),
    ("size field smaller than the frame", _frame(120, 1, b"\x01\x00\x00\x00", size=10), 1),
    ("unknown type", _frame(0, 2, b""), 2),
    ("Terror does not exist", _frame(106, 2, b""), 2),
    ("Tclunk without fid", _frame(120, 3, b""), 3),
    ("Tclunk with a trailing byte", _frame(120, 3, b"\x01\x00\x00\x00\x00"), 3),
    ("string longer than the frame", _frame(100, 4, b"\x00\x20\x00\x00\x06\x009P20"), 4),
    ("string length cut", _frame(100, 4, b"\x00\x20\x00\x00\x06"), 4),
    ("invalid UTF-8", _frame(100, 4, b"\x00\x20\x00\x00" + _s(b"\xff\xfe")), 4),
    ("overlong UTF-8", _frame(100, 4, b"\x00\x20\x00\x00" + _s(b"\xc0\xaf")), 4),
    ("UTF-8 surrogate", _frame(100, 4, b"\x00\x20\x00\x00" + _s(b"\xed\xa0\x80")), 4),
    ("17 walk names", _frame(110, 5, struct.pack("<IIH", 0, 1, 17) + _s(b"a") * 17), 5),
    ("walk name cut", _frame(110, 5, struct.pack("<IIH", 0, 1, 2) + _s(b"a") + b"\x05\x00ab"), 5),
    ("walk count beyond names", _frame(110, 5, struct.pack("<IIH", 0, 1, 3) + _s(b"a")), 5),
    ("walk with trailing bytes", _frame(110, 5, struct.pack("<IIH", 0, 1, 1) + _s(b"a") + b"x"), 5),
    ("17 walk qids", _frame(111, 6, struct.pack("<H", 17) + b"\x00" * 13 * 17), 6),
    ("walk qids cut", _frame(111, 6, struct.pack("<H", 2) + b"\x00" * 13), 6),
    ("Rread count beyond the frame", _frame(117, 7, struct.pack("<I", 5) + b"abcd"), 7),
    ("Rread count short of the frame", _frame(117, 7, struct.pack("<I", 3) + b"abcd"), 7),
    ("Twrite count beyond the frame", _frame(118, 8, struct.pack("<IQI", 1, 0, 2**31)), 8),
    ("Rstat n beyond the frame", _frame(125, 9, b"\x40\x00" + b"\x00" * 10), 9),
    ("Rstat n disagrees with the stat size", _frame(125, 9, b"\x05\x00\x03\x00abc"), 9),
    ("Rstat n larger than the stat", _frame(125, 9, _stat_n(STAT_RAW, pad=2)), 9),
    ("stat size beyond its fields", _frame(125, 9, _stat_n(_grow(STAT_RAW, 2))), 9),
    ("stat size short of its fields", _frame(125, 9, _stat_n(_grow(STAT_RAW, -1))), 9),
    ("Rlerror is not 9P2000", _frame(7, 10, b"\x02\x00\x00\x00"), 10),
    ("Tgetattr is not 9P2000", _frame(24, 11, struct.pack("<IQ", 1, 0x7FF)), 11),
]


@pytest.mark.parametrize(("what", "frame", "tag"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_frames_raise_protocol_error_with_tag(
    what: str, frame: bytes, tag: int | None
) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frame, Dialect.P9P2000)
    assert isinstance(info.value, ValueError)
    assert info.value.tag == tag
    assert str(info.value)


def test_malformed_u_stat_sizes() -> None:
    raw = wire.encode_stat(STAT_U, Dialect.U)
    for bad in (_grow(raw, 3), _grow(raw, -2)):
        with pytest.raises(ProtocolError) as info:
            decode(_frame(125, 9, _stat_n(bad)), Dialect.U)
        assert info.value.tag == 9
        with pytest.raises(ProtocolError):
            wire.decode_stat(bad, Dialect.U)


def test_malformed_rstat_in_u_when_stat_lacks_u_fields() -> None:
    frame = encode(wire.Rstat(1, STAT), Dialect.P9P2000)
    with pytest.raises(ProtocolError, match="malformed Rstat"):
        decode(frame, Dialect.U)


def test_stream_decoder_rejects_oversize_frames_from_the_size_field_alone() -> None:
    dec = Decoder(Dialect.P9P2000, max_size=64)
    dec.feed(struct.pack("<I", 65))
    with pytest.raises(ProtocolError, match="outside"):
        dec.next_message()
    # dead from now on
    with pytest.raises(ProtocolError):
        dec.feed(encode(Tclunk(1, 1), Dialect.P9P2000))
    with pytest.raises(ProtocolError):
        dec.next_message()


def test_stream_decoder_rejects_a_size_below_the_header() -> None:
    dec = Decoder()
    dec.feed(b"\x06\x00\x00\x00\x78\x05\x00")
    with pytest.raises(ProtocolError) as info:
        dec.next_message()
    assert info.value.tag == 5


def test_stream_decoder_yields_the_messages_before_a_bad_frame() -> None:
    good = encode(Tclunk(1, 1), Dialect.P9P2000)
    dec = Decoder()
    dec.feed(good + good + _frame(0, 9, b"") + good)
    assert dec.next_message() == Tclunk(1, 1)
    assert dec.next_message() == Tclunk(1, 1)
    with pytest.raises(ProtocolError) as info:
        dec.next_message()
    assert info.value.tag == 9 and info.value.msg_type == 0


def test_stream_decoder_rejects_a_bad_body_with_its_tag() -> None:
    dec = Decoder(Dialect.L)
    dec.feed(encode(Tclunk(1, 1), Dialect.L) + _frame(110, 42, b"\x00\x00\x00\x00\x01\x00"))
    assert dec.next_message() == Tclunk(1, 1)
    with pytest.raises(ProtocolError, match="malformed Twalk") as info:
        dec.next_message()
    assert (info.value.tag, info.value.msg_type) == (42, Twalk.TYPE)
    dec = Decoder(Dialect.L)
    dec.feed(_frame(117, 43, struct.pack("<I", 9) + b"short"))  # a payload message, too
    with pytest.raises(ProtocolError, match="malformed Rread") as info:
        dec.next_message()
    assert info.value.tag == 43


def test_stream_decoder_compacts_its_buffer() -> None:
    frame = encode(Rread(7, b"y" * 1000), Dialect.P9P2000)
    dec = Decoder(Dialect.P9P2000)
    for round_ in range(3):
        dec.feed(frame * 100 + frame[:500])  # > 64 KiB, ending inside a frame
        assert [dec.next_message() for _ in range(100)] == [Rread(7, b"y" * 1000)] * 100
        assert dec.next_message() is None
        assert dec.buffered == 500, round_
        dec.feed(frame[500:])
        assert dec.next_message() == Rread(7, b"y" * 1000)
        assert dec.buffered == 0


def test_not_a_dialect() -> None:
    with pytest.raises(TypeError):
        decode(encode(Tclunk(1, 1), Dialect.L), "9P2000.L")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode(Tclunk(1, 1), "9P2000.L")  # type: ignore[arg-type]
    assert Dialect.L.extended and Dialect.U.extended and not Dialect.P9P2000.extended


def test_stream_decoder_switches_dialect_and_size_after_version() -> None:
    dec = Decoder(Dialect.P9P2000, max_size=8192)
    getattr_frame = encode(Tgetattr(2, 1, 0x7FF), Dialect.L)
    big = encode(Rread(3, b"x" * 10000), Dialect.L)
    dec.feed(encode(Tversion(0xFFFF, 65536, "9P2000.L"), Dialect.P9P2000) + getattr_frame)
    assert dec.next_message() == Tversion(0xFFFF, 65536, "9P2000.L")
    dec.dialect = Dialect.L
    dec.max_size = 65536
    assert dec.dialect is Dialect.L
    assert dec.next_message() == Tgetattr(2, 1, 0x7FF)
    dec.feed(big)
    assert dec.next_message() == Rread(3, b"x" * 10000)


def test_stream_decoder_accepts_any_bytes_like_and_many_frames() -> None:
    frames = [encode(Twalk(t, 0, t, ("jobs", str(t))), Dialect.U) for t in range(2000)]
    dec = Decoder(Dialect.U)
    dec.feed(memoryview(b"".join(frames)))
    out = []
    while (msg := dec.next_message()) is not None:
        out.append(msg)
    assert out == [Twalk(t, 0, t, ("jobs", str(t))) for t in range(2000)]
    dec.feed(bytearray(frames[0]))
    assert dec.next_message() == out[0]


def test_decoded_payload_does_not_alias_the_stream_buffer() -> None:
    dec = Decoder()
    dec.feed(encode(Rread(1, b"abc"), Dialect.P9P2000))
    msg = dec.next_message()
    dec.feed(encode(Rread(2, b"xyz"), Dialect.P9P2000))
    assert dec.next_message() == Rread(2, b"xyz")
    assert isinstance(msg, Rread) and msg == Rread(1, b"abc") and type(msg.data) is bytes


@pytest.mark.parametrize(
    "msg",
    [
        Tclunk(0x10000, 1),
        Tclunk(1, -1),
        Tclunk(1, 2**32),
        Twalk(1, 0, 1, ("a",) * 17),
        wire.Rwalk(1, (Qid(0, 0, 0),) * 17),
        Rerror(1, "x" * 65536),
        wire.Tread(1, 1, 2**64, 1),
        Rerror(1, "\udc80"),
    ],
)
def test_encoding_out_of_range_fields_raises_value_error(msg: wire.Message) -> None:
    with pytest.raises(ValueError):
        encode(msg, Dialect.L)


def test_messages_are_frozen_and_hashable() -> None:
    msg = Twalk(1, 0, 1, ("a",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.fid = 3  # type: ignore[misc]
    assert hash(msg) == hash(decode(encode(msg, Dialect.L), Dialect.L))
    assert Twalk.__match_args__ == ("tag", "fid", "newfid", "wnames")


def test_constants() -> None:
    assert (wire.NOTAG, wire.NOFID, wire.IOHDRSZ, wire.MAXWELEM) == (0xFFFF, 2**32 - 1, 24, 16)
    assert (wire.QTDIR, wire.DMDIR, wire.OTRUNC, wire.ORCLOSE) == (0x80, 0x80000000, 0x10, 0x40)
    assert wire.P9_GETATTR_BASIC == 0x7FF and wire.P9_GETATTR_ALL == 0x3FFF
    assert wire.AT_REMOVEDIR == 0x200
    assert wire.MIN_MSIZE >= wire.IOHDRSZ + 160  # room for an Rgetattr
