"""The guest kernel: Debian's stock ``linux-image-*-amd64``, fetched once into a cache dir.

Never into /boot.
``tools/fetch-guest-kernel.sh`` does the fetching (``apt-get download`` + ``dpkg-deb -x``); this
module finds its result, runs it when the cache is empty, and fails with the script's reason when it
cannot.
"""

from __future__ import annotations

import os
import subprocess
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
