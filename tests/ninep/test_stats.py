"""``/stats`` over 9P with the real core and server: requests and errors by type, connections,
``jobctl stats``, and refused requests logged once with their reason."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import py9p
import pytest
import trio
from _inproc import Served, jobd
from prometheus_client.parser import text_string_to_metric_families

from jobd_9p import jobctl
from jobd_9p.client import Client, RemoteError

Values = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def values(text: str) -> Values:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with jobd(tmp_path / "db") as s:
        yield s


def _jobctl(addr: str, *argv: str) -> str:
    out = io.StringIO()
    assert jobctl.run(["--addr", addr, *argv], out) == 0
    return out.getvalue()


async def test_jobctl_stats_counts_requests_errors_and_connections(served: Served) -> None:
    addr = served.addr
    await trio.to_thread.run_sync(_jobctl, addr, "add", "a", "0 0 1 1 *", "true")
    with pytest.raises(jobctl.CommandError):
        await trio.to_thread.run_sync(_jobctl, addr, "cat", "nope", "cmd")  # walk fails
    text = await trio.to_thread.run_sync(_jobctl, addr, "stats")
    v = values(text)
    # three jobctl connections so far, each: Tversion, Tattach, ...; the third is still open
    assert v[("jobd_9p_connections_accepted_total", ())] == 3
    assert v[("jobd_9p_connections_open", ())] == 1
    assert v[("jobd_9p_requests_total", (("type", "Tversion"),))] == 3
    assert v[("jobd_9p_requests_total", (("type", "Topen"),))] == 2  # add's, and this one's
    assert v[("jobd_9p_requests_total", (("type", "Twrite"),))] == 1
    assert ("jobd_9p_requests_total", (("type", "Tread"),)) not in v  # the snapshot: at open
    assert v[("jobd_9p_errors_total", (("type", "Twalk"),))] >= 1
    assert ("jobd_9p_errors_total", (("type", "Tversion"),)) not in v
    assert v[("jobd_jobs", (("state", "stopped"),))] == 1
    await trio.testing.wait_all_tasks_blocked()
    assert served.core.metrics.connections_9p.value == 0  # every connection closed again


async def test_stats_over_dotl_is_sized_read_only_and_listed(served: Served) -> None:
    client = await Client.connect(served.addr)
    try:
        root, _ = await client.attach()
        dirfid, _ = await client.walk(root, [])
        await client.lopen(dirfid, 0)
        names = [d.name for d in await client.readdir_all(dirfid)]
        fid, _ = await client.walk(root, ["stats"])
        attr = await client.getattr(fid)
        await client.lopen(fid, 0)  # O_RDONLY
        data = await client.read_all(fid)
        assert data.startswith(b"# HELP ")
        assert attr.size == len(data)  # the stat's bytes, though Tlopen was counted since
        fid2, _ = await client.walk(root, ["stats"])
        with pytest.raises(RemoteError):
            await client.lopen(fid2, 1)  # O_WRONLY
    finally:
        await client.aclose()
    assert "stats" in names


@pytest.mark.parametrize(
    ("action", "level", "needle"),
    [
        (lambda c: c.write_file("jobs/a/log", b"x"), logging.INFO, "read-only"),
        (lambda c: c.write_file("clone", b"bad name:0 0 1 1 *:true"), logging.WARNING,
         "invalid"),
        (lambda c: c.read_file("jobs/nope/cmd"), logging.DEBUG, "nope"),
    ],
)
async def test_refused_requests_are_logged_once_with_their_reason(
    served: Served, caplog: pytest.LogCaptureFixture, action: object, level: int, needle: str
) -> None:
    await trio.to_thread.run_sync(_jobctl, served.addr, "add", "a", "0 0 1 1 *", "true")
    caplog.set_level(logging.DEBUG, logger="jobd_9p")
    caplog.clear()

    def run() -> None:
        conn = jobctl.Connection.open(jobctl.parse_addr(served.addr))
        try:
            with pytest.raises(py9p.RemoteError):
                action(conn)  # type: ignore[operator]
        finally:
            conn.close()

    await trio.to_thread.run_sync(run)
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    record = refusals[0]
    assert record.levelno == level and needle in record.getMessage().lower()
    assert record.request in ("Twalk", "Topen", "Twrite", "Tcreate")  # type: ignore[attr-defined]
    assert isinstance(record.errno, int)  # type: ignore[attr-defined]
