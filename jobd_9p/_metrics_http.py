"""``--metrics-addr``: the core's metrics over HTTP for Prometheus, served by prometheus-client.

Rules this module keeps:
1. The text is the same as ``/stats``: a prometheus-client ``Collector`` turns the core's
   ``Family`` snapshot into metric families, and nothing else is registered (no process or
   platform collectors), so both read the same names and values.
2. prometheus-client serves from its own thread; the snapshot is taken on the trio thread
   (``trio.from_thread.run_sync``), because the counters are only ever touched there.
3. The HTTP server lives exactly as long as the task that started it: cancelled, it shuts down and
   its thread is joined (off the event loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import trio
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from jobd_core import Family, Metrics

from .server import parse_fsaddr

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["CoreCollector", "parse_metrics_addr", "serve_metrics"]

logger = logging.getLogger(__name__)


def parse_metrics_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; port 0 picks one) -> (host, port).

    Raises:
        ValueError: not ``HOST:PORT``.
    """
    parsed = parse_fsaddr(text)
    if isinstance(parsed, str) or not parsed[0]:
        raise ValueError(f"bad --metrics-addr {text!r}: expected HOST:PORT")
    return parsed


def to_prometheus(family: Family) -> Metric:
    """A prometheus-client metric family with ``family``'s samples (a counter's family name
    loses its ``_total``: prometheus-client adds it back when it writes)."""
    name = family.name.removesuffix("_total") if family.kind == "counter" else family.name
    metric = Metric(name, family.help, family.kind)
    for sample in family.samples:
        metric.add_sample(sample.name, dict(sample.labels), sample.value)
    return metric


class CoreCollector(Collector):
    """Collects ``metrics`` through the trio thread that owns it."""

    def __init__(self, metrics: Metrics, token: trio.lowlevel.TrioToken) -> None:
        self._metrics = metrics
        self._token = token

    def collect(self) -> Iterator[Metric]:
        try:
            families = trio.from_thread.run_sync(self._metrics.families, trio_token=self._token)
        except trio.RunFinishedError:
            return  # jobd is shutting down: an empty scrape
        for family in families:
            yield to_prometheus(family)


async def serve_metrics(
    addr: str, metrics: Metrics, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``metrics`` at ``http://addr/metrics`` (any path answers) until cancelled;
    ``task_status.started`` gets the bound ``host:port``.

    Raises:
        ValueError: a malformed ``addr``.
        OSError: the address cannot be bound.
    """
    host, port = parse_metrics_addr(addr)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CoreCollector(metrics, trio.lowlevel.current_trio_token()))
    server, thread = await trio.to_thread.run_sync(
        lambda: start_http_server(port, addr=host, registry=registry)
    )
    try:
        bound = _bound(server, host)
        logger.info("serving metrics at http://%s/metrics", bound)
        task_status.started(bound)
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_stop, server, thread)


def _bound(server: WSGIServer, host: str) -> str:
    port = server.server_address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _stop(server: WSGIServer, thread: object) -> None:
    server.shutdown()
    server.server_close()
    join = getattr(thread, "join", None)
    if join is not None:
        join(5.0)
