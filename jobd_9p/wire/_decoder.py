"""Decoder: split a byte stream into 9P messages, incrementally (h11's receive_data/next_event).

Rules:
1. A frame is decoded only when all of it is buffered; until then ``next_message`` returns None.
2. The size field is checked against ``max_size`` as soon as its 4 bytes arrive, so a peer
   cannot make us buffer an oversized frame.
3. After a ProtocolError the decoder is dead: every later call raises ProtocolError.
"""

import struct
from typing import NoReturn

from ._codec import PAYLOAD_TYPES, Buffer, _tables, bad_type, malformed
from ._compile import Malformed
from ._constants import DEFAULT_MSIZE, HEADER_SIZE
from ._dialect import Dialect
from ._errors import ProtocolError
from ._messages import Message

_SIZE = struct.Struct("<I")
_HEADER = struct.Struct("<IBH")
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
        if avail < HEADER_SIZE:
            if avail >= 4:
                self._check_size(_SIZE.unpack_from(buf, pos)[0], None)
            return None
        size, typ, tag = _HEADER.unpack_from(buf, pos)
        if size < HEADER_SIZE or size > self.max_size:
            self._check_size(size, tag)
        if avail < size:
            return None
        dec = self._decoders[typ]
        if dec is None:
            self._fail(bad_type(typ, tag))
        try:
            if PAYLOAD_TYPES[typ]:
                # The payload is copied once, out of the stream buffer; the views are
                # released before the buffer is resized (not possible while exported).
                with memoryview(buf) as view, view[pos : pos + size] as frame:
                    msg: Message = dec(frame, tag)
            else:
                msg = dec(buf[pos : pos + size], tag)
        except (Malformed, struct.error, UnicodeDecodeError) as exc:
            self._fail(malformed(typ, tag, exc))
        pos += size
        if pos == len(buf):
            buf.clear()
            pos = 0
        elif pos >= _COMPACT_AT:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return msg

    def _check_size(self, size: int, tag: int | None) -> None:
        if size < HEADER_SIZE or size > self.max_size:
            self._fail(ProtocolError(f"frame size {size} outside [7, {self.max_size}]", tag=tag))

    def _fail(self, exc: ProtocolError) -> NoReturn:
        self._error = exc
        self._buf = bytearray()
        self._pos = 0
        raise exc
