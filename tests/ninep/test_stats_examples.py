"""The operator examples stay true: the systemd unit's command line parses, its stop timeout
covers the grace, and the Prometheus snippet scrapes the address the unit serves metrics on."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from jobd_9p.cli import parse_args
from jobd_core import Metrics

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _unit() -> dict[str, str]:
    text = (EXAMPLES / "jobd.service").read_text().replace("\\\n", " ")
    pairs = (line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Za-z]+=", line))
    return dict(pairs)


def test_unit_command_line_parses_and_stop_timeout_covers_the_grace() -> None:
    unit = _unit()
    argv = shlex.split(unit["ExecStart"])
    assert argv[0].endswith("/jobd")
    args = parse_args(argv[1:])
    assert args.fsaddr.startswith("127.0.0.1:") and args.metrics_addr == "127.0.0.1:9164"
    assert unit["KillMode"] == "mixed"  # SIGTERM to jobd alone: the jobs get the grace
    assert float(unit["TimeoutStopSec"]) > args.shutdown_grace + 2
    assert unit["NoNewPrivileges"] == "yes" and unit["ProtectSystem"] in ("full", "strict")
    assert "HUP" in unit["ExecReload"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_has_no_unknown_keys(tmp_path: Path) -> None:
    unit = tmp_path / "jobd.service"
    unit.write_text((EXAMPLES / "jobd.service").read_text().replace("/usr/local/bin/jobd",
                                                                       "/bin/true"))  # fmt: skip
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert "Unknown" not in result.stderr and result.returncode == 0, result.stderr


def test_prometheus_snippet_scrapes_the_units_address_and_names_real_metrics() -> None:
    text = (EXAMPLES / "prometheus.yml").read_text()
    live = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert re.search(r"^scrape_configs:\n  - job_name: jobd$", live, re.M)
    assert re.findall(r'targets: \["([^"]+)"\]', live) == [_unit_metrics_addr()]
    documented = set(re.findall(r"\b(jobd_[a-z0-9_]+)", text))
    exposed = {s.name for f in Metrics().families() for s in f.samples}
    exposed |= {f.name for f in Metrics().families()} | {"jobd_jobs", "jobd_jobs_running"}
    assert documented <= exposed, documented - exposed


def _unit_metrics_addr() -> str:
    argv = shlex.split(_unit()["ExecStart"])
    return str(argv[argv.index("--metrics-addr") + 1])
