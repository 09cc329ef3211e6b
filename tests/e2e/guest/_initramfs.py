"""The guest's initramfs: a cached base image (busybox, modules, /init, users) + a per-run archive.

The base depends only on the kernel, the host's busybox and this package's files, so it is built
once and kept in the cache dir under a content hash. Each run appends its own archive (the script,
its environment and any extra files); the kernel unpacks concatenated archives in order, later files
replacing earlier ones.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from . import _cpio, _modules

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent

# Users of the guest. root runs the script; the others exist so a script can act as a second local
# user (``as-user alice 'cat /mnt/x'``), which makes the kernel's 9P client attach again with that
# uid.
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "alice:x:1000:1000:alice:/tmp:/bin/sh\n"
    "bob:x:1001:1001:bob:/tmp:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
)
GROUP = "root:x:0:\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InitramfsError(Exception):
    """The base image cannot be built (no static busybox, a module missing, ...)."""


def find_static_busybox() -> Path:
    """The host's busybox binary, checked to be statically linked (it runs alone in the guest).

    Raises:
        InitramfsError: there is no busybox, or it is dynamically linked (install
        ``busybox-static``).
    """
    found = shutil.which("busybox") or "/bin/busybox"
    path = Path(found)
    try:
        elf = path.read_bytes()
    except OSError as exc:
        raise InitramfsError(f"no busybox ({exc}); install Debian's busybox-static") from exc
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise InitramfsError(f"{path} is not a 64-bit ELF binary")
    phoff = struct.unpack_from("<Q", elf, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    pt_interp = 3
    for i in range(phnum):
        if struct.unpack_from("<I", elf, phoff + i * phentsize)[0] == pt_interp:
            raise InitramfsError(f"{path} is dynamically linked; install Debian's busybox-static")
    return path


def _applet_links(busybox: Path) -> list[_cpio.Entry]:
    try:
        listing = subprocess.run(
            [str(busybox), "--list-full"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InitramfsError(f"{busybox} --list-full failed: {exc}") from exc
    links = [_cpio.symlink(p, "/bin/busybox") for p in listing.split() if p != "bin/busybox"]
    return links


def _base_entries(modules_dir: Path, busybox: Path) -> list[_cpio.Entry]:
    try:
        modules = _modules.resolve(modules_dir)
    except _modules.ModuleError as exc:
        raise InitramfsError(str(exc)) from exc
    entries = [_cpio.directory(d) for d in ("proc", "sys", "dev", "tmp", "mnt", "run", "etc")]
    entries += [
        _cpio.directory("root", 0o700),
        _cpio.char_device("dev/console", 5, 1),
        _cpio.file("bin/busybox", busybox.read_bytes(), 0o755),
        *_applet_links(busybox),
        _cpio.file("init", (_HERE / "init.sh").read_bytes(), 0o755),
        _cpio.file("bin/as-user", (_HERE / "as-user.sh").read_bytes(), 0o755),
        _cpio.file("bin/mount9p", (_HERE / "mount9p.sh").read_bytes(), 0o755),
        _cpio.file("etc/passwd", PASSWD.encode()),
        _cpio.file("etc/group", GROUP.encode()),
        _cpio.file("etc/guest-modules", "".join(f"{n}\n" for n, _ in modules).encode()),
    ]
    entries += [_cpio.file(f"lib/modules/guest/{n}.ko", elf) for n, elf in modules]
    return entries


def _fingerprint(kernel_dir: Path, busybox: Path) -> str:
    digest = hashlib.sha256()
    for part in (
        kernel_dir / ".complete",
        busybox,
        *sorted(_HERE.glob("*.sh")),
        Path(__file__),
        Path(_cpio.__file__),
        Path(_modules.__file__),
    ):
        digest.update(part.read_bytes())
    return digest.hexdigest()[:16]


def build_base(kernel_dir: Path, modules_dir: Path, cache_dir: Path) -> Path:
    """The cached base image for this kernel, building it first if needed.

    Raises:
        InitramfsError: busybox or a module is missing, or the image cannot be written.
    """
    busybox = find_static_busybox()
    target = cache_dir / f"initramfs-{_fingerprint(kernel_dir, busybox)}.cpio"
    if target.exists():
        return target
    image = _cpio.archive(_base_entries(modules_dir, busybox))
    try:
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".initramfs-")
        with os.fdopen(fd, "wb") as out:
            out.write(image)
        os.replace(tmp, target)
    except OSError as exc:
        raise InitramfsError(f"cannot write {target}: {exc}") from exc
    log.info("built guest initramfs", extra={"path": str(target), "size": len(image)})
    for stale in cache_dir.glob("initramfs-*.cpio"):
        if stale != target:
            stale.unlink(missing_ok=True)  # built by an older harness; rebuilt if it comes back
    return target


def run_archive(script: str, env: Mapping[str, str], extra_files: Mapping[str, bytes]) -> bytes:
    """The per-run archive: ``/run/jobd/script.sh``, ``/run/jobd/env`` and ``extra_files``.

    Extra files get mode 0755.

    Raises:
        ValueError: an extra file's path is empty or climbs out with ``..``, or a variable name is
            not a shell identifier.
    """
    bad = [name for name in env if not _IDENTIFIER.fullmatch(name)]
    if bad:
        raise ValueError(f"not shell variable names: {bad}")
    env_text = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    entries = [
        _cpio.file("run/jobd/script.sh", script.encode(), 0o755),
        _cpio.file("run/jobd/env", env_text.encode()),
    ]
    entries += [_cpio.file(path, data, 0o755) for path, data in extra_files.items()]
    return _cpio.archive(entries)
