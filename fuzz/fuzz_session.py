"""atheris entry point: request sequences against sessions over a real core
(``fuzz._targets.SessionTarget``).

    python3 fuzz/fuzz_session.py [libFuzzer flags, e.g. -runs=1000000] [CORPUS_DIR ...]
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
    atheris.Setup(sys.argv, target.check)
    try:
        atheris.Fuzz()
    finally:
        target.close()


if __name__ == "__main__":
    main()
