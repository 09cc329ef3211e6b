"""Fixtures: real FUSE mounts served by ``jobd-fuse`` subprocesses, never left mounted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fuse_daemon import DaemonFactory, FuseDaemon


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[DaemonFactory]:
    """Factory: ``make_daemon(*args, mountpoint=None, dbdir=None)`` -> a started ``FuseDaemon``."""
    daemons: list[FuseDaemon] = []

    def make(*args: str, mountpoint: Path | None = None, dbdir: Path | None = None,
             wait: bool = True) -> FuseDaemon:
        n = len(daemons)
        mnt = mountpoint
        if mnt is None:
            mnt = tmp_path / f"mnt{n}"
            mnt.mkdir()
        daemon = FuseDaemon(mnt, dbdir or tmp_path / "db", tmp_path / f"jobd-fuse{n}.log",
                            list(args))
        daemons.append(daemon)
        return daemon.start(wait=wait)

    try:
        yield make
    finally:
        for daemon in daemons:
            daemon.cleanup()
    problems = [line for d in daemons for line in d.unexpected_log_errors()]
    if problems:
        pytest.fail("jobd-fuse logged errors:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def fuse(make_daemon: DaemonFactory) -> FuseDaemon:
    """A running ``jobd-fuse MNT --dbdir TMP --no-9p``."""
    return make_daemon("--no-9p")
