"""Kernel modules for the guest: found in an unpacked kernel package, ordered by dependency.

There is no ``modinfo``/``depmod`` on a minimal host, and the Debian package ships no
``modules.dep``, so dependencies are read straight from each module's ``.modinfo`` section
(``depends=a,b``). Modules may be stored as ``.ko``, ``.ko.xz`` or ``.ko.zst``; they are returned
decompressed, ready for busybox ``insmod``.
"""

from __future__ import annotations

import lzma
import re
import subprocess
from pathlib import Path

# What the guest needs: virtio PCI + virtio-net for user-mode networking, and the 9P file system
# with its TCP transport (9pnet_fd is not pulled in by any dependency; the kernel would modprobe it
# on demand).
ROOT_MODULES = ("virtio_pci", "virtio_net", "9pnet_fd", "9p")

_DEPENDS = re.compile(rb"(?:^|\0)depends=([^\0]*)\0")
_SUFFIXES = (".ko", ".ko.xz", ".ko.zst")


class ModuleError(Exception):
    """A module is missing from the kernel tree or cannot be read."""


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def index_modules(modules_dir: Path) -> dict[str, Path]:
    """Map each module name (``-`` folded to ``_``) to its file under ``modules_dir``."""
    found: dict[str, Path] = {}
    for path in modules_dir.rglob("*.ko*"):
        for suffix in _SUFFIXES:
            if path.name.endswith(suffix):
                found[_canonical(path.name[: -len(suffix)])] = path
    return found


def load_module(path: Path) -> bytes:
    """The module's ELF bytes, decompressed.

    Raises:
        ModuleError: the file cannot be read or decompressed.
    """
    try:
        if path.name.endswith(".xz"):
            return lzma.decompress(path.read_bytes())
        if path.name.endswith(".zst"):
            done = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True)
            return done.stdout
        return path.read_bytes()
    except (OSError, lzma.LZMAError, subprocess.CalledProcessError) as exc:
        raise ModuleError(f"cannot read kernel module {path}: {exc}") from exc


def depends(elf: bytes) -> list[str]:
    """The module names listed in a module's ``depends=`` modinfo field (empty when it has none)."""
    match = _DEPENDS.search(elf)
    if match is None or not match.group(1):
        return []
    return [_canonical(name) for name in match.group(1).decode().split(",") if name]


def resolve(modules_dir: Path, roots: tuple[str, ...] = ROOT_MODULES) -> list[tuple[str, bytes]]:
    """``roots`` and everything they depend on, dependencies first, as ``(name, elf bytes)`` pairs.

    Raises:
        ModuleError: a needed module is not in ``modules_dir`` (or not readable), or the graph has a
        cycle.
    """
    index = index_modules(modules_dir)
    ordered: list[tuple[str, bytes]] = []
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in stack:
            raise ModuleError(f"module dependency cycle: {' -> '.join((*stack, name))}")
        path = index.get(name)
        if path is None:
            raise ModuleError(f"kernel module {name!r} not found under {modules_dir}")
        elf = load_module(path)
        for dep in depends(elf):
            visit(dep, (*stack, name))
        done.add(name)
        ordered.append((name, elf))

    for root in roots:
        visit(_canonical(root), ())
    return ordered
