"""Boot a throwaway qemu guest whose real Linux kernel 9P client talks to a server on this host."""

from ._guest import GuestKernel, GuestSetupError
from ._qemu import DEFAULT_GUEST_PORT, SERVER_ADDR
from ._run import GuestBootError, GuestError, GuestResult, GuestTimeout

__all__ = [
    "DEFAULT_GUEST_PORT",
    "SERVER_ADDR",
    "GuestBootError",
    "GuestError",
    "GuestKernel",
    "GuestResult",
    "GuestSetupError",
    "GuestTimeout",
]
