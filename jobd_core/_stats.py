"""``/stats``: the process's metrics as a read-only file (Prometheus text format 0.0.4).

Rules this module keeps:
1. Each open takes one snapshot (``Metrics.render()``): a reader in several chunks sees one
   consistent exposition. ``stat()`` renders too, so the size is the true length now.
2. An open that follows a ``stat()`` within ``STAT_REUSE`` seconds serves the very bytes that
   ``stat()`` measured: a client that stats, opens and reads up to the size it was told (Linux)
   gets the whole text, though its own stat and open requests changed the counts in between.
3. The jobs-by-state gauges are computed from the registry when collected, never kept in step.
"""

from __future__ import annotations

import time
import zlib
from functools import partial
from typing import TYPE_CHECKING

from ._errors import AccessDenied
from ._handles import SnapshotHandle
from ._metrics import Family, Metrics, Sample, gauge_family
from ._node import Handle, Kind, Node, OpenMode, Stat

if TYPE_CHECKING:
    from ._registry import Registry
    from ._tree import Namespace

STATS_ID = 4
STAT_REUSE = 1.0  # seconds an open may serve the bytes the last stat() measured


def job_families(registry: Registry) -> list[Family]:
    """``jobd_jobs{state=...}`` and ``jobd_jobs_running`` from the registry as it is now."""
    started = stopped = running = 0
    for entry in registry.entries.values():
        job = entry.job
        if job.started:
            started += 1
        else:
            stopped += 1
        if job.runtime.running_pid is not None:
            running += 1
    states = {"started": float(started), "stopped": float(stopped)}
    return [
        gauge_family("jobd_jobs", "Jobs by state.", "state", states),
        Family(
            "jobd_jobs_running", "gauge", "Jobs with a run in progress.",
            (Sample("jobd_jobs_running", (), float(running)),),
        ),
    ]


def core_metrics(registry: Registry) -> Metrics:
    """A fresh ``Metrics`` whose collection includes the registry's jobs by state."""
    metrics = Metrics()
    metrics.add_collector(partial(job_families, registry))
    return metrics


class StatsFile(Node):
    """``/stats``: read-only; every open is a snapshot of ``metrics``."""

    def __init__(self, ns: Namespace, metrics: Metrics) -> None:
        self.ns = ns
        self.metrics = metrics
        self.id = STATS_ID
        self.name = "stats"
        self.kind = Kind.FILE
        self._measured: tuple[float, bytes] | None = None  # (monotonic time, bytes) of stat()

    def content(self) -> bytes:
        """The exposition as a read at offset 0 would return it now."""
        return self.metrics.render().encode()

    def stat(self) -> Stat:
        data = self.content()
        self._measured = (time.monotonic(), data)
        return self.ns.make_stat(
            self, mode=0o444, size=len(data), version=zlib.crc32(data),
            mtime_ns=self.ns.registry.now_ns(),
        )

    def parent(self) -> Node:
        return self.ns.root

    async def open(self, mode: OpenMode) -> Handle:
        if mode.write or mode.truncate:
            raise AccessDenied(f"{self.name}: read-only")
        return SnapshotHandle(mode, self.name, self._snapshot() if mode.read else b"")

    def _snapshot(self) -> bytes:
        measured, self._measured = self._measured, None
        if measured is not None and time.monotonic() - measured[0] < STAT_REUSE:
            return measured[1]
        return self.content()
