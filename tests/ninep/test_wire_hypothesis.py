"""Property tests of the codec: round trips for every message and dialect, arbitrary bytes give a
message or ProtocolError and nothing else, and chunking never changes what a Decoder yields."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_vectors import VECTORS
from wire_vectors_hypothesis import message_classes, messages, messages_of, stats

from jobd_9p import wire
from jobd_9p.wire import Decoder, Dialect, Message, ProtocolError, decode, encode

DIALECTS = list(Dialect)
ALL_CASES = [(c, d) for d in DIALECTS for c in message_classes(d)]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("cls", "dialect"), ALL_CASES, ids=[f"{c.__name__}-{d.name}" for c, d in ALL_CASES]
)
@SETTINGS
@given(data=st.data())
def test_round_trip_every_message_every_dialect(
    cls: type[Message], dialect: Dialect, data: st.DataObject
) -> None:
    msg = data.draw(messages_of(cls, dialect))
    frame = encode(msg, dialect)
    assert struct.unpack_from("<IBH", frame) == (len(frame), cls.TYPE, msg.tag)
    assert decode(frame, dialect) == msg


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_stat_round_trip(dialect: Dialect, data: st.DataObject) -> None:
    stat = data.draw(stats(dialect))
    raw = wire.encode_stat(stat, dialect)
    assert struct.unpack_from("<H", raw)[0] == len(raw) - 2
    assert wire.decode_stat(raw, dialect) == stat


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(wire.Dirent, st.builds(wire.Qid, st.integers(0, 255),
       st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1)), st.integers(0, 2**64 - 1),
       st.integers(0, 255), st.text(st.characters(codec="utf-8"), max_size=20)),
       max_size=10))  # fmt: skip
def test_dirents_round_trip(entries: list[wire.Dirent]) -> None:
    raw = wire.encode_dirents(entries)
    assert len(raw) == sum(wire.dirent_size(d.name) for d in entries)
    assert wire.decode_dirents(raw) == entries


def _decode_or_error(frame: bytes, dialect: Dialect) -> Message | None:
    outcomes: list[Message | None] = []
    for buffer in (frame, bytearray(frame), memoryview(frame)):
        try:
            outcomes.append(decode(buffer, dialect))
        except ProtocolError as exc:
            assert str(exc)
            outcomes.append(None)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    msg = outcomes[0]
    if msg is not None:
        # 9P encodings are canonical: whatever decodes must re-encode to the very same bytes
        assert encode(msg, dialect) == frame
    return msg


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@settings(max_examples=400, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_give_a_message_or_protocol_error(dialect: Dialect, raw: bytes) -> None:
    _decode_or_error(raw, dialect)


TYPES = sorted({c.TYPE for c in (*wire.CLASSIC_MESSAGES, *wire.DOTL_MESSAGES)} | {0, 6, 106, 255})


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@settings(max_examples=1000, deadline=None)
@given(typ=st.sampled_from(TYPES), tag=st.integers(0, 0xFFFF), body=st.binary(max_size=120))
def test_well_framed_random_bodies(dialect: Dialect, typ: int, tag: int, body: bytes) -> None:
    # a correct header gets past the framing checks, so the body parsers see the junk
    frame = struct.pack("<IBH", 7 + len(body), typ, tag) + body
    try:
        decode(frame, dialect)
    except ProtocolError as exc:
        assert exc.tag == tag
    _decode_or_error(frame, dialect)


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_valid_frames(dialect: Dialect, data: st.DataObject) -> None:
    frame = bytearray(encode(data.draw(messages(dialect)), dialect))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    body = bytes(frame[:cut])
    # keep the size field honest half of the time so the body parsers get the mutation
    if data.draw(st.booleans()) and len(body) >= 4:
        body = struct.pack("<I", len(body)) + body[4:]
    _decode_or_error(body, dialect)


def _drain(dec: Decoder) -> tuple[list[Message], str | None]:
    out: list[Message] = []
    while True:
        try:
            msg = dec.next_message()
        except ProtocolError as exc:
            return out, type(exc).__name__
        if msg is None:
            return out, None
        out.append(msg)


def _feed_in(stream: bytes, cuts: list[int], dialect: Dialect) -> tuple[list[Message], str | None]:
    dec = Decoder(dialect, max_size=4096)
    out: list[Message] = []
    start = 0
    for end in [*sorted(cuts), len(stream)]:
        try:
            dec.feed(stream[start:end])
        except ProtocolError:
            return out, "ProtocolError"
        start = end
        got, err = _drain(dec)
        out += got
        if err:
            return out, err
    return out, None


@pytest.mark.parametrize("dialect", DIALECTS, ids=[d.name for d in DIALECTS])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_chunking_never_changes_the_messages(dialect: Dialect, data: st.DataObject) -> None:
    msgs = data.draw(st.lists(messages(dialect), max_size=8))
    stream = b"".join(encode(m, dialect) for m in msgs)
    stream += data.draw(st.sampled_from([b"", b"\x03\x00", b"\x07\x00\x00\x00\x00\x01\x00"]))
    whole = _feed_in(stream, [], dialect)
    assert whole[0] == msgs[: len(whole[0])]
    if whole[1] is None:
        assert whole[0] == msgs
    bytewise = _feed_in(stream, list(range(1, len(stream))), dialect)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    chunked = _feed_in(stream, cuts, dialect)
    assert whole == bytewise == chunked


def test_vectors_survive_every_cut_of_a_concatenated_stream() -> None:
    for dialect in DIALECTS:
        vecs = [v for v in VECTORS if dialect in v.dialects]
        stream = b"".join(v.frame for v in vecs)
        expected = [v.message for v in vecs]
        for step in (1, 3, 7, 64, 1000):
            assert _feed_in(stream, list(range(step, len(stream), step)), dialect) == (
                expected,
                None,
            )
