"""atheris entry point: raw bytes into a real server connection over a real core
(``fuzz._targets.SessionTarget.check_server``): the server never dies, whatever a client sends.

    python3 fuzz/fuzz_server.py [libFuzzer flags, e.g. -runs=100000] [CORPUS_DIR ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["jobd_9p", "jobd_core", "fuzz"]):
    from fuzz._targets import SessionTarget


def main() -> None:
    target = SessionTarget()
    atheris.Setup(sys.argv, target.check_server)
    try:
        atheris.Fuzz()
    finally:
        target.close()


if __name__ == "__main__":
    main()
