"""The benchmark suite runs (``python3 -m bench --quick``: tiny sizes) and writes its table.

Only that it runs: no figure is checked against a target here (benchmarks are never pass/fail
tests; speed is reported by the full ``python3 -m bench`` run in bench/RESULTS.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COLUMNS = "| # | measurement | jobd | reference | ratio | target | met? |"


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    return done, out.read_text() if out.exists() else ""


def _numbers(text: str) -> list[int]:
    return [
        int(line.split("|")[1])
        for line in text.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]


@pytest.mark.timeout(300)
def test_every_measurement_runs_on_tiny_sizes(tmp_path: Path) -> None:
    done, text = _bench(tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert COLUMNS in text and COLUMNS in done.stdout
    assert _numbers(text) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "cores" in text and "Python 3." in text
    assert "Failed to run" not in text


def test_only_runs_the_measurements_asked_for(tmp_path: Path) -> None:
    done, text = _bench(tmp_path, "--only", "2")
    assert done.returncode == 0, done.stderr[-4000:]
    assert _numbers(text) == [2]


def test_only_rejects_an_unknown_measurement(tmp_path: Path) -> None:
    done, _ = _bench(tmp_path, "--only", "9")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
