"""Decoder: split a byte stream into 9P messages, incrementally (h11's receive_data/next_event).

Rules:
1. A frame is decoded only when all of it is buffered; until then ``next_message`` returns None.
2. The size field is checked against ``max_size`` as soon as its 4 bytes arrive, so a peer
   cannot make us buffer an oversized frame.
3. After a ProtocolError the decoder is dead: every later call raises ProtocolError.
"""

import struct
from typing import NoReturn

from ._codec import PAYLOAD_TYPES, Buffer, _decode_body, _tables
from ._constants import DEFAULT_MSIZE, HEADER_SIZE
from ._dialect import Dialect
from ._errors import ProtocolError
from ._messages import Message

_SIZE = struct.Struct("<I")
_TYPE_TAG = struct.Struct("<BH")
_COMPACT_AT = 1 << 16  # drop consumed bytes from the buffer once this many have accumulated


class Decoder:
    """Incremental decoder of a 9P byte stream.

    ``dialect`` and ``max_size`` may be changed at any time (after Tversion negotiation);
    the change applies to the next frame decoded.
    """

    def __init__(self, dialect: Dialect = Dialect.P9P2000, max_size: int = DEFAULT_MSIZE):
        self._buf = bytearray()
        self._pos = 0
        self._error: ProtocolError | None = None
        self.max_size = max_size
        self.dialect = dialect

    @property
    def dialect(self) -> Dialect:
        """The dialect frames are decoded in."""
        return self._dialect

    @dialect.setter
    def dialect(self, dialect: Dialect) -> None:
        self._decoders = _tables(dialect).decoders
        self._dialect = dialect

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as messages."""
        return len(self._buf) - self._pos

    def feed(self, data: Buffer) -> None:
        """Append received bytes.

        Raises:
            ProtocolError: the decoder is dead after an earlier error.
        """
        if self._error is not None:
            raise ProtocolError(f"decoder failed earlier: {self._error}")
        self._buf += data

    def next_message(self) -> Message | None:
        """The next whole message, or None if more bytes are needed.

        Raises:
            ProtocolError: a malformed frame (size < 7 or > max_size, unknown or invalid
                type, bad body); ``.tag`` is set when the header was readable.
        """
        if self._error is not None:
            raise ProtocolError(f"decoder failed earlier: {self._error}")
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 4:
            return None
        (size,) = _SIZE.unpack_from(buf, pos)
        if size < HEADER_SIZE or size > self.max_size:
            tag = _TYPE_TAG.unpack_from(buf, pos + 4)[1] if avail >= HEADER_SIZE else None
            self._fail(ProtocolError(f"frame size {size} outside [7, {self.max_size}]", tag=tag))
        if avail < size:
            return None
        typ, tag = _TYPE_TAG.unpack_from(buf, pos + 4)
        try:
            if PAYLOAD_TYPES[typ]:
                msg = self._decode_view(buf, pos, size, typ, tag)
            else:
                msg = _decode_body(self._decoders, buf[pos : pos + size], typ, tag)
        except ProtocolError as exc:
            self._fail(exc)
        pos += size
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos >= _COMPACT_AT:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return msg

    def _decode_view(self, buf: bytearray, pos: int, size: int, typ: int, tag: int) -> Message:
        # A payload is copied once, out of the stream buffer; the views are released before
        # the buffer is resized (a bytearray cannot be resized while a view is exported).
        with memoryview(buf) as view, view[pos : pos + size] as frame:
            return _decode_body(self._decoders, frame, typ, tag)

    def _fail(self, exc: ProtocolError) -> NoReturn:
        self._error = exc
        self._buf = bytearray()
        self._pos = 0
        raise exc
