"""The qemu command line for one throwaway guest, and the guest's fixed network addresses.

Rules it keeps: user-mode networking with ``restrict=on`` so the guest reaches nothing but the one
``guestfwd`` (guest ``SERVER_ADDR:guest_port`` -> host ``host:host_port``, through a relay process
per connection); no default devices, no display, no monitor, no stdin; four serial ports to files
(console, stdout, stderr, control — see ``init.sh``).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

GUEST_ADDR = "10.0.2.15"
GATEWAY_ADDR = "10.0.2.2"
SERVER_ADDR = "10.0.2.100"
DEFAULT_GUEST_PORT = 5640
SERIAL_FILES = ("console", "stdout", "stderr", "control")
RELAY_LOG = "relay.log"
_RELAY = Path(__file__).with_name("_relay.py")
KERNEL_CMDLINE = "console=ttyS0 quiet panic=-1 no_timer_check rdinit=/init"


class QemuError(Exception):
    """qemu is not installed, or a path cannot be put on its command line."""


def qemu_binary() -> str:
    """The path of ``qemu-system-x86_64``.

    Raises:
        QemuError: it is not on PATH (install Debian's qemu-system-x86).
    """
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise QemuError("qemu-system-x86_64 not found; install Debian's qemu-system-x86")
    return found


@dataclass(frozen=True)
class Forward:
    """One guest TCP endpoint forwarded to a host endpoint."""

    guest_port: int
    host_port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Machine:
    """Everything that varies between two guests' command lines."""

    kernel_image: Path
    accel: str = "tcg"
    memory_mb: int = 256
    forward: Forward | None = None


def _netdev(forward: Forward | None, outdir: Path) -> str:
    netdev = "user,id=net0,restrict=on,ipv6=off"
    if forward is None:
        return netdev
    # One relay process per guest connection (see _relay.py); qemu splits the command at spaces and
    # its option parser at commas, so neither may appear in the words.
    words = [sys.executable, "-I", "-S", str(_RELAY), forward.host, str(forward.host_port)]
    words.append(str(outdir / RELAY_LOG))
    bad = [w for w in words if " " in w or "," in w]
    if bad:
        raise QemuError(f"cannot pass {bad} to qemu's guestfwd (space or comma in it)")
    return netdev + f",guestfwd=tcp:{SERVER_ADDR}:{forward.guest_port}-cmd:{' '.join(words)}"


def qemu_argv(machine: Machine, initrd: Path, outdir: Path) -> list[str]:
    """The full argv that boots ``machine`` from ``initrd``; serial output lands in
    ``outdir/<SERIAL_FILES>``.

    Raises:
        QemuError: qemu is not installed, or a path holds a space or comma.
    """
    cpu = ["-cpu", "host"] if machine.accel == "kvm" else []
    argv = [
        qemu_binary(),
        "-nodefaults",
        "-no-user-config",
        "-display", "none",
        "-no-reboot",
        "-machine", "pc",
        "-accel", machine.accel,
        *cpu,
        "-m", str(machine.memory_mb),
        "-smp", "1",
        "-kernel", str(machine.kernel_image),
        "-initrd", str(initrd),
        "-append", KERNEL_CMDLINE,
        "-netdev", _netdev(machine.forward, outdir),
        "-device", "virtio-net-pci,netdev=net0",
    ]  # fmt: skip
    for name in SERIAL_FILES:
        argv += ["-chardev", f"file,id={name},path={outdir / name}"]
        argv += ["-serial", f"chardev:{name}"]
    return argv
