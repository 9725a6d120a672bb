"""warden's Prometheus metrics, through `prometheus_client` (the reference client library).

- every counter of `core.counters` (`<stage>.<what>[.<detail>]`) is exposed by a custom collector
  (`CountersCollector`) as `warden_<what>_total{stage="<stage>",detail="<detail>"}`, e.g.
  `detect.events` → `warden_events_total{stage="detect",detail=""}`; the HTTP status counters
  (`http.status_<code>`) are not: `warden_http_requests_total{method,route,code}` carries them;
- gauges for levels, set by the stages (`warden_consumer_lag{stage}`, `warden_notify_buffer{responder}`,
  `warden_act_backpressure`, `warden_stage_heartbeat_age_seconds{stage}`, ...): `GAUGES.set`;
- histograms for latencies (`warden_stage_batch_seconds{stage}`,
  `warden_stage_commit_latency_seconds{stage}`, `warden_event_to_alert_seconds`,
  `warden_http_request_duration_seconds{method,route}`): `HISTOGRAMS.histogram`;
- the client library's process (`process_*`: CPU, RSS, open files) and Python (`python_gc_*`,
  `python_info`) collectors.
`render(counters)` is the whole exposition (text format 0.0.4).
"""
from __future__ import annotations

import re
import threading
from typing import Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram as _PromHistogram, GC_COLLECTOR,
                               PLATFORM_COLLECTOR, PROCESS_COLLECTOR, disable_created_metrics, generate_latest)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()      # no `_created` series: they double every counter and histogram

#: warden's own metrics (the counters collector is added per exposition: counters are per runtime)
REGISTRY = CollectorRegistry(auto_describe=True)
for _c in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_c)

#: HELP text of the counters that matter most; others say where they come from
COUNTER_HELP = {
    "events": "Events handled by a stage",
    "records": "Records consumed by a stage",
    "deadletter": "Records sent to the dead-letter topic (malformed, oversized, unattributable), by stage",
    "findings": "Findings emitted, by detector",
    "dedup": "Duplicate records or alerts dropped as duplicates (counted, never silent)",
    "suppressed": "Alerts suppressed by a policy",
    "silenced": "Alerts muted by a silence",
    "inhibited": "Alerts inhibited by another alert",
    "step_failures": "Stage steps that raised and were retried from the last commit",
    "checkpoints": "Checkpoints written (sinks flushed, state written, offsets committed)",
    "requests": "HTTP requests received",
    "alerts_firing": "Alert firings and re-firings (transitions; not the number firing now)",
}
_SKIP = re.compile(r"^http\.status_\d+$")


def metric_name(s: str) -> str:
    s = _NAME_OK.sub("_", s)
    return s if not s[:1].isdigit() else "_" + s


def counter_series(name: str) -> tuple[str, dict]:
    """`<stage>.<what>[.<detail>]` → (`warden_<what>_total`, {stage, detail})."""
    stage, _, rest = name.partition(".")
    what, _, detail = rest.partition(".")
    if not what:
        return metric_name(f"warden_{stage}_total"), {}
    labels = {"stage": stage}
    if detail:
        labels["detail"] = detail
    return metric_name(f"warden_{what}_total"), labels


class CountersCollector(Collector):
    """core.counters as Prometheus counter families (one per `<what>`, labels stage and detail)."""

    def __init__(self, counters, reserved: Iterable[str] = ()) -> None:
        self.counters = counters
        self.reserved = set(reserved)

    def collect(self):
        families: dict[str, CounterMetricFamily] = {}
        for key, value in self.counters.snapshot().items():
            if _SKIP.match(key):
                continue
            name, labels = counter_series(key)
            base = name[: -len("_total")]
            if base in self.reserved:          # never two types under one name
                base = metric_name(f"warden_counter_{base[len('warden_'):]}")
            fam = families.get(base)
            if fam is None:
                what = key.partition(".")[2].partition(".")[0]
                doc = COUNTER_HELP.get(what) or f"warden counter {key.partition('.')[2].partition('.')[0] or key} (core.counters)"
                fam = families[base] = CounterMetricFamily(base, doc, labels=["stage", "detail"])
            fam.add_metric([labels.get("stage", ""), labels.get("detail", "")], float(value))
        yield from families.values()


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class HistogramHandle:
    """One labelled histogram series; `quantile` reads its buckets back (tests and benches)."""

    def __init__(self, metric: _PromHistogram, labels: dict, buckets) -> None:
        self.child = metric.labels(**labels) if labels else metric
        self.buckets = tuple(sorted(buckets))

    def observe(self, v: float) -> None:
        self.child.observe(v)

    def observe_many(self, values) -> None:
        for v in values:
            self.child.observe(v)

    @property
    def count(self) -> int:
        """Observations so far (benches read it: batches handled per stage)."""
        return int(sum(b.get() for b in self.child._buckets))

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile."""
        counts = [b.get() for b in self.child._buckets]          # non-cumulative per bucket
        total = sum(counts)
        acc = 0.0
        for bound, c in zip(self.buckets + (float("inf"),), counts):
            acc += c
            if total and acc >= q * total:
                return bound
        return 0.0


class Histograms:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._m: dict[str, _PromHistogram] = {}

    def histogram(self, name: str, help: str = "", buckets=LATENCY_BUCKETS, **labels) -> HistogramHandle:
        with self._lock:
            m = self._m.get(name)
            if m is None:
                m = self._m[name] = _PromHistogram(name, help or name, sorted(labels), buckets=buckets,
                                                   registry=self.registry)
        return HistogramHandle(m, labels, buckets)


class Gauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._m: dict[str, Gauge] = {}

    def set(self, name: str, value: float, help: str = "", **labels) -> None:
        with self._lock:
            m = self._m.get(name)
            if m is None:
                m = self._m[name] = Gauge(name, help or name, sorted(labels), registry=self.registry)
        (m.labels(**labels) if labels else m).set(float(value))


HISTOGRAMS = Histograms(REGISTRY)
GAUGES = Gauges(REGISTRY)
EVENT_TO_ALERT = HISTOGRAMS.histogram(
    "warden_event_to_alert_seconds",
    "From an alert's last event (event time, live sources) to the alert stored in the alert store")
HTTP_REQUESTS = Counter("warden_http_requests", "HTTP requests answered, by method, route template and status code",
                        ["method", "route", "code"], registry=REGISTRY)
HTTP_LATENCY = _PromHistogram("warden_http_request_duration_seconds",
                              "From the request head to the response sent, by method and route template",
                              ["method", "route"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def observe_http(method: str, route: str, code: int, seconds: float) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(code)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def _registered_names() -> set[str]:
    return set(getattr(REGISTRY, "_names_to_collectors", {}))


def render(counters=None, extra: list[str] | None = None) -> bytes:
    """The whole exposition: warden's registry plus `counters` (default the process-wide ones)."""
    if counters is None:
        from core.counters import COUNTERS
        counters = COUNTERS
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Forward(REGISTRY))
    reg.register(CountersCollector(counters, reserved=_registered_names()))
    out = generate_latest(reg)
    if extra:
        out += ("\n".join(extra) + "\n").encode()
    return out
