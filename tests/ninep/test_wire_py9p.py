"""Differential tests against an independent 9P2000 codec: py9p wraps plan9port's C
convS2M/convM2S. For 9P2000 both must produce and accept the very same bytes."""

from __future__ import annotations

import dataclasses
from typing import Any

import py9p
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import VECTORS, Vector
from wire_vectors_hypothesis import message_classes, messages_of

from jobd_9p import wire
from jobd_9p.wire import Dialect, Message, decode, encode

P9 = Dialect.P9P2000
_RENAMED = {"wnames": "wname", "wqids": "wqid"}
_DOTU_ONLY = {"n_uname", "errno", "extension"}
# plan9port strings are C strings (no NUL); its offsets and lengths are signed 64-bit
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def _to_py9p_value(value: Any) -> Any:
    if isinstance(value, wire.Qid):
        return py9p.Qid(value.type, value.version, value.path)
    if isinstance(value, wire.Stat):
        fields = [getattr(value, f.name) for f in dataclasses.fields(value)][:11]
        fields[2] = _to_py9p_value(value.qid)
        return py9p.Dir(*fields)
    if isinstance(value, tuple):
        return tuple(_to_py9p_value(v) for v in value)
    return value


def _from_py9p_value(value: Any) -> Any:
    if isinstance(value, int) and value < 0:
        return value % 2**64  # plan9port's vlong offsets and lengths; on the wire they are u64
    if isinstance(value, py9p.Qid):
        return wire.Qid(value.type, value.vers, value.path)
    if isinstance(value, py9p.Dir):
        return wire.Stat(
            *(_from_py9p_value(getattr(value, f.name)) for f in dataclasses.fields(value))
        )
    if isinstance(value, tuple):
        return tuple(_from_py9p_value(v) for v in value)
    return value


def to_py9p(msg: Message) -> Any:
    cls = getattr(py9p, type(msg).__name__)
    kwargs = {
        _RENAMED.get(f.name, f.name): _to_py9p_value(getattr(msg, f.name))
        for f in dataclasses.fields(msg)  # type: ignore[arg-type]
        if f.name not in _DOTU_ONLY
    }
    return cls(**kwargs)


def from_py9p(theirs: Any) -> Message:
    cls = getattr(wire, type(theirs).__name__)
    reverse = {v: k for k, v in _RENAMED.items()}
    kwargs = {
        reverse.get(f.name, f.name): _from_py9p_value(getattr(theirs, f.name))
        for f in dataclasses.fields(theirs)
    }
    msg: Message = cls(**kwargs)
    return msg


def _py9p_compatible(msg: Message) -> Message:
    # plan9port keeps offsets and stat lengths in signed vlong
    changes: dict[str, Any] = {}
    if isinstance(msg, wire.Tread | wire.Twrite):
        changes["offset"] = msg.offset % 2**63
    if isinstance(msg, wire.Rstat | wire.Twstat):
        changes["stat"] = dataclasses.replace(msg.stat, length=msg.stat.length % 2**63)
    return dataclasses.replace(msg, **changes) if changes else msg  # type: ignore[type-var]


P9_VECTORS = [v for v in VECTORS if P9 in v.dialects]


@pytest.mark.parametrize("v", P9_VECTORS, ids=Vector.id)
def test_hand_derived_vectors_agree_with_plan9port(v: Vector) -> None:
    assert py9p.encode_message(to_py9p(v.message)) == v.frame
    assert from_py9p(py9p.decode_message(v.frame)) == v.message


CLASSES = message_classes(P9)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_random_messages_encode_like_plan9port(cls: type[Message], data: st.DataObject) -> None:
    ours = _py9p_compatible(data.draw(messages_of(cls, P9, TEXT)))
    theirs = to_py9p(ours)
    their_bytes = py9p.encode_message(theirs)
    our_bytes = encode(ours, P9)
    assert our_bytes == their_bytes
    assert decode(their_bytes, P9) == ours
    assert from_py9p(py9p.decode_message(our_bytes)) == ours


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_stat_entries_encode_like_plan9port(data: st.DataObject) -> None:
    stat = data.draw(messages_of(wire.Rstat, P9, TEXT)).stat  # type: ignore[attr-defined]
    stat = dataclasses.replace(stat, length=stat.length % 2**63)
    raw = wire.encode_stat(stat, P9)
    assert raw == py9p.encode_dir(_to_py9p_value(stat))
    assert _from_py9p_value(py9p.decode_dir(raw)) == stat


@settings(max_examples=300, deadline=None)
@given(typ=st.sampled_from([c.TYPE for c in CLASSES]), body=st.binary(max_size=60))
def test_plan9port_accepts_what_we_accept(typ: int, body: bytes) -> None:
    # Anything our decoder accepts is a frame plan9port decodes to the same message. (Not the
    # converse: we are stricter. plan9port passes a malformed stat through as opaque bytes,
    # cuts C strings at NUL without checking UTF-8, and ignores some trailing bytes.)
    frame = (7 + len(body)).to_bytes(4, "little") + bytes([typ]) + b"\x01\x00" + body
    try:
        ours = decode(frame, P9)
    except wire.ProtocolError:
        return
    if "\\x00" in repr(ours):
        return  # NUL inside a string: plan9port's C strings cannot carry it
    assert from_py9p(py9p.decode_message(frame)) == ours


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_mutated_vectors_we_accept_agree_with_plan9port(data: st.DataObject) -> None:
    frame = bytearray(data.draw(st.sampled_from(P9_VECTORS)).frame)
    for _ in range(data.draw(st.integers(1, 3))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    try:
        ours = decode(bytes(frame), P9)
    except wire.ProtocolError:
        return
    if "\\x00" in repr(ours):
        return
    assert from_py9p(py9p.decode_message(bytes(frame))) == ours
