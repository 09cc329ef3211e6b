"""Who may connect: ``--allow CIDR[,CIDR...]`` for TCP peers, ``--socket-mode`` for unix sockets.

Rules this module keeps:
1. 9P here has no authentication: whoever connects can run commands as the jobs' user. The only
   checks are the network ones below, applied at accept, before a byte is read.
2. An allow list names networks (``10.0.0.0/8``, ``192.168.1.7``, ``::1``); an IPv4 peer seen
   through a dual-stack socket (``::ffff:a.b.c.d``) is matched as the IPv4 address it is.
3. A unix socket's peers are governed by the socket file's mode (and its directory's), not by
   the allow list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AllowList:
    """The networks TCP peers must come from.

    Args:
        networks: the allowed networks (an empty list allows nobody over TCP).
    """

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """``CIDR[,CIDR...]`` (bare addresses are single hosts; host bits must be zero).

        Raises:
            ValueError: an entry that is not an address or network.
        """
        networks: list[Network] = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError as exc:
                raise ValueError(f"--allow: {exc}") from None
        if not networks:
            raise ValueError("--allow: no networks given")
        return cls(networks)

    def permits(self, host: str) -> bool:
        """Whether a peer at ``host`` (an IP address as ``getpeername`` gives it) may connect.
        Anything that is not an IP address (a unix socket peer) is not decided here: True."""
        try:
            address: Address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        return ",".join(str(network) for network in self.networks)


def parse_socket_mode(text: str) -> int:
    """An octal file mode such as ``0660`` or ``660`` (permission bits only).

    Raises:
        ValueError: not an octal number within 0..0o777.
    """
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError(f"--socket-mode: {text!r} is not an octal mode like 0660") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f"--socket-mode: {text!r} is outside 0000..0777")
    return mode
