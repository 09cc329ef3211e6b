"""jobd's counters, gauges and histograms, rendered in the Prometheus text format (0.0.4).

Rules this module keeps:
1. Standard library only: the core names and counts what happens; fronts add their own counts
   through ``Metrics``' small methods (``request_9p``, ``fuse_operation``, ...), and an HTTP
   exporter at the edge turns ``families()`` into prometheus-client metric families.
2. Touched from the trio thread only: an increment is a plain dict update, no lock. Another thread
   (the HTTP exporter) asks for ``families()`` through the trio thread, never directly.
3. A reading is one snapshot: ``families()`` evaluates the gauges computed from live state (jobs by
   state, open connections) at that moment, and ``render()`` formats exactly those families.
4. Metric names are an interface (dashboards and alerts use them): add, never rename.
5. ``render()`` writes what prometheus-client's ``generate_latest`` writes for the same families
   (sample order, label order, number spelling), so ``/stats`` and ``--metrics-addr`` agree.
"""

from __future__ import annotations

import bisect
import contextlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LATENESS_BUCKETS", "Counter", "Family", "Gauge", "Histogram", "Metrics", "Sample",
           "metrics_of", "render_families"]

#: Seconds between a scheduled instant and the start of its process.
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of the exposition: ``name{labels} value``."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: ``kind`` is ``counter``, ``gauge`` or ``histogram``; a counter's
    ``name`` ends in ``_total`` (as its samples are named)."""

    name: str
    kind: str
    help: str
    samples: tuple[Sample, ...]


class Counter:
    """A counter, optionally with one label (e.g. ``type`` of a 9P request)."""

    def __init__(self, name: str, help: str, label: str | None = None) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"counter {name!r} must end in _total")
        self.name = name
        self.help = help
        self.label = label
        self._values: dict[str, float] = {} if label else {"": 0.0}

    def inc(self, label_value: str = "", amount: float = 1.0) -> None:
        """Add ``amount`` (to the series of ``label_value`` for a labelled counter)."""
        self._values[label_value] = self._values.get(label_value, 0.0) + amount

    def value(self, label_value: str = "") -> float:
        """The current count (0 for a series never incremented)."""
        return self._values.get(label_value, 0.0)

    def family(self) -> Family:
        return _labelled_family(self.name, "counter", self.help, self.label, self._values)


class Gauge:
    """A gauge whose value is set or stepped (unlabelled)."""

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def family(self) -> Family:
        return Family(self.name, "gauge", self.help, (Sample(self.name, (), self.value),))


class Histogram:
    """A cumulative histogram with fixed upper bounds (``+Inf`` is implied)."""

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("histogram buckets must be ascending and distinct")
        self.name = name
        self.help = help
        self.bounds = tuple(float(b) for b in buckets)
        self._counts = [0] * (len(self.bounds) + 1)  # per bucket, not cumulative; last: +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Record one observation (NaN is ignored: it belongs to no bucket)."""
        if math.isnan(value):
            return
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def family(self) -> Family:
        samples = []
        cumulative = 0
        for bound, count in zip((*self.bounds, math.inf), self._counts, strict=True):
            cumulative += count
            le = (("le", go_float(bound)),)
            samples.append(Sample(f"{self.name}_bucket", le, float(cumulative)))
        samples.append(Sample(f"{self.name}_count", (), float(self.count)))
        samples.append(Sample(f"{self.name}_sum", (), self.sum))
        return Family(self.name, "histogram", self.help, tuple(samples))


def _labelled_family(
    name: str, kind: str, help: str, label: str | None, values: dict[str, float]
) -> Family:
    samples = tuple(
        Sample(name, ((label, key),) if label else (), value)
        for key, value in sorted(values.items())
    )
    return Family(name, kind, help, samples)


def gauge_family(name: str, help: str, label: str, values: dict[str, float]) -> Family:
    """A labelled gauge family computed at collection time (e.g. jobs by state)."""
    return _labelled_family(name, "gauge", help, label, values)


#: A source of families computed when collected (e.g. the registry's jobs by state).
Collector = Callable[[], Iterable[Family]]


class Metrics:
    """Every metric of one jobd process. See the module rules; names are listed in ``render()``'s
    output and in the README's Operations section.

    The core counts runs and fires; fronts call ``request_9p``/``error_9p``,
    ``connection_opened``/``connection_closed``/``connection_refused`` and ``fuse_operation``.
    """

    def __init__(self) -> None:
        self.runs = Counter("jobd_runs_total", "Job runs started.")
        self.run_failures = Counter(
            "jobd_run_failures_total",
            "Job runs that failed, by reason (exit: non-zero status, signal: killed, timeout: "
            "killed by its timeout, start: could not be started, internal: jobd lost track).",
            "reason",
        )
        self.job_timeouts = Counter(
            "jobd_job_timeouts_total", "Job runs killed because they exceeded their timeout."
        )
        self.fires_skipped = Counter(
            "jobd_fires_skipped_total", "Fires skipped because the previous run was still going."
        )
        self.fires_missed = Counter(
            "jobd_fires_missed_total", "Fires missed (jobd down, suspended or too late)."
        )
        self.fire_lateness = Histogram(
            "jobd_fire_lateness_seconds",
            "Seconds from a scheduled instant to the start of its process.",
            LATENESS_BUCKETS,
        )
        self.requests_9p = Counter("jobd_9p_requests_total", "9P requests by type.", "type")
        self.errors_9p = Counter(
            "jobd_9p_errors_total", "9P requests answered with an error, by type.", "type"
        )
        self.connections_9p = Gauge("jobd_9p_connections_open", "Open 9P connections.")
        self.connections_9p_total = Counter(
            "jobd_9p_connections_accepted_total", "9P connections accepted."
        )
        self.connections_9p_refused = Counter(
            "jobd_9p_connections_refused_total", "9P connections refused, by reason.", "reason"
        )
        self.limit_refusals_9p = Counter(
            "jobd_9p_limit_refusals_total",
            "Requests refused or connections ended by a per-connection limit (fids: EMFILE, "
            "outstanding: reading paused, send-buffer, frame: connection closed), by limit.",
            "limit",
        )
        self.fuse_operations = Counter(
            "jobd_fuse_operations_total", "FUSE operations by name.", "op"
        )
        self.fuse_errors = Counter(
            "jobd_fuse_errors_total", "FUSE operations answered with an error, by name.", "op"
        )
        self._collectors: list[Collector] = []

    # -- what fronts call --------------------------------------------------------------------

    def request_9p(self, type_name: str) -> None:
        """One 9P request of type ``type_name`` (``Twalk``) arrived."""
        self.requests_9p.inc(type_name)

    def error_9p(self, type_name: str) -> None:
        """A 9P request of type ``type_name`` was answered with an error."""
        self.errors_9p.inc(type_name)

    def connection_opened(self) -> None:
        self.connections_9p.inc()
        self.connections_9p_total.inc()

    def connection_closed(self) -> None:
        self.connections_9p.dec()

    def connection_refused(self, reason: str) -> None:
        """A 9P connection was refused (``limit``, ``address``, ...)."""
        self.connections_9p_refused.inc(reason)

    def limit_refused(self, limit: str) -> None:
        """A per-connection limit of the 9P server (``fids``, ``outstanding``, ...) refused."""
        self.limit_refusals_9p.inc(limit)

    def fuse_operation(self, op: str, *, failed: bool = False) -> None:
        """One FUSE operation ``op`` (``lookup``) was served; ``failed``: with an error."""
        self.fuse_operations.inc(op)
        if failed:
            self.fuse_errors.inc(op)

    def run_failed(self, result: str) -> str:
        """Count a failed run by its result (``exit 3``, ``killed by SIGTERM``, ``timed out``,
        ``failed: ...``); return the reason counted: ``exit``, ``signal``, ``timeout`` or
        ``internal``."""
        word = result.split(" ", 1)[0]
        reason = {"exit": "exit", "killed": "signal", "timed": "timeout"}.get(word, "internal")
        self.run_failures.inc(reason)
        return reason

    # -- reading -----------------------------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Add families computed when collected (after the fixed ones, in the order added)."""
        self._collectors.append(collector)

    def families(self) -> list[Family]:
        """A snapshot of every family, in a fixed order. Call it on the trio thread."""
        out: list[Family] = []
        for collector in self._collectors:
            out.extend(collector())
        out += [
            self.runs.family(),
            self.run_failures.family(),
            self.job_timeouts.family(),
            self.fires_skipped.family(),
            self.fires_missed.family(),
            self.fire_lateness.family(),
            self.requests_9p.family(),
            self.errors_9p.family(),
            self.connections_9p.family(),
            self.connections_9p_total.family(),
            self.connections_9p_refused.family(),
            self.limit_refusals_9p.family(),
            self.fuse_operations.family(),
            self.fuse_errors.family(),
        ]
        return out

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of ``families()``."""
        return render_families(self.families())


def metrics_of(namespace: object) -> Metrics:
    """The ``Metrics`` a namespace counts into: the core's namespace has one; a namespace without
    (a remote bridge) gets a fresh one attached to it, so fronts never branch."""
    metrics = getattr(namespace, "metrics", None)
    if isinstance(metrics, Metrics):
        return metrics
    metrics = Metrics()
    # Remembered, so both fronts and the exporter of one process share it (an object without a
    # __dict__ cannot keep it: then each caller has a private one).
    with contextlib.suppress(AttributeError):
        namespace.metrics = metrics  # type: ignore[attr-defined]
    return metrics


def render_families(families: Iterable[Family]) -> str:
    """Format families as Prometheus text, exactly as prometheus-client 0.2x does."""
    lines: list[str] = []
    for fam in families:
        doc = fam.help.replace("\\", r"\\").replace("\n", r"\n")
        lines.append(f"# HELP {fam.name} {doc}\n")
        lines.append(f"# TYPE {fam.name} {fam.kind}\n")
        for sample in fam.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(sample.labels))
            braces = f"{{{labels}}}" if labels else ""
            lines.append(f"{sample.name}{braces} {go_float(sample.value)}\n")
    return "".join(lines)


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def go_float(value: float) -> str:
    """A number as Prometheus (and prometheus-client's ``floatToGoString``) spells it."""
    value = float(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text
