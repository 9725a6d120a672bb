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

import logging
import threading
import zlib
from dataclasses import dataclass, field
from typing import Callable

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from core.http import HttpError, Request, Response
from core.registry import register
from collectors.base import Collector
from collectors.bodies import GZIP_WBITS, inflate_bounded
from collectors.otlp_convert import Converter
from collectors.otlp_wire import JSON, PROTOBUF, BadRequest, decode_request, status_body

log = logging.getLogger("warden.collectors.otlp")

_PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
RAW_LIMIT = 1024
DEFAULT_ENTITY_ATTRIBUTES = ["k8s.node.name", "host.name", "service.name", "k8s.pod.name"]


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
        c = self.config
        self._convert = Converter(self.name, c.entity_attributes, c.default_entity, c.max_dead_letters)

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {("POST", self.config.metrics_path): self.handle_metrics,
                ("POST", self.config.logs_path): self.handle_logs}

    # -- HTTP handlers ----------------------------------------------------------------------------
    def handle_metrics(self, req: Request) -> Response:
        return self._handle(req, metrics_service_pb2.ExportMetricsServiceRequest,
                            metrics_service_pb2.ExportMetricsServiceResponse, self._convert.metric_events,
                            "rejected_data_points")

    def handle_logs(self, req: Request) -> Response:
        return self._handle(req, logs_service_pb2.ExportLogsServiceRequest,
                            logs_service_pb2.ExportLogsServiceResponse, self._convert.log_events,
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
            msg = decode_request(body, req_cls, is_json)
        except BadRequest as e:
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
        body, ctype = status_body(code, reason, json)
        return Response(status, body, ctype)

    def _decompress(self, req: Request) -> bytes:
        enc = req.headers.get("content-encoding", "").strip().lower()
        if enc in ("", "identity"):
            return req.body
        if enc not in ("gzip", "deflate", "x-gzip"):
            raise BadRequest(415, f"unsupported content encoding {enc!r} (gzip, deflate or none)")
        wbits = GZIP_WBITS if enc in ("gzip", "x-gzip") else zlib.MAX_WBITS
        try:
            return inflate_bounded(req.body, self.config.max_decompressed_bytes, wbits=wbits, what=enc)
        except HttpError as e:
            raise BadRequest(e.status, e.reason) from None
