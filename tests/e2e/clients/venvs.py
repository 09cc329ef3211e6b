"""One virtual environment per third-party 9P client library, made once per machine.

p9fs bundles its own top-level module named ``py9p``, which would shadow python-9p (the ``py9p``
that jobctl uses) in the system interpreter; pyroute2 gets its own environment too, so neither
touches the project's packages. They live under ``$JOBD_CLIENTS_CACHE`` or
``~/.cache/jobd-clients`` and are made with ``python -m venv`` and ``pip install`` from the
package index (reachable in CI). A failure raises ``ClientVenvError`` with pip's output: the
tests fail loudly, they never skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

INSTALL_TIMEOUT = 900.0


@dataclass(frozen=True)
class ClientLib:
    name: str
    requirement: str  # pinned: the quirks the drivers document are this version's
    probe: str  # python that must run in the environment once it is made


P9FS = ClientLib("p9fs", "p9fs==0.0.4", "import p9fs, py9p.py9p")
PYROUTE2 = ClientLib("pyroute2", "pyroute2==0.9.7", "import pyroute2.plan9.client")


class ClientVenvError(RuntimeError):
    """The environment of a client library could not be made."""


def cache_dir() -> Path:
    return Path(os.environ.get("JOBD_CLIENTS_CACHE") or Path.home() / ".cache" / "jobd-clients")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ClientVenvError(f"{what}: {e}") from e
    if done.returncode != 0:
        raise ClientVenvError(
            f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def client_python(lib: ClientLib) -> Path:
    """The python of ``lib``'s environment, made (once, under a lock) if needed.

    Raises:
        ClientVenvError: venv creation, the pip install or the import probe failed.
    """
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    venv = root / f"{lib.name}-venv"
    python = venv / "bin" / "python"
    stamp = venv / "jobd-client-ok"
    with (root / f"{lib.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test processes must not build it at once
        if stamp.exists() and stamp.read_text() == lib.requirement and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], f"creating the {lib.name} venv")
        _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
              lib.requirement], f"pip install {lib.requirement}")  # fmt: skip
        _run([str(python), "-c", lib.probe], f"importing {lib.name} in its venv")
        stamp.write_text(lib.requirement)
    return python
