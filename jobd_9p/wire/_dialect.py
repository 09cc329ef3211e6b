"""The three protocol dialects and Tversion's version-string negotiation (version(5))."""

import enum


class Dialect(enum.Enum):
    """A 9P dialect; the value is its Tversion version string."""

    P9P2000 = "9P2000"
    U = "9P2000.u"
    L = "9P2000.L"

    @classmethod
    def negotiate(cls, client_version: str) -> "Dialect | None":
        """The dialect a server speaks for a client's Tversion version string.

        "9P2000.L" -> L, "9P2000.u" -> U; otherwise, per version(5), everything from the first
        '.' is ignored: "9P2000" or "9P2000.x" -> P9P2000. Anything else -> None (the server
        answers Rversion "unknown").
        """
        for dialect in (cls.L, cls.U):
            if client_version == dialect.value:
                return dialect
        if client_version.split(".", 1)[0] == cls.P9P2000.value:
            return cls.P9P2000
        return None

    @property
    def extended(self) -> bool:
        """True for .u and .L: the dialects whose classic messages carry the .u extra fields."""
        return self is not Dialect.P9P2000
