"""Drive jobd with p9fs (fsspec over 9P) — run with the p9fs virtual environment's python.

    p9fs_driver.py HOST:PORT VERSION [STEP ...]

VERSION is p9fs's: ``9P2000.L`` (its default), ``9P2000.u`` or ``9P2000``. p9fs bundles its own
module named ``py9p`` (not python-9p), hence its own environment. Prints ``PASS``/``FAIL`` lines
and ``DONE`` (see ``steps.py``).

p9fs quirks met here (p9fs's bugs, not jobd's; no server-side workaround, a real server acts alike):
- On 9P2000/.u every write first sends Tcreate of the file, which fails on an existing file
  (create(5)); so p9fs cannot write an existing file there, and the writing steps run on .L only.
- ``rm`` sends Tunlinkat without AT_REMOVEDIR for a directory on .L, which unlinkat(2) refuses
  with EISDIR; jobs are deleted with the ``delete`` verb instead.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from p9fs import P9FileSystem  # type: ignore[import-not-found]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import ClientError, run_steps


def _client_error(e: Exception) -> ClientError:
    (arg,) = e.args or (None,)
    if isinstance(arg, int):
        return ClientError(arg, None)  # .u/.L: Rlerror / Rerror's errno
    if isinstance(arg, bytes):
        return ClientError(None, arg.decode(errors="replace"))  # 9P2000: the text
    if "P9FileNotFound" in type(e).__name__:
        return ClientError(errno.ENOENT, str(arg))
    return ClientError(None, str(arg))


class P9fsFS:
    def __init__(self, host: str, port: int, version: str) -> None:
        self.fs = P9FileSystem(host=host, port=port, username="root", version=version)

    def ls(self, path: str) -> list[str]:
        try:
            names = self.fs.ls(path, detail=False)
        except Exception as e:
            raise _client_error(e) from e
        # p9fs gives "jobs/x/" on .L and "/jobs/x/" on 9P2000/.u
        return sorted(n.rstrip("/").rsplit("/", 1)[-1] for n in names)

    def read(self, path: str) -> bytes:
        try:
            data: bytes = self.fs.cat_file(path)
        except Exception as e:
            raise _client_error(e) from e
        return data

    def write(self, path: str, data: bytes) -> None:
        try:
            with self.fs.open(path, "wb") as f:
                f.write(data)
        except Exception as e:
            raise _client_error(e) from e

    def size(self, path: str) -> int:
        try:
            return int(self.fs.info(path)["size"])
        except Exception as e:
            raise _client_error(e) from e


def main(argv: list[str]) -> int:
    host, _, port = argv[1].rpartition(":")
    fs = P9fsFS(host, int(port), argv[2])
    lines = run_steps(fs, argv[3:] or None)
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
