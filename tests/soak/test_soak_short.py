"""The one-minute soak (CI): 200 jobs firing every second for 60 s while 2 clients list and read.

The same engine and checks as ``bench/soak.py`` (loaded from that file): fds and threads flat
after the warm-up, RSS growth within a generous bound, no zombie child, every fire accounted
for by the overlap policy (runs + skipped + missed = instants started). Behaviour, not speed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jobd_bench_soak", ROOT / "bench" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def test_one_minute_soak(tmp_path: Path) -> None:
    soak = load_soak()
    config = soak.SoakConfig(
        jobs=200, seconds=60.0, clients=2, sample_every=3.0, warmup=15.0,
        rss_growth_kib=32 * 1024, fd_growth=8, thread_growth=4,
    )  # fmt: skip
    report = await soak.run_soak(config, tmp_path)
    print("\n" + report.table())
    assert report.runs > 0.9 * 200 * 60
    assert not report.problems, report.table()
