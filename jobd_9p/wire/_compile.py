"""Compile the message table into one straight-line encoder and decoder per message and dialect.

Why generate code: a generic interpreter walks the field list for every message at run time;
the generated functions do one ``struct`` call per run of fixed-size fields (the length prefix
of a following string or data field included), which is what makes the codec fast.

Rules the generated decoders keep:
0. ``b`` is bytes or bytearray, except for the payload messages (a ``D`` field, no strings),
   which may get a memoryview: strings use ``.decode()``, a third faster than ``str(b, enc)``.
1. They read only ``b[7:len(b)]`` (the caller checked the header) and raise only
   ``struct.error``, ``UnicodeDecodeError`` or ``Malformed``; the caller turns those into
   ``ProtocolError``.
2. Every length prefix is checked against the frame end before slicing; the last field must
   end exactly at the frame end.
3. A data payload is copied exactly once: ``bytes(b[o:e])`` of a memoryview, or the slice of
   a bytes frame (``bytes()`` of bytes is the same object).
"""

import dataclasses
import struct
from collections.abc import Callable
from typing import Any, TypeVar

from ._constants import HEADER_SIZE, MAXWELEM
from ._layouts import Layout
from ._messages import Message, Qid

T = TypeVar("T")
Decoder = Callable[[Any, int], Message]
Encoder = Callable[[Any], bytes]

# fixed-size codes: struct format and size
_FIXED = {"b": ("B", 1), "w": ("H", 2), "d": ("I", 4), "q": ("Q", 8), "Q": ("BIQ", 13)}
# variable codes with a length prefix we can merge into the preceding struct
_PREFIXED = {"s": ("H", 2), "D": ("I", 4)}


_H_UNPACK = struct.Struct("<H").unpack_from


class Malformed(ValueError):
    """Internal: a frame body that does not parse (turned into ProtocolError by the caller)."""


def _namespace(helpers: dict[str, Any]) -> dict[str, Any]:
    return {
        "Qid": Qid,
        "Malformed": Malformed,
        "MAXWELEM": MAXWELEM,
        "_H": _H_UNPACK,
        "_new": object.__new__,
        **helpers,
    }


def _construct(cls: type, args: list[str], ns: dict[str, Any], var: str) -> list[str]:
    """Statements building ``var = cls(*args)`` without the frozen dataclass ``__init__``.

    Why: a frozen dataclass sets each field through ``object.__setattr__``, looked up by name;
    calling the slot descriptors' ``__set__`` directly halves the cost of building a message,
    which dominates decoding. Every field is set, so the result equals ``cls(*args)``.
    """
    fields = dataclasses.fields(cls)
    lines = [f"    {var} = _new({cls.__name__})"]
    ns[cls.__name__] = cls
    for i, field in enumerate(fields):
        name = field.name
        if i < len(args):
            arg = args[i]
        else:  # a field this dialect lacks on the wire: its default
            arg = f"_default_{cls.__name__}_{name}"
            ns[arg] = field.default
        setter = f"_set_{cls.__name__}_{name}"
        ns[setter] = cls.__dict__[name].__set__
        lines.append(f"    {setter}({var}, {arg})")
    return lines


_WNAMES_INLINE = """\
    nw, = _H(b, o)
    o += 2
    if nw == 1:
        if o + 2 > end: raise Malformed('walk name length cut')
        e = o + 2 + (b[o] | b[o + 1] << 8)
        if e > end: raise Malformed('walk name exceeds the frame')
        VAR = (b[o + 2:e].decode(),)
        o = e
    else:
        if nw > MAXWELEM: raise Malformed(f'{nw} walk elements (most is MAXWELEM)')
        names = []
        for _ in range(nw):
            if o + 2 > end: raise Malformed('walk name length cut')
            e = o + 2 + (b[o] | b[o + 1] << 8)
            if e > end: raise Malformed('walk name exceeds the frame')
            names.append(b[o + 2:e].decode())
            o = e
        VAR = tuple(names)"""


def _variable_field(code: str, var: str) -> list[str]:
    # Twalk is the hottest message with a list in it: its loop is inlined to save a call, and
    # one name (how Linux looks up each path component) skips the loop.
    if code == "W":
        return _WNAMES_INLINE.replace("VAR", var).splitlines()
    return [f"    {var}, o = dec_{code}(b, o, end)"]


def compile_builder(cls: type[T]) -> Callable[..., T]:
    """A function ``build(*field_values) -> cls`` equal to ``cls(...)`` with every field given,
    but without the frozen dataclass ``__init__`` (see ``_construct``)."""
    ns = _namespace({})
    params = [f"a{i}" for i in range(len(dataclasses.fields(cls)))]  # type: ignore[arg-type]
    lines = [
        f"def build({', '.join(params)}):",
        *_construct(cls, params, ns, "obj"),
        "    return obj",
    ]
    exec(compile("\n".join(lines), f"<9p builder {cls.__name__}>", "exec"), ns)
    fn: Callable[..., T] = ns["build"]
    return fn


def compile_decoder(cls: type[Message], layout: Layout, helpers: dict[str, Any]) -> Decoder:
    """Build the decoder ``dec(frame, tag) -> cls`` for one layout.

    ``helpers`` must provide ``dec_R``, ``dec_S`` (``(b, o, end) -> (value, o)``); walk
    names (``W``) are decoded inline.
    """
    ns = _namespace(helpers)
    ns["cls"] = cls
    body: list[str] = []
    args: list[str] = ["tag"]
    qids: list[str] = []
    group_fmt: list[str] = []
    group_vars: list[str] = []
    state = {"const": HEADER_SIZE, "dynamic": False, "structs": 0}

    def flush() -> None:
        if not group_vars:
            return
        k = state["structs"]
        state["structs"] = k + 1
        fmt = "<" + "".join(group_fmt)
        ns[f"_S{k}"] = struct.Struct(fmt).unpack_from
        pos = "o" if state["dynamic"] else str(state["const"])
        body.append(f"    {', '.join(group_vars)}, = _S{k}(b, {pos})")
        size = struct.calcsize(fmt)
        if state["dynamic"]:
            body.append(f"    o += {size}")
        else:
            state["const"] += size
        group_fmt.clear()
        group_vars.clear()

    def go_dynamic() -> None:
        if not state["dynamic"]:
            body.append(f"    o = {state['const']}")
            state["dynamic"] = True

    for i, (name, code) in enumerate(layout):
        var = f"v{i}"
        if code in _FIXED:
            group_fmt.append(_FIXED[code][0])
            if code == "Q":
                group_vars.extend((f"{var}t", f"{var}v", f"{var}p"))
                qids.append(var)
                args.append(var)
            else:
                group_vars.append(var)
                args.append(var)
            continue
        if code in _PREFIXED:
            group_fmt.append(_PREFIXED[code][0])
            group_vars.append(f"n{i}")
            flush()
            go_dynamic()
            body.append(f"    e = o + n{i}")
            body.append(f"    if e > end: raise Malformed('{name}: length exceeds the frame')")
            conv = "b[o:e].decode()" if code == "s" else "bytes(b[o:e])"
            body.append(f"    {var} = {conv}")
            body.append("    o = e")
        else:
            flush()
            go_dynamic()
            body.extend(_variable_field(code, var))
        args.append(var)
    flush()
    for var in qids:
        body.extend(_construct(Qid, [f"{var}t", f"{var}v", f"{var}p"], ns, var))
    if state["dynamic"]:
        head = ["    end = len(b)"]
        body.append("    if o != end: raise Malformed('trailing bytes after the last field')")
    else:
        total = state["const"]
        head = [f"    if len(b) != {total}: raise Malformed('frame size is not {total}')"]
    build = _construct(cls, args, ns, "msg")
    src = "\n".join(["def dec(b, tag):", *head, *body, *build, "    return msg"])
    exec(compile(src, f"<9p decoder {cls.__name__}>", "exec"), ns)
    fn: Decoder = ns["dec"]
    return fn


def compile_encoder(cls: type[Message], layout: Layout, helpers: dict[str, Any]) -> Encoder:
    """Build the encoder ``enc(msg) -> bytes`` (a whole frame) for one layout.

    ``helpers`` must provide ``enc_W``, ``enc_R``, ``enc_S`` (``value -> bytes``, prefix included).
    """
    ns = _namespace(helpers)
    pre: list[str] = []  # statements computing variable parts
    parts: list[str] = []  # expressions joined into the frame
    fmt: list[str] = ["I", "B", "H"]
    vals: list[str] = ["SIZE", str(cls.TYPE), "m.tag"]
    var_lens: list[str] = []
    fixed_size = 0  # the header struct counts its own 7 bytes
    n_structs = 0

    def close_struct() -> None:
        nonlocal n_structs, fixed_size
        if not vals:
            return
        f = "<" + "".join(fmt)
        ns[f"_P{n_structs}"] = struct.Struct(f).pack
        parts.append(f"_P{n_structs}({', '.join(vals)})")
        fixed_size += struct.calcsize(f)
        n_structs += 1
        fmt.clear()
        vals.clear()

    for i, (name, code) in enumerate(layout):
        if code in _FIXED:
            fmt.append(_FIXED[code][0])
            if code == "Q":
                pre.append(f"    q{i} = m.{name}")
                vals.extend((f"q{i}.type", f"q{i}.version", f"q{i}.path"))
            else:
                vals.append(f"m.{name}")
        elif code in _PREFIXED:
            conv = f"m.{name}.encode('utf-8')" if code == "s" else f"m.{name}"
            pre.append(f"    x{i} = {conv}")
            fmt.append(_PREFIXED[code][0])
            vals.append(f"len(x{i})")
            close_struct()
            parts.append(f"x{i}")
            var_lens.append(f"len(x{i})")
        else:
            close_struct()
            pre.append(f"    x{i} = enc_{code}(m.{name})")
            parts.append(f"x{i}")
            var_lens.append(f"len(x{i})")
    close_struct()
    size_expr = " + ".join([str(fixed_size), *var_lens])
    lines = ["def enc(m):", *pre, f"    SIZE = {size_expr}"]
    if len(parts) == 1:
        lines.append(f"    return {parts[0]}")
    else:
        lines.append(f"    return b''.join(({', '.join(parts)},))")
    exec(compile("\n".join(lines), f"<9p encoder {cls.__name__}>", "exec"), ns)
    fn: Encoder = ns["enc"]
    return fn
