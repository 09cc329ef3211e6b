"""The codec's one exception."""


class ProtocolError(ValueError):
    """A frame that is not a valid 9P message in the current dialect.

    The only exception decoding raises. ``tag`` is the frame's tag when the 7-byte header was
    intact and the size field was acceptable (so a server could answer that tag), else None;
    ``msg_type`` likewise is the header's type byte or None.
    """

    def __init__(self, message: str, *, tag: int | None = None, msg_type: int | None = None):
        super().__init__(message)
        self.tag = tag
        self.msg_type = msg_type
