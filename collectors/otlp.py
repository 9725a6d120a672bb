"""OTLP/HTTP receiver: OpenTelemetry metrics and logs pushed to `POST /v1/metrics`, `POST /v1/logs`.

Collector type `otlp` (push: it serves HTTP routes, so it needs the agent's HTTP server enabled).
Bodies are OTLP protobuf (`Content-Type: application/x-protobuf`, also `application/protobuf`) or
the OTLP JSON mapping (`application/json`: lowerCamelCase or snake_case field names, 64-bit
integers as strings or numbers, enums as integers, trace/span ids as hex). `Content-Encoding:
gzip` (and `deflate`) bodies are decompressed up to `max_decompressed_bytes`.

Metrics -> one `Event(kind="metric")` per data point:

- `name` = metric name, `time` = `time_unix_nano / 1e9`, `entity` = the first of
  `entity_attributes` found in the resource attributes (then in the point's attributes), else
  `default_entity`.
- `attributes` = resource attributes + point attributes (point wins), flattened: nested
  key/value lists become dotted keys, arrays become lists, bytes become base64 text; plus
  `otel.scope.name` / `otel.scope.version` when set, `otel.metric.type` (gauge | sum | histogram |
  exponential_histogram | summary), `otel.metric.unit` when set, and for sums
  `otel.metric.monotonic` and `otel.metric.temporality` (delta | cumulative).
- gauge / sum: `value` = `as_double` or `as_int`.
- histogram / exponential_histogram / summary: `value` = the mean (`sum / count`; None when the
  count is 0 or the sum is absent), with `histogram.count`, `histogram.sum`, `histogram.min`,
  `histogram.max` (when present) in attributes; explicit histograms also keep
  `histogram.explicit_bounds` and `histogram.bucket_counts`; summaries keep
  `summary.quantiles` as `[[quantile, value], ...]`.

Rejected data points (no value, a non-finite value, no `time_unix_nano`, an unnamed metric, the
"no recorded value" flag) are counted in the response's `partial_success` (`rejected_data_points`
with an error message) and dead-lettered one by one (up to `max_dead_letters`, default 10,000, per
request, then one summary letter counting the rest). While the bus is full (embedded bus at
`bus.max_held_records`), 503 with Retry-After: 1, body unread.

Logs -> one `Event(kind="log")` per log record: `name` = severity text (or "log"), `time` =
`time_unix_nano` (else `observed_time_unix_nano`, else the time received; `warden.time_source`
says which), attributes = resource + scope + record attributes, `log.body` (text; structured
bodies as JSON text), `log.level` (severity text), `log.severity_number`, `trace.id` / `span.id` (hex), `event.name`.

Responses follow OTLP/HTTP: 200 with an `Export*ServiceResponse` in the request's encoding;
400 with a `google.rpc.Status` for undecodable payloads (the raw body, truncated to 1 KiB, is
dead-lettered with the reason); 413 when the decompressed body is over the cap; 415 for
unsupported content types or encodings.

Ids are stable: `Event.create(raw=...)` over the deterministic serialisation of the resource, the
scope, the metric name and the data point (or log record), so a re-sent export (protobuf or
JSON) gives the same ids.
"""
from __future__ import annotations

import base64
import logging
import math
import threading
import time as _time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from core.event import Event
from core.http import HttpError, Request, Response
from core.registry import register
from collectors.base import Collector
from collectors.bodies import GZIP_WBITS, inflate_bounded

log = logging.getLogger("warden.collectors.otlp")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
RAW_LIMIT = 1024
FLAG_NO_RECORDED_VALUE = 1
TEMPORALITY = {0: "unspecified", 1: "delta", 2: "cumulative"}
DEFAULT_ENTITY_ATTRIBUTES = ["k8s.node.name", "host.name", "service.name", "k8s.pod.name"]


class _Reject(Exception):
    """One data point / record that cannot become an event (partial success)."""


class _Bad(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# AnyValue / attributes

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


def _hex_ids_to_base64(obj: Any) -> Any:
    """OTLP JSON encodes trace/span ids as hex; protobuf's JSON mapping expects base64 for bytes."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("traceId", "spanId", "trace_id", "span_id") and isinstance(v, str):
                try:
                    obj[k] = base64.b64encode(bytes.fromhex(v)).decode("ascii")
                except ValueError:
                    raise _Bad(400, f"invalid {k} {v[:40]!r}: expected hex") from None
            else:
                _hex_ids_to_base64(v)
    elif isinstance(obj, list):
        for v in obj:
            _hex_ids_to_base64(v)
    return obj


def _status_body(code: int, message: str, json: bool) -> tuple[bytes, str]:
    """google.rpc.Status {code, message}, hand-encoded (no googleapis-common-protos dependency)."""
    if json:
        return orjson.dumps({"code": code, "message": message}), JSON
    msg = message.encode("utf-8")
    out = bytearray(b"\x08")
    _varint(out, code)
    out += b"\x12"
    _varint(out, len(msg))
    out += msg
    return bytes(out), PROTOBUF


def _varint(out: bytearray, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def _lp(*parts: bytes) -> bytes:
    return b"".join(len(p).to_bytes(8, "little") + p for p in parts)


# ---------------------------------------------------------------------------------------------

@register
class OtlpCollector(Collector):
    """OTLP/HTTP receiver for metrics and logs (protobuf and JSON, gzip)."""
    type = "otlp"

    @dataclass
    class Config:
        #: resource (then data point) attributes tried in order for the event entity
        entity_attributes: list[str] = field(default_factory=lambda: list(DEFAULT_ENTITY_ATTRIBUTES))
        default_entity: str = "unknown"            # entity when none of entity_attributes is set
        metrics_path: str = "/v1/metrics"
        logs_path: str = "/v1/logs"
        max_decompressed_bytes: int = 16 << 20      # cap on gzip/deflate-decoded bodies
        max_dead_letters: int = 10000               # rejected points dead-lettered one by one per request

        def validate(self) -> None:
            if not self.entity_attributes or any(not isinstance(a, str) or not a for a in self.entity_attributes):
                raise ValueError("entity_attributes must be a non-empty list of attribute names")
            if not self.default_entity:
                raise ValueError("default_entity must not be empty")
            for p in (self.metrics_path, self.logs_path):
                if not p.startswith("/"):
                    raise ValueError(f"paths must start with '/', got {p!r}")
            if self.metrics_path == self.logs_path:
                raise ValueError("metrics_path and logs_path must differ")
            if self.max_decompressed_bytes < 1:
                raise ValueError("max_decompressed_bytes must be >= 1")
            if self.max_dead_letters < 0:
                raise ValueError("max_dead_letters must be >= 0")

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "events": 0, "rejected": 0, "bad_requests": 0}

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {("POST", self.config.metrics_path): self.handle_metrics,
                ("POST", self.config.logs_path): self.handle_logs}

    # -- HTTP handlers ----------------------------------------------------------------------------
    def handle_metrics(self, req: Request) -> Response:
        return self._handle(req, metrics_service_pb2.ExportMetricsServiceRequest,
                            metrics_service_pb2.ExportMetricsServiceResponse, self._metric_events,
                            "rejected_data_points")

    def handle_logs(self, req: Request) -> Response:
        return self._handle(req, logs_service_pb2.ExportLogsServiceRequest,
                            logs_service_pb2.ExportLogsServiceResponse, self._log_events,
                            "rejected_log_records")

    def _handle(self, req: Request, req_cls, resp_cls, convert, rejected_field: str) -> Response:
        with self._lock:
            self.stats["requests"] += 1
        ctype = req.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        is_json = ctype == JSON
        if not is_json and ctype not in _PROTOBUF_TYPES:
            return self._error(415, f"unsupported content type {ctype or '(none)'!r}: "
                                    f"use {PROTOBUF} or {JSON}", json=False, raw=None)
        if self.emitter is not None and self.emitter.full():     # backpressure: OTLP retries a 503
            resp = self._error(503, "the bus holds as many records as it may; retry later", json=is_json, raw=None)
            resp.headers["Retry-After"] = "1"
            return resp
        try:
            body = self._decompress(req)
            msg = self._decode(body, req_cls, is_json)
        except _Bad as e:
            return self._error(e.status, e.reason, json=is_json, raw=req.body)
        if self.emitter is None:
            return self._error(503, f"{self.name} is not running", json=is_json, raw=None)
        events, rejects, total_rejected = convert(msg)
        with self._lock:  # handlers run on the HTTP server's threads
            for ev in events:
                self.emitter.emit(ev)
            for raw, reason in rejects:
                self.emitter.dead_letter(raw, reason, self.name)
            self.stats["events"] += len(events)
            self.stats["rejected"] += total_rejected
        resp = resp_cls()
        if total_rejected:
            ps = resp.partial_success
            setattr(ps, rejected_field, total_rejected)
            reasons = [r.removeprefix("otlp: ") for _, r in rejects[:3]]
            ps.error_message = (f"{total_rejected} {rejected_field.split('_', 1)[1].replace('_', ' ')} rejected: "
                                + "; ".join(reasons))[:1000]
        if is_json:
            return Response(200, json_format.MessageToJson(resp, indent=None).encode(), JSON)
        return Response(200, resp.SerializeToString(), PROTOBUF)

    def _error(self, status: int, reason: str, *, json: bool, raw: bytes | None) -> Response:
        with self._lock:
            self.stats["bad_requests"] += 1
            if raw is not None and self.emitter is not None:
                self.emitter.dead_letter(bytes(raw[:RAW_LIMIT]), f"otlp: {reason}", self.name)
        code = {400: 3, 413: 8, 415: 3, 503: 14}.get(status, 2)  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...
        body, ctype = _status_body(code, reason, json)
        return Response(status, body, ctype)

    def _decompress(self, req: Request) -> bytes:
        enc = req.headers.get("content-encoding", "").strip().lower()
        if enc in ("", "identity"):
            return req.body
        if enc not in ("gzip", "deflate", "x-gzip"):
            raise _Bad(415, f"unsupported content encoding {enc!r} (gzip, deflate or none)")
        wbits = GZIP_WBITS if enc in ("gzip", "x-gzip") else zlib.MAX_WBITS
        try:
            return inflate_bounded(req.body, self.config.max_decompressed_bytes, wbits=wbits, what=enc)
        except HttpError as e:
            raise _Bad(e.status, e.reason) from None

    @staticmethod
    def _decode(body: bytes, cls, is_json: bool) -> Message:
        msg = cls()
        try:
            if is_json:
                try:
                    obj = orjson.loads(body)
                except orjson.JSONDecodeError as e:
                    raise _Bad(400, f"invalid JSON: {e}") from None
                if not isinstance(obj, dict):
                    raise _Bad(400, f"invalid OTLP JSON: expected an object, got {type(obj).__name__}")
                json_format.ParseDict(_hex_ids_to_base64(obj), msg, ignore_unknown_fields=True)
            else:
                msg.ParseFromString(body)
        except _Bad:
            raise
        except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as e:
            what = "JSON" if is_json else "protobuf"
            raise _Bad(400, f"undecodable OTLP {what} {cls.__name__}: {str(e)[:300] or type(e).__name__}") from None
        return msg

    # -- conversion -----------------------------------------------------------------------------
    def _entity(self, res_attrs: dict, point_attrs: dict) -> str:
        for attrs in (res_attrs, point_attrs):
            for k in self.config.entity_attributes:
                v = attrs.get(k)
                if v is not None and v != "" and not isinstance(v, (list, dict)):
                    return str(v)
        return self.config.default_entity

    def _reject(self, rejects: list, what: Message, reason: str) -> None:
        if len(rejects) < self.config.max_dead_letters:
            rejects.append((json_format.MessageToDict(what), f"otlp: {reason}"))

    def _metric_events(self, msg) -> tuple[list[Event], list, int]:
        events: list[Event] = []
        rejects: list = []
        nrej = 0
        source = self.name
        for rm in msg.resource_metrics:
            res_attrs = flatten_attributes(rm.resource.attributes)
            res_bytes = rm.resource.SerializeToString(deterministic=True)
            for sm in rm.scope_metrics:
                scope_attrs = {}
                if sm.scope.name:
                    scope_attrs["otel.scope.name"] = sm.scope.name
                if sm.scope.version:
                    scope_attrs["otel.scope.version"] = sm.scope.version
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
                            self._reject(rejects, p, str(e))
                            continue
                        pattrs = flatten_attributes(p.attributes)
                        attrs = {**res_attrs, **scope_attrs, **pattrs, **meta, **extra}
                        raw = _lp(b"metric", res_bytes, scope_bytes, m.name.encode(),
                                  p.SerializeToString(deterministic=True))
                        events.append(Event.create(source=source, kind="metric",
                                                   entity=self._entity(res_attrs, pattrs), name=m.name,
                                                   time=p.time_unix_nano / 1e9, value=value, attributes=attrs,
                                                   raw=raw))
        if nrej > len(rejects):
            rejects.append(({"rejected_data_points": nrej, "dead_lettered": len(rejects)},
                            f"otlp: {nrej - len(rejects)} more rejected data points not dead-lettered one by one "
                            f"(max_dead_letters={self.config.max_dead_letters})"))
        return events, rejects, nrej

    def _log_events(self, msg) -> tuple[list[Event], list, int]:
        events: list[Event] = []
        source = self.name
        now = _time.time()
        for rl in msg.resource_logs:
            res_attrs = flatten_attributes(rl.resource.attributes)
            res_bytes = rl.resource.SerializeToString(deterministic=True)
            for sl in rl.scope_logs:
                scope_attrs = {}
                if sl.scope.name:
                    scope_attrs["otel.scope.name"] = sl.scope.name
                if sl.scope.version:
                    scope_attrs["otel.scope.version"] = sl.scope.version
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
                    events.append(Event.create(source=source, kind="log", entity=self._entity(res_attrs, rattrs),
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
