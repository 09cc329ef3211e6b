"""Fixtures for the end-to-end tests: the qemu guest (``guest``, ``guest_kernel``) and ``jobd``s.

``jobd_server`` starts the ``jobd`` command as a subprocess on ``127.0.0.1:0`` with a fresh dbdir
and yields its port; ``jobd_factory()`` starts one more each call (two guests running the same
scenario list at once need a server each: the scenarios' job names are fixed). At teardown each
gets SIGTERM and the test fails unless it exits 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _jobd_process import JobdProcess
from guest.fixtures import guest, guest_kernel

__all__ = ["guest", "guest_kernel", "jobd_factory", "jobd_process", "jobd_server"]


@pytest.fixture
def jobd_factory(tmp_path: Path) -> Iterator[Callable[[], JobdProcess]]:
    """``start()`` runs one more ``jobd`` (address in ``.addr``, output in ``.log_text()``)."""
    started: list[JobdProcess] = []

    def start() -> JobdProcess:
        n = len(started)
        proc = JobdProcess(tmp_path / f"jobd{n}" / "db", tmp_path / f"jobd{n}.log")
        proc.dbdir.parent.mkdir()
        started.append(proc)
        proc.start()
        return proc

    try:
        yield start
    finally:
        bad = [(proc, proc.stop()) for proc in started]
    bad = [(proc, status) for proc, status in bad if status != 0]
    if bad:
        pytest.fail("\n".join(f"jobd exited {status} on SIGTERM:\n{proc.log_text()[-4000:]}"
                              for proc, status in bad), pytrace=False)  # fmt: skip


@pytest.fixture
def jobd_process(jobd_factory: Callable[[], JobdProcess]) -> JobdProcess:
    """A running ``jobd`` subprocess (address in ``.addr``, output in ``.log_text()``)."""
    return jobd_factory()


@pytest.fixture
def jobd_server(jobd_process: JobdProcess) -> int:
    """The port of a running ``jobd`` on 127.0.0.1 (stopped with SIGTERM, must exit 0)."""
    return jobd_process.port
