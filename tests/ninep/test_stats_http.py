"""``--metrics-addr``: the same text as ``/stats`` over real HTTP, in-process and from ``jobd``."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from _jobd_process import jobd_command
from prometheus_client.parser import text_string_to_metric_families

from jobd_9p._metrics_http import parse_metrics_addr, serve_metrics
from jobd_9p.cli import parse_args
from jobd_core import CoreConfig, OpenMode, open_core


def http_get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


async def test_http_serves_what_stats_shows(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path)) as core, trio.open_nursery() as nursery:
        core.metrics.request_9p("Twalk")
        core.metrics.fire_lateness.observe(0.2)
        bound = await nursery.start(serve_metrics, "127.0.0.1:0", core.metrics)
        assert bound.startswith("127.0.0.1:") and not bound.endswith(":0")
        ctype, body = await trio.to_thread.run_sync(http_get, f"http://{bound}/metrics")
        assert ctype.startswith("text/plain") and "version=0.0.4" in ctype
        stats = core.namespace.root.lookup("stats")
        assert body == (await (await stats.open(OpenMode())).read(0, 1 << 20)).decode()
        assert 'jobd_9p_requests_total{type="Twalk"} 1.0' in body
        assert 'jobd_jobs{state="started"} 0.0' in body
        core.metrics.request_9p("Twalk")  # every scrape is a fresh snapshot
        _, again = await trio.to_thread.run_sync(http_get, f"http://{bound}/")
        assert 'jobd_9p_requests_total{type="Twalk"} 2.0' in again
        nursery.cancel_scope.cancel()
    with pytest.raises(OSError):  # the server is gone with its task
        await trio.to_thread.run_sync(http_get, f"http://{bound}/metrics")


async def test_taken_port_fails_to_start(tmp_path: Path) -> None:
    async with open_core(CoreConfig(dbdir=tmp_path)) as core, trio.open_nursery() as nursery:
        bound = await nursery.start(serve_metrics, "127.0.0.1:0", core.metrics)
        with pytest.raises(OSError):
            await nursery.start(serve_metrics, bound, core.metrics)
        nursery.cancel_scope.cancel()


def test_metrics_addr_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_metrics_addr("127.0.0.1:9164") == ("127.0.0.1", 9164)
    assert parse_metrics_addr("[::1]:0") == ("::1", 0)
    for bad in ("9164", "unix:/x", ":9164", "host:port"):
        with pytest.raises(ValueError):
            parse_metrics_addr(bad)
    with pytest.raises(SystemExit):
        parse_args(["--metrics-addr", "nope"])
    assert "metrics-addr" in capsys.readouterr().err
    assert parse_args(["-metrics_addr=127.0.0.1:1"]).metrics_addr == "127.0.0.1:1"  # Go style


@pytest.fixture
def jobd_json(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    err = tmp_path / "stderr"
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            [*jobd_command(), "--dbdir", str(tmp_path / "db"), "--fsaddr", "127.0.0.1:0",
             "--metrics-addr", "127.0.0.1:0", "--log-format", "json", "--shutdown-grace", "1"],
            stdout=subprocess.DEVNULL, stderr=sink, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield proc, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _records(err: Path) -> list[dict[str, object]]:
    lines = err.read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]  # every line is one object


def _wait_for_message(err: Path, needle: str, proc: subprocess.Popen[bytes]) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for record in _records(err) if err.exists() else []:
            if needle in str(record["message"]):
                return record
        assert proc.poll() is None, err.read_text()
        time.sleep(0.02)  # a real process starting up: no fake clock applies
    raise AssertionError(f"no {needle!r} in {err.read_text()}")


def test_jobd_serves_metrics_over_http_and_logs_json(
    jobd_json: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, err = jobd_json
    record = _wait_for_message(err, "serving metrics at http://", proc)
    assert {"time", "level", "logger", "message"} <= set(record)
    assert record["level"] == "INFO" and record["logger"] == "jobd_9p._metrics_http"
    url = str(record["message"]).split(" at ", 1)[1]
    _, body = http_get(url)
    names = {f.name for f in text_string_to_metric_families(body)}
    assert {"jobd_jobs", "jobd_runs", "jobd_9p_requests", "jobd_fire_lateness_seconds"} <= names
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    records = _records(err)
    assert any(r["message"] == "stopped" for r in records)
    assert all(str(r["time"]).endswith("Z") for r in records)
