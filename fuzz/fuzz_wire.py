"""atheris entry point: the 9P decoder (``fuzz._targets.check_wire``).

    python3 fuzz/fuzz_wire.py [libFuzzer flags, e.g. -runs=1000000] [CORPUS_DIR ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["jobd_9p", "fuzz"]):
    from fuzz._targets import check_wire


def main() -> None:
    atheris.Setup(sys.argv, check_wire)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
