"""Listening sockets of the 9P server: ``--fsaddr`` parsing, TCP and unix listeners.

Rules this module keeps:
1. ``HOST:PORT`` (``[v6]:port``; port 0 picks a free one) or ``unix:PATH``; anything else is a
   ValueError naming the expected forms.
2. A unix socket file never has a wider mode than ``--socket-mode`` asks, and has exactly it
   before the socket listens; a stale socket file of an earlier run is replaced, any other file
   is left alone.
"""

from __future__ import annotations

import os
import socket
import stat

import trio

Listener = trio.abc.Listener[trio.abc.Stream]


def parse_fsaddr(fsaddr: str) -> tuple[str, int] | str:
    """``host:port`` / ``[v6]:port`` -> (host, port); ``unix:PATH`` -> PATH.

    Raises:
        ValueError: not an address of either form.
    """
    if fsaddr.startswith("unix:"):
        path = fsaddr[len("unix:") :]
        if not path:
            raise ValueError("unix: address needs a path")
        return path
    host, sep, port = fsaddr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad address {fsaddr!r}: expected HOST:PORT or unix:PATH")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, int(port)


def is_wildcard(fsaddr: str) -> bool:
    """Whether ``fsaddr`` listens on every interface (anyone reaching the port runs commands)."""
    parsed = parse_fsaddr(fsaddr)
    return not isinstance(parsed, str) and parsed[0] in ("", "0.0.0.0", "::", "*")


async def open_listeners(
    fsaddr: str, *, socket_mode: int | None = None
) -> list[trio.SocketListener]:
    """Open the listening sockets for ``fsaddr`` (``HOST:PORT``, port 0 = any; ``unix:PATH``).

    ``socket_mode`` (unix sockets only) is the socket file's mode, in place before the socket
    listens and never wider before that.

    Raises:
        ValueError: a malformed address.
        OSError: the address cannot be bound.
    """
    parsed = parse_fsaddr(fsaddr)
    if isinstance(parsed, str):
        return [await _open_unix_listener(parsed, socket_mode)]
    host, port = parsed
    return await trio.open_tcp_listeners(port, host=None if host in ("", "*") else host)


async def _open_unix_listener(path: str, mode: int | None = None) -> trio.SocketListener:
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)  # a stale socket of an earlier run
    except FileNotFoundError:
        pass
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if mode is not None:
            # Linux creates the socket file with the socket inode's mode minus the umask: never
            # wider than asked. The chmod after bind then sets exactly ``mode``; the socket does
            # not accept connections before listen().
            os.fchmod(sock.fileno(), mode)
        await sock.bind(path)
        if mode is not None:
            os.chmod(path, mode)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return trio.SocketListener(sock)


def listener_address(listener: Listener) -> str:
    """The address a listener is bound to, as ``--fsaddr`` spells it (``host:port``, ``unix:P``)."""
    if not isinstance(listener, trio.SocketListener):
        return repr(listener)
    name = listener.socket.getsockname()
    if listener.socket.family == socket.AF_UNIX:
        return f"unix:{name}"
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
