"""Hypothesis strategies for every 9P message of every dialect, built from the codec's table.

Field widths come from the wire layouts (``jobd_9p.wire._layouts``); the layout/dataclass
agreement itself is checked at import time by the codec and by test_wire_vectors.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st

from jobd_9p.wire import MAXWELEM, NONUNAME, Dialect, Message, Qid, Stat
from jobd_9p.wire._layouts import layouts

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
U64 = st.integers(0, 2**64 - 1)
# text that is valid UTF-8 on the wire (no lone surrogates); small, so frames stay small
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
DATA = st.binary(max_size=64)
QID = st.builds(Qid, U8, U32, U64)


def stats(dialect: Dialect, text: st.SearchStrategy[str] = TEXT) -> st.SearchStrategy[Stat]:
    """A Stat as it can exist on the wire in ``dialect`` (.u fields defaulted in 9P2000)."""
    base = (U16, U32, QID, U32, U32, U32, U64, text, text, text, text)
    if dialect is Dialect.P9P2000:
        return st.builds(Stat, *base)
    return st.builds(Stat, *base, text, U32, U32, U32)


def _field(code: str, dialect: Dialect, text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    simple: dict[str, st.SearchStrategy[Any]] = {
        "b": U8, "w": U16, "d": U32, "q": U64, "s": text, "Q": QID, "D": DATA,
    }  # fmt: skip
    if code in simple:
        return simple[code]
    if code == "W":
        return st.lists(text, max_size=MAXWELEM).map(tuple)
    if code == "R":
        return st.lists(QID, max_size=MAXWELEM).map(tuple)
    if code == "S":
        return stats(dialect, text)
    raise AssertionError(code)


def messages_of(
    cls: type[Message], dialect: Dialect, text: st.SearchStrategy[str] = TEXT
) -> st.SearchStrategy[Message]:
    """Messages of one class as they can exist on the wire in ``dialect``."""
    layout = dict(layouts(dialect)[cls])
    kwargs: dict[str, st.SearchStrategy[Any]] = {"tag": U16}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in layout:
            kwargs[f.name] = _field(layout[f.name], dialect, text)
    return st.builds(cls, **kwargs)


def message_classes(dialect: Dialect) -> list[type[Message]]:
    return sorted(layouts(dialect), key=lambda c: c.TYPE)


def messages(dialect: Dialect) -> st.SearchStrategy[Message]:
    """Any message valid in ``dialect``."""
    return st.one_of([messages_of(c, dialect) for c in message_classes(dialect)])


__all__ = ["NONUNAME", "QID", "TEXT", "message_classes", "messages", "messages_of", "stats"]
