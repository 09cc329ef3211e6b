"""encode / decode / Decoder (work in progress)."""

from ._dialect import Dialect
from ._messages import Dirent, Message, Stat


def encode(msg: Message, dialect: Dialect) -> bytes:
    """Encode one message as a whole frame."""
    raise NotImplementedError


def decode(frame: bytes | bytearray | memoryview, dialect: Dialect) -> Message:
    """Decode one whole frame."""
    raise NotImplementedError


def encode_stat(stat: Stat, dialect: Dialect) -> bytes:
    """Encode one stat entry."""
    raise NotImplementedError


def decode_stat(data: bytes | bytearray | memoryview, dialect: Dialect) -> Stat:
    """Decode one stat entry."""
    raise NotImplementedError


def encode_dirents(entries: "list[Dirent] | tuple[Dirent, ...]") -> bytes:
    """Pack dirents."""
    raise NotImplementedError


def decode_dirents(data: bytes | bytearray | memoryview) -> list[Dirent]:
    """Unpack dirents."""
    raise NotImplementedError


class Decoder:
    """Incremental frame decoder."""

    def __init__(self, dialect: Dialect = Dialect.P9P2000, max_size: int = 8192 + 24) -> None:
        self.dialect = dialect
        self.max_size = max_size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes."""
        raise NotImplementedError

    def next_message(self) -> Message | None:
        """The next message, or None if more bytes are needed."""
        raise NotImplementedError


def dirent_size(name: str) -> int:
    """Bytes one dirent with this name takes in Rreaddir data."""
    raise NotImplementedError


def is_valid_in(msg_type: type[Message], dialect: Dialect) -> bool:
    """Whether a message class may appear on the wire in a dialect."""
    raise NotImplementedError


def message_class(type_byte: int) -> type[Message] | None:
    """The message class of a wire type byte, or None."""
    raise NotImplementedError
