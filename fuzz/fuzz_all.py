"""atheris entry point for CI's short bounded pass: one process (one start-up) fuzzing all three
targets, the first byte of each input choosing the decoder, a session or a server connection.

    python3 fuzz/fuzz_all.py -max_total_time=10
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["jobd_9p", "jobd_core", "fuzz"]):
    from fuzz._targets import SessionTarget, check_wire


def main() -> None:
    target = SessionTarget()

    def one(data: bytes) -> None:
        if not data:
            return
        kind, rest = data[0] % 3, data[1:]
        if kind == 0:
            check_wire(rest)
        elif kind == 1:
            target.check(rest)
        else:
            target.check_server(rest)

    atheris.Setup(sys.argv, one)
    try:
        atheris.Fuzz()
    finally:
        target.close()


if __name__ == "__main__":
    main()
