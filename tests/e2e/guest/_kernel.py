"""The guest kernel: Debian's stock ``linux-image-*-amd64``, fetched once into a cache dir.

Never into /boot.
``tools/fetch-guest-kernel.sh`` does the fetching (``apt-get download`` + ``dpkg-deb -x``); this
module finds its result, runs it when the cache is empty, and fails with the script's reason when it
cannot.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]
FETCH_SCRIPT = _REPO / "tools" / "fetch-guest-kernel.sh"


class KernelError(Exception):
    """The guest kernel is not in the cache and cannot be fetched."""


def default_cache_dir() -> Path:
    """``$JOBD_GUEST_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/jobd-guest`` (as the script)."""
    explicit = os.environ.get("JOBD_GUEST_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "jobd-guest"


@dataclass(frozen=True)
class KernelTree:
    """An unpacked kernel package: the image to boot and its module tree."""

    root: Path
    vmlinuz: Path
    modules_dir: Path
    release: str


def _tree(root: Path) -> KernelTree:
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise KernelError(f"no boot/vmlinuz-* in {root}")
    vmlinuz = images[-1]
    release = vmlinuz.name.removeprefix("vmlinuz-")
    modules_dir = root / "lib" / "modules" / release
    if not modules_dir.is_dir():
        raise KernelError(f"no module tree {modules_dir} for {vmlinuz.name}")
    return KernelTree(root, vmlinuz, modules_dir, release)


def fetch_kernel(cache_dir: Path, timeout: float = 600) -> KernelTree:
    """The cached kernel tree under ``cache_dir``, downloading it first if the cache is empty.

    Raises:
        KernelError: the fetch script failed (no apt, no network, no such package) or its result is
            unusable; the message carries the script's stderr.
    """
    env = {**os.environ, "JOBD_GUEST_CACHE": str(cache_dir)}
    try:
        done = subprocess.run(
            ["bash", str(FETCH_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelError(f"{FETCH_SCRIPT} did not run: {exc}") from exc
    if done.returncode != 0:
        raise KernelError(
            f"cannot fetch the guest kernel ({FETCH_SCRIPT} exited {done.returncode}):\n"
            f"{done.stderr.strip()}"
        )
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise KernelError(f"{FETCH_SCRIPT} printed no kernel dir; stderr:\n{done.stderr.strip()}")
    return _tree(Path(lines[-1]))


# Compressed payloads a bzImage may carry, by magic. An uncompressed ELF ``vmlinux`` with a PVH
# entry note boots straight into the kernel (no BIOS real-mode setup, no self-decompression under
# TCG), which halves a guest's wall time.
_XZ_MAGIC = b"\xfd7zXZ\x00"
_GZIP_MAGIC = b"\x1f\x8b\x08"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _decompress_at(image: bytes, offset: int, magic: bytes) -> bytes:
    payload = image[offset:]
    try:
        if magic == _XZ_MAGIC:
            return lzma.LZMADecompressor().decompress(payload)
        if magic == _GZIP_MAGIC:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        done = subprocess.run(["zstd", "-dc"], input=payload, capture_output=True, check=False)
        return done.stdout
    except (lzma.LZMAError, zlib.error, OSError):
        return b""


def extract_vmlinux(vmlinuz: Path) -> bytes | None:
    """The uncompressed ELF kernel inside a bzImage, or None when no payload decompresses to ELF."""
    image = vmlinuz.read_bytes()
    for magic in (_XZ_MAGIC, _GZIP_MAGIC, _ZSTD_MAGIC):
        offset = image.find(magic)
        while offset >= 0:
            elf = _decompress_at(image, offset, magic)
            if elf.startswith(b"\x7fELF"):
                return elf
            offset = image.find(magic, offset + 1)
    return None


def boot_image(tree: KernelTree, cache_dir: Path) -> Path:
    """The image to hand qemu's ``-kernel``: a cached PVH-bootable ``vmlinux`` when the kernel
    supports PVH (``CONFIG_PVH=y``) and its payload can be extracted, else the bzImage itself.

    Raises:
        KernelError: the extracted image cannot be written to ``cache_dir``.
    """
    config = tree.root / "boot" / f"config-{tree.release}"
    if not config.exists() or "\nCONFIG_PVH=y\n" not in config.read_text():
        return tree.vmlinuz
    stamp = hashlib.sha256(tree.vmlinuz.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"vmlinux-{tree.release}-{stamp}"
    if target.exists():
        return target
    elf = extract_vmlinux(tree.vmlinuz)
    if elf is None:
        return tree.vmlinuz
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        partial.write_bytes(elf)
        partial.replace(target)
    except OSError as exc:
        raise KernelError(f"cannot write {target}: {exc}") from exc
    return target
