"""The metrics registry: counters, gauges, histograms, and text identical to prometheus-client's."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from jobd_core import Family, Metrics, metrics_of, render_families
from jobd_core._metrics import Counter, Histogram, go_float


class _Families:
    """A prometheus-client collector over jobd families (what the HTTP exporter does)."""

    def __init__(self, families: list[Family]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        out = []
        for fam in self.families:
            name = fam.name.removesuffix("_total") if fam.kind == "counter" else fam.name
            metric = Metric(name, fam.help, fam.kind)
            for s in fam.samples:
                metric.add_sample(s.name, dict(s.labels), s.value)
            out.append(metric)
        return out


def prometheus_text(families: list[Family]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def busy_metrics() -> Metrics:
    m = Metrics()
    m.runs.inc()
    m.runs.inc()
    m.run_failed("exit 3")
    m.run_failed("killed by SIGTERM")
    m.run_failed("failed: internal error")
    assert m.run_failed("timed out") == "timeout"
    m.fires_missed.inc(amount=4)
    for value in (0.001, 0.02, 0.02, 3.0, 1e6):
        m.fire_lateness.observe(value)
    m.request_9p("Twalk")
    m.request_9p("Tversion")
    m.error_9p("Twalk")
    m.connection_opened()
    m.connection_opened()
    m.connection_closed()
    m.connection_refused("limit")
    m.fuse_operation("lookup")
    m.fuse_operation("write", failed=True)
    m.requests_9p.inc('we"ird\\\nlabel')
    return m


def test_render_is_what_prometheus_client_writes() -> None:
    m = busy_metrics()
    families = m.families()
    assert m.render() == render_families(families) == prometheus_text(families)
    assert Metrics().render() == prometheus_text(Metrics().families())


def test_exposition_parses_with_every_name_and_value() -> None:
    text = busy_metrics().render()
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    names = {
        "jobd_runs", "jobd_run_failures", "jobd_job_timeouts", "jobd_fires_skipped",
        "jobd_fires_missed", "jobd_fire_lateness_seconds", "jobd_9p_requests",
        "jobd_9p_errors", "jobd_9p_connections_open", "jobd_9p_connections_accepted",
        "jobd_9p_connections_refused",
        "jobd_fuse_operations", "jobd_fuse_errors",
    }  # fmt: skip
    assert names <= set(parsed)
    assert len(parsed) == len(busy_metrics().families())  # no two families share a name
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in parsed.values()
        for s in fam.samples
    }
    assert values[("jobd_runs_total", ())] == 2
    assert values[("jobd_job_timeouts_total", ())] == 0  # present before any timeout
    assert values[("jobd_run_failures_total", (("reason", "exit"),))] == 1
    assert values[("jobd_run_failures_total", (("reason", "signal"),))] == 1
    assert values[("jobd_run_failures_total", (("reason", "internal"),))] == 1
    assert values[("jobd_run_failures_total", (("reason", "timeout"),))] == 1
    assert values[("jobd_fires_missed_total", ())] == 4
    assert values[("jobd_9p_requests_total", (("type", "Twalk"),))] == 1
    assert values[("jobd_9p_requests_total", (("type", 'we"ird\\\nlabel'),))] == 1
    assert values[("jobd_9p_errors_total", (("type", "Twalk"),))] == 1
    assert values[("jobd_9p_connections_open", ())] == 1
    assert values[("jobd_9p_connections_accepted_total", ())] == 2
    assert values[("jobd_fuse_errors_total", (("op", "write"),))] == 1
    le = "jobd_fire_lateness_seconds_bucket"
    assert values[(le, (("le", "0.005"),))] == 1
    assert values[(le, (("le", "0.025"),))] == 3
    assert values[(le, (("le", "5.0"),))] == 4
    assert values[(le, (("le", "60.0"),))] == 4
    assert values[(le, (("le", "+Inf"),))] == 5
    assert values[("jobd_fire_lateness_seconds_count", ())] == 5
    assert values[("jobd_fire_lateness_seconds_sum", ())] == pytest.approx(1e6 + 3.041)


def test_histogram_bucket_edges_are_inclusive_and_cumulative() -> None:
    h = Histogram("x_seconds", "x", [1.0, 2.0])
    for value in (1.0, 1.5, 2.0, 2.5, math.nan):
        h.observe(value)
    buckets = [s.value for s in h.family().samples if s.name.endswith("_bucket")]
    assert buckets == [1.0, 3.0, 4.0]
    assert h.count == 4
    with pytest.raises(ValueError):
        Histogram("y", "y", [2.0, 1.0])


def test_counter_names_and_labels() -> None:
    with pytest.raises(ValueError):
        Counter("jobd_runs", "no suffix")
    c = Counter("c_total", "c", "type")
    assert c.family().samples == ()  # a labelled counter shows no series until counted
    c.inc("b")
    c.inc("a", 2)
    assert [(s.labels, s.value) for s in c.family().samples] == [
        ((("type", "a"),), 2.0), ((("type", "b"),), 1.0),
    ]


def test_metrics_of_a_namespace_without_metrics_is_private() -> None:
    class Bare:
        pass

    class WithMetrics:
        metrics = Metrics()

    assert metrics_of(WithMetrics()) is WithMetrics.metrics
    first, second = metrics_of(Bare()), metrics_of(Bare())
    assert first is not second


@given(st.one_of(st.floats(allow_nan=True), st.integers(0, 10**18).map(float)))
def test_go_float_matches_prometheus_client(value: float) -> None:
    assert go_float(value) == floatToGoString(value)
