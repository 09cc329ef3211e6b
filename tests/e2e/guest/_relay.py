"""The relay qemu's ``guestfwd=...-cmd:`` spawns per guest TCP connection: one host connection each.

qemu runs one relay per guest connection with the connection on stdin/stdout (and stderr, so this
never writes there). Unlike a ``guestfwd`` to a ``tcp:`` chardev — one host connection opened when
qemu starts and shared by every guest connection — this gives the server what a real client gives
it: a connection per mount, opened at mount time and closed at unmount. The relay dies with qemu
(PR_SET_PDEATHSIG).

Usage: ``python3 _relay.py HOST PORT LOGFILE``; failures are appended to LOGFILE.
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1
_CHUNK = 1 << 16
_DRAIN_S = 5.0


def _die_with_parent() -> None:
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pump(conn: socket.socket) -> None:
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    sel.register(conn, selectors.EVENT_READ)
    guest_open = True
    while True:
        events = sel.select(None if guest_open else _DRAIN_S)
        if not events:
            return  # the guest hung up and the server did not close within the grace period
        for key, _ in events:
            if key.fileobj == 0:
                data = os.read(0, _CHUNK)
                if not data:
                    guest_open = False
                    sel.unregister(0)
                    conn.shutdown(socket.SHUT_WR)
                else:
                    conn.sendall(data)
            else:
                data = conn.recv(_CHUNK)
                if not data:
                    return
                _write_all(1, data)


def main(argv: list[str]) -> int:
    """Relay stdin/stdout to ``HOST:PORT``; returns the exit status."""
    host, port, logfile = argv[1], int(argv[2]), argv[3]
    _die_with_parent()
    try:
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.settimeout(None)
            _pump(conn)
    except OSError as exc:
        with open(logfile, "a") as log:
            log.write(f"relay to {host}:{port}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
