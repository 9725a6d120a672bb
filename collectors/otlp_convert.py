"""OTLP data → events (collectors.otlp describes the mapping): metric data points and log
records become Events with stable ids; a data point that cannot become one is rejected with its
reason (the response's partial success, and a dead letter)."""
from __future__ import annotations

import base64
import math
import time as _time
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import Message

from core.event import Event

FLAG_NO_RECORDED_VALUE = 1
TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}


class _Reject(Exception):
    """One data point / record that cannot become an event (partial success)."""


def any_value(v: Any) -> Any:
    """An OTLP AnyValue as a python value (kvlists as dicts)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return v.string_value
    if which == "bool_value":
        return v.bool_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return None


def flatten_attributes(kvs, out: dict[str, Any] | None = None, prefix: str = "") -> dict[str, Any]:
    """KeyValue list -> flat dict with dotted keys for nested kvlists."""
    out = {} if out is None else out
    for kv in kvs:
        key = prefix + kv.key
        if kv.value.WhichOneof("value") == "kvlist_value":
            flatten_attributes(kv.value.kvlist_value.values, out, key + ".")
        else:
            out[key] = any_value(kv.value)
    return out


def _scope_attrs(scope) -> dict[str, Any]:
    out = {}
    if scope.name:
        out["otel.scope.name"] = scope.name
    if scope.version:
        out["otel.scope.version"] = scope.version
    return out


def _lp(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


class Converter:
    """Export requests → (events, rejects [(raw, reason)], rejected count) for one receiver."""

    def __init__(self, source: str, entity_attributes: list[str], default_entity: str, max_dead_letters: int) -> None:
        self.source = source
        self.entity_attributes = entity_attributes
        self.default_entity = default_entity
        self.max_dead_letters = max_dead_letters

    def entity(self, res_attrs: dict, point_attrs: dict) -> str:
        for attrs in (res_attrs, point_attrs):
            for k in self.entity_attributes:
                v = attrs.get(k)
                if v is not None and v != "" and not isinstance(v, (list, dict)):
                    return str(v)
        return self.default_entity

    def reject(self, rejects: list, what: Message, reason: str) -> None:
        if len(rejects) < self.max_dead_letters:
            rejects.append((json_format.MessageToDict(what), f"otlp: {reason}"))

    def metric_events(self, msg) -> tuple[list[Event], list, int]:
        events: list[Event] = []
        rejects: list = []
        nrej = 0
        source = self.source
        for rm in msg.resource_metrics:
            res_attrs = flatten_attributes(rm.resource.attributes)
            res_bytes = rm.resource.SerializeToString(deterministic=True)
            for sm in rm.scope_metrics:
                scope_attrs = _scope_attrs(sm.scope)
                scope_bytes = sm.scope.SerializeToString(deterministic=True)
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    if kind is None:
                        continue
                    data = getattr(m, kind)
                    meta = {"otel.metric.type": kind}
                    if m.unit:
                        meta["otel.metric.unit"] = m.unit
                    if kind == "sum":
                        meta["otel.metric.monotonic"] = bool(data.is_monotonic)
                    if kind in ("sum", "histogram", "exponential_histogram"):
                        meta["otel.metric.temporality"] = TEMPORALITY.get(data.aggregation_temporality, "unspecified")
                    for p in data.data_points:
                        try:
                            if not m.name:
                                raise _Reject("metric without a name")
                            value, extra = _point_value(kind, p, m.name)
                            if not p.time_unix_nano:
                                raise _Reject(f"{kind} {m.name!r}: data point without time_unix_nano")
                        except _Reject as e:
                            nrej += 1
                            self.reject(rejects, p, str(e))
                            continue
                        pattrs = flatten_attributes(p.attributes)
                        attrs = {**res_attrs, **scope_attrs, **pattrs, **meta, **extra}
                        raw = _lp(b"metric", res_bytes, scope_bytes, m.name.encode(),
                                  p.SerializeToString(deterministic=True))
                        events.append(Event.create(source=source, kind="metric",
                                                   entity=self.entity(res_attrs, pattrs), name=m.name,
                                                   time=p.time_unix_nano / 1e9, value=value, attributes=attrs,
                                                   raw=raw))
        if nrej > len(rejects):
            rejects.append(({"rejected_data_points": nrej, "dead_lettered": len(rejects)},
                            f"otlp: {nrej - len(rejects)} more rejected data points not dead-lettered one by one "
                            f"(max_dead_letters={self.max_dead_letters})"))
        return events, rejects, nrej

    def log_events(self, msg) -> tuple[list[Event], list, int]:
        events: list[Event] = []
        source = self.source
        now = _time.time()
        for rl in msg.resource_logs:
            res_attrs = flatten_attributes(rl.resource.attributes)
            res_bytes = rl.resource.SerializeToString(deterministic=True)
            for sl in rl.scope_logs:
                scope_attrs = _scope_attrs(sl.scope)
                scope_bytes = sl.scope.SerializeToString(deterministic=True)
                for r in sl.log_records:
                    rattrs = flatten_attributes(r.attributes)
                    attrs = {**res_attrs, **scope_attrs, **rattrs}
                    if r.HasField("body"):
                        body = any_value(r.body)
                        if isinstance(body, (dict, list)):
                            body = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode()
                        attrs["log.body"] = body
                    if r.severity_number:
                        attrs["log.severity_number"] = int(r.severity_number)
                    if r.severity_text:
                        attrs["log.level"] = r.severity_text
                    if r.trace_id:
                        attrs["trace.id"] = r.trace_id.hex()
                    if r.span_id:
                        attrs["span.id"] = r.span_id.hex()
                    if r.event_name:
                        attrs["event.name"] = r.event_name
                    if r.time_unix_nano:
                        t = r.time_unix_nano / 1e9
                    elif r.observed_time_unix_nano:
                        t = r.observed_time_unix_nano / 1e9
                        attrs["warden.time_source"] = "observed"
                    else:
                        t = now
                        attrs["warden.time_source"] = "received"
                    raw = _lp(b"log", res_bytes, scope_bytes, r.SerializeToString(deterministic=True))
                    events.append(Event.create(source=source, kind="log", entity=self.entity(res_attrs, rattrs),
                                               name=r.severity_text or "log", time=t, attributes=attrs, raw=raw))
        return events, [], 0


def _finite(x: float, what: str) -> float:
    if not math.isfinite(x):
        raise _Reject(f"{what}: non-finite value {x}")
    return x


def _point_value(kind: str, p, name: str) -> tuple[float | None, dict[str, Any]]:
    """(value, extra attributes) of one data point; _Reject with the reason when invalid."""
    what = f"{kind} {name!r}"
    if p.flags & FLAG_NO_RECORDED_VALUE:
        raise _Reject(f"{what}: data point flagged 'no recorded value'")
    if kind in ("gauge", "sum"):
        which = p.WhichOneof("value")
        if which is None:
            raise _Reject(f"{what}: data point without a value")
        v = p.as_double if which == "as_double" else p.as_int
        return _finite(float(v), what), {}
    extra: dict[str, Any] = {}
    count = int(p.count)
    has_sum = kind == "summary" or p.HasField("sum")
    extra["histogram.count"] = count
    if has_sum:
        extra["histogram.sum"] = _finite(p.sum, what)
    if kind != "summary":
        if p.HasField("min"):
            extra["histogram.min"] = _finite(p.min, what)
        if p.HasField("max"):
            extra["histogram.max"] = _finite(p.max, what)
    if kind == "histogram":
        extra["histogram.explicit_bounds"] = list(p.explicit_bounds)
        extra["histogram.bucket_counts"] = [int(c) for c in p.bucket_counts]
    elif kind == "exponential_histogram":
        extra["histogram.scale"] = int(p.scale)
        extra["histogram.zero_count"] = int(p.zero_count)
    else:
        extra["summary.quantiles"] = [[q.quantile, q.value] for q in p.quantile_values]
    value = p.sum / count if has_sum and count > 0 else None
    return value, extra
