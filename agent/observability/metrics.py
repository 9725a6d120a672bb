"""Prometheus text exposition (format 0.0.4) of warden's own metrics, without a client library.

- every counter of agent.counters (`<stage>.<what>[.<detail>]`) becomes
  `warden_<what>_total{stage="<stage>"[,detail="<detail>"]}` — e.g. `detect.events` →
  `warden_events_total{stage="detect"}`, `detect.findings.baseline/default` →
  `warden_findings_total{stage="detect",detail="baseline/default"}`;
- gauges set by the stages (consumer lag per stage, ...);
- histograms: batch time per stage, commit latency per stage, event → alert stored latency.
"""
from __future__ import annotations

import bisect
import math
import re
import threading

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(s: str) -> str:
    s = _NAME_OK.sub("_", s)
    return s if not s[:1].isdigit() else "_" + s


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{metric_name(k)}="{_esc(v)}"' for k, v in sorted(labels.items())) + "}"


def _num(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if float(v).is_integer():
        return str(int(v))
    return repr(float(v))


class Histogram:
    def __init__(self, buckets=LATENCY_BUCKETS) -> None:
        self.buckets = tuple(sorted(buckets))
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, v: float) -> None:
        i = bisect.bisect_left(self.buckets, v)
        with self._lock:
            self.counts[i] += 1
            self.sum += v
            self.count += 1

    def observe_many(self, values) -> None:
        with self._lock:
            for v in values:
                self.counts[bisect.bisect_left(self.buckets, v)] += 1
                self.sum += v
                self.count += 1

    def quantile(self, q: float) -> float:
        """Upper bound of the bucket holding the q-quantile (for tests and benches)."""
        with self._lock:
            target = q * self.count
            acc = 0
            for i, c in enumerate(self.counts):
                acc += c
                if acc >= target and self.count:
                    return self.buckets[i] if i < len(self.buckets) else math.inf
        return 0.0

    def lines(self, name: str, labels: dict) -> list[str]:
        with self._lock:
            counts, total, n = list(self.counts), self.sum, self.count
        out, acc = [], 0
        for b, c in zip(self.buckets + (math.inf,), counts):
            acc += c
            out.append(f"{name}_bucket{_labels({**labels, 'le': _num(b)})} {acc}")
        out.append(f"{name}_sum{_labels(labels)} {_num(total)}")
        out.append(f"{name}_count{_labels(labels)} {n}")
        return out


class Histograms:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._h: dict[tuple[str, tuple], Histogram] = {}
        self._help: dict[str, str] = {}

    def histogram(self, name: str, help: str = "", buckets=LATENCY_BUCKETS, **labels) -> Histogram:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            h = self._h.get(key)
            if h is None:
                h = self._h[key] = Histogram(buckets)
                self._help.setdefault(name, help)
            return h

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._h.items())
            helps = dict(self._help)
        out, last = [], None
        for (name, labels), h in items:
            if name != last:
                out.append(f"# HELP {name} {helps.get(name) or name}")
                out.append(f"# TYPE {name} histogram")
                last = name
            out.extend(h.lines(name, dict(labels)))
        return out

    def reset(self) -> None:
        with self._lock:
            self._h.clear()


class Gauges:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._g: dict[tuple[str, tuple], float] = {}
        self._help: dict[str, str] = {}

    def set(self, name: str, value: float, help: str = "", **labels) -> None:
        with self._lock:
            self._g[(name, tuple(sorted(labels.items())))] = float(value)
            self._help.setdefault(name, help)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._g.items())
            helps = dict(self._help)
        out, last = [], None
        for (name, labels), v in items:
            if name != last:
                out.append(f"# HELP {name} {helps.get(name) or name}")
                out.append(f"# TYPE {name} gauge")
                last = name
            out.append(f"{name}{_labels(dict(labels))} {_num(v)}")
        return out


HISTOGRAMS = Histograms()
GAUGES = Gauges()
EVENT_TO_ALERT = HISTOGRAMS.histogram(
    "warden_event_to_alert_seconds",
    "From an alert's last event (event time, live sources) to the alert stored in the alert store")


def counter_series(name: str) -> tuple[str, dict]:
    stage, _, rest = name.partition(".")
    what, _, detail = rest.partition(".")
    if not what:
        return metric_name(f"warden_{stage}_total"), {}
    labels = {"stage": stage}
    if detail:
        labels["detail"] = detail
    return metric_name(f"warden_{what}_total"), labels


def render(counters=None, extra: list[str] | None = None) -> bytes:
    """The whole exposition: counters, gauges, histograms."""
    if counters is None:
        from agent.counters import COUNTERS
        counters = COUNTERS
    series: dict[str, list[str]] = {}
    for k, v in counters.snapshot().items():
        name, labels = counter_series(k)
        series.setdefault(name, []).append(f"{name}{_labels(labels)} {_num(v)}")
    out: list[str] = []
    for name in sorted(series):
        out.append(f"# HELP {name} warden counter {name[7:-6]} (agent.counters)")
        out.append(f"# TYPE {name} counter")
        out.extend(series[name])
    out.extend(GAUGES.render())
    out.extend(HISTOGRAMS.render())
    out.extend(extra or [])
    return ("\n".join(out) + "\n").encode()


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
