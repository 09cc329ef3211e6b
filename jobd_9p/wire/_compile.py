"""Compile the message table into one straight-line encoder and decoder per message and dialect.

Why generate code: a generic interpreter walks the field list for every message at run time;
the generated functions do one ``struct`` call per run of fixed-size fields (the length prefix
of a following string or data field included), which is what makes the codec fast.

Rules the generated decoders keep:
1. They read only ``b[7:len(b)]`` (the caller checked the header) and raise only
   ``struct.error``, ``UnicodeDecodeError`` or ``Malformed``; the caller turns those into
   ``ProtocolError``.
2. Every length prefix is checked against the frame end before slicing; the last field must
   end exactly at the frame end.
3. A data payload is copied exactly once (``bytes(b[o:e])``; no copy when ``b`` is bytes).
"""

import struct
from collections.abc import Callable
from typing import Any

from ._constants import HEADER_SIZE
from ._layouts import Layout
from ._messages import Message, Qid

Decoder = Callable[[Any, int], Message]
Encoder = Callable[[Any], bytes]

# fixed-size codes: struct format and size
_FIXED = {"b": ("B", 1), "w": ("H", 2), "d": ("I", 4), "q": ("Q", 8), "Q": ("BIQ", 13)}
# variable codes with a length prefix we can merge into the preceding struct
_PREFIXED = {"s": ("H", 2), "D": ("I", 4)}


class Malformed(ValueError):
    """Internal: a frame body that does not parse (turned into ProtocolError by the caller)."""


def _namespace(helpers: dict[str, Any]) -> dict[str, Any]:
    return {"Qid": Qid, "Malformed": Malformed, **helpers}


def compile_decoder(cls: type[Message], layout: Layout, helpers: dict[str, Any]) -> Decoder:
    """Build the decoder ``dec(frame, tag) -> cls`` for one layout.

    ``helpers`` must provide ``dec_W``, ``dec_R``, ``dec_S`` (``(b, o, end) -> (value, o)``).
    """
    ns = _namespace(helpers)
    ns["cls"] = cls
    body: list[str] = []
    args: list[str] = ["tag"]
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
                args.append(f"Qid({var}t, {var}v, {var}p)")
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
            conv = "str(b[o:e], 'utf-8')" if code == "s" else "bytes(b[o:e])"
            body.append(f"    {var} = {conv}")
            body.append("    o = e")
        else:
            flush()
            go_dynamic()
            body.append(f"    {var}, o = dec_{code}(b, o, end)")
        args.append(var)
    flush()
    if state["dynamic"]:
        head = ["    end = len(b)"]
        body.append("    if o != end: raise Malformed('trailing bytes after the last field')")
    else:
        total = state["const"]
        head = [f"    if len(b) != {total}: raise Malformed('frame size is not {total}')"]
    src = "\n".join(["def dec(b, tag):", *head, *body, f"    return cls({', '.join(args)})"])
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
