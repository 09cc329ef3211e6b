"""Mount lifecycle: check the mountpoint, mount, serve inside the caller's trio loop, unmount.

Rules this module keeps:
1. pyfuse3 holds one global session: one mount per process. ``serve_fuse`` owns it from
   ``pyfuse3.init`` to ``pyfuse3.close`` and always closes it (unmounting) on the way out,
   whether it ends by cancellation, by an error or by an external ``fusermount3 -u``.
2. Nothing in this process may touch the mountpoint from the trio thread while the mount is
   served: the request would wait for the very loop it blocks.
3. A stale mount (the daemon died without unmounting: "Transport endpoint is not connected") is
   detected before mounting and lazily unmounted, or the start fails naming the fix.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import shutil
import stat as stat_mod
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pyfuse3
import trio

from ._operations import JobdOperations, NamespaceLike

logger = logging.getLogger(__name__)

FSNAME = "jobd"


class MountError(Exception):
    """The mountpoint cannot be used; the message says what to do about it."""


class MountFailed(MountError):
    """libfuse refused to mount (bad option, no /dev/fuse, not permitted)."""


def mount_options(
    extra: Iterable[str] = (), *, allow_other: bool = False, debug: bool = False
) -> set[str]:
    """The libfuse options of a jobd mount.

    ``default_permissions`` lets the kernel enforce the mode bits jobd reports, so that with
    ``allow_other`` other users can read jobs but cannot create or control them (a job runs
    commands as jobd's user).
    """
    options = {f"fsname={FSNAME}", "subtype=jobd", "default_permissions"}
    options.update(o for o in extra if o)
    if allow_other:
        options.add("allow_other")
    if debug:
        options.add("debug")
    return options


def _fusermount() -> str:
    return shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount3"


def _lazy_unmount(mountpoint: Path) -> None:
    result = subprocess.run(
        [_fusermount(), "-u", "-z", str(mountpoint)],
        capture_output=True, text=True, check=False, timeout=30,
    )
    if result.returncode != 0:
        raise MountError(
            f"{mountpoint}: stale FUSE mount (transport endpoint is not connected) and lazy "
            f"unmount failed: {result.stderr.strip()}; run `fusermount3 -u {mountpoint}`"
        )


def check_mountpoint(mountpoint: Path, *, recover: bool = True) -> None:
    """Make sure ``mountpoint`` is an empty-or-not directory nothing is mounted on.

    A stale FUSE mount left by a crash is lazily unmounted when ``recover`` is true.

    Raises:
        MountError: missing, not a directory, already mounted, or stale and not recovered.
    """
    try:
        _probe(mountpoint)
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            raise MountError(f"{mountpoint}: {exc.strerror}") from None
        if not recover:
            raise MountError(
                f"{mountpoint}: stale FUSE mount (transport endpoint is not connected); "
                f"run `fusermount3 -u {mountpoint}` first"
            ) from None
        logger.warning("%s: stale FUSE mount found; unmounting it lazily", mountpoint)
        _lazy_unmount(mountpoint)
    st = os.stat(mountpoint)
    if not stat_mod.S_ISDIR(st.st_mode):
        raise MountError(f"{mountpoint}: not a directory")
    if os.path.ismount(mountpoint):
        raise MountError(
            f"{mountpoint}: something is already mounted here; "
            f"unmount it first (`fusermount3 -u {mountpoint}` or `umount {mountpoint}`)"
        )


def _probe(mountpoint: Path) -> None:
    """Touch the mountpoint in a way no kernel cache answers: a dead FUSE daemon's mount fails
    with ENOTCONN here even while its attributes are still cached (``stat`` may succeed)."""
    os.stat(mountpoint)
    os.statvfs(mountpoint)


async def serve_fuse(
    namespace: NamespaceLike,
    mountpoint: Path | str,
    *,
    options: set[str] | None = None,
    recover_stale: bool = True,
    task_status: trio.TaskStatus[JobdOperations] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Mount ``namespace`` at ``mountpoint`` and serve it until cancelled or unmounted.

    Runs in the caller's trio loop (start it with ``nursery.start``: it reports started, with
    the operations object, once the kernel has the mount). Returns when the file system is
    unmounted from outside; on cancellation it unmounts and re-raises.

    Raises:
        MountError: the mountpoint is unusable (see ``check_mountpoint``).
        MountFailed: libfuse refused to mount (bad options, no /dev/fuse, ...).
    """
    path = Path(mountpoint).absolute()
    # In a thread: stat of a hung mount, or fusermount3, must not stall the loop the core runs on.
    await trio.to_thread.run_sync(functools.partial(check_mountpoint, path, recover=recover_stale))
    ops = JobdOperations(namespace)
    try:
        pyfuse3.init(ops, str(path), options if options is not None else mount_options())
    except RuntimeError as exc:  # libfuse has already said why on stderr
        raise MountFailed(str(exc)) from None
    logger.info("mounted jobd at %s", path, extra={"mountpoint": str(path)})
    try:
        task_status.started(ops)
        await pyfuse3.main()
        logger.info("%s was unmounted", path)
    finally:
        with trio.CancelScope(shield=True):
            await ops.close_all()
        pyfuse3.close(unmount=True)
        logger.info("FUSE session at %s closed", path)
