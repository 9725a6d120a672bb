import base64
import gzip
import math

import orjson
import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as lsvc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as msvc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from core import registry
from core.errors import ConfigError
from agent.http.server import HttpServer
from core.http import Request
from collectors.base import ListEmitter
from collectors.otlp import JSON, PROTOBUF, OtlpCollector

T = 1767571200_000_000_000  # 2026-01-05T00:00:00Z in ns


def kv(key, value):
    v = common_pb2.AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list):
        v.array_value.values.extend(kv("x", x).value for x in value)
    elif isinstance(value, dict):
        v.kvlist_value.values.extend(kv(k, x) for k, x in value.items())
    else:
        v.string_value = value
    return common_pb2.KeyValue(key=key, value=v)


def resource_metrics(res, metrics, scope="warden-test"):
    rm = metrics_pb2.ResourceMetrics()
    rm.resource.attributes.extend(kv(k, v) for k, v in res.items())
    sm = rm.scope_metrics.add()
    sm.scope.name = scope
    sm.scope.version = "1.0"
    sm.metrics.extend(metrics)
    return rm


def gauge(name, points, unit=""):
    m = metrics_pb2.Metric(name=name, unit=unit)
    for t, v, attrs in points:
        p = m.gauge.data_points.add(time_unix_nano=t)
        if isinstance(v, float):
            p.as_double = v
        elif isinstance(v, int):
            p.as_int = v
        p.attributes.extend(kv(k, x) for k, x in attrs.items())
    return m


def sample_request():
    req = msvc.ExportMetricsServiceRequest()
    req.resource_metrics.append(resource_metrics(
        {"k8s.node.name": "gpu-node-1", "host.name": "ip-10-0-1-11", "service.name": "dcgm-exporter",
         "k8s": {"cluster": {"name": "ml-prod"}}, "host.ip": ["10.0.1.11", "fe80::1"], "blob": b"\x00\x01"},
        [gauge("gpu.memory.used", [(T, 6.1e10, {"gpu.index": 0}), (T + 60_000_000_000, 6.2e10, {"gpu.index": 0})],
               unit="By"),
         gauge("gpu.utilization", [(T, 0.93, {"gpu.index": 0, "host.name": "overridden"})])]))
    s = metrics_pb2.Metric(name="http.server.request.count", unit="{request}")
    s.sum.is_monotonic = True
    s.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    s.sum.data_points.add(time_unix_nano=T, start_time_unix_nano=T - 10**10, as_int=420).attributes.append(
        kv("http.route", "/v1/chat/completions"))
    h = metrics_pb2.Metric(name="http.server.request.duration", unit="s")
    h.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    h.histogram.data_points.add(time_unix_nano=T, count=4, sum=10.0, min=1.0, max=4.0,
                                explicit_bounds=[1.0, 2.5], bucket_counts=[1, 1, 2])
    h.histogram.data_points.add(time_unix_nano=T + 1, count=0)     # no observations: value None
    sm = metrics_pb2.Metric(name="rpc.latency")
    q = sm.summary.data_points.add(time_unix_nano=T, count=2, sum=3.0)
    q.quantile_values.add(quantile=0.5, value=1.4)
    req.resource_metrics.append(resource_metrics({"service.name": "llm-chat"}, [s, h, sm]))
    return req


def bad_points_request():
    req = msvc.ExportMetricsServiceRequest()
    m_ok = gauge("gpu.temperature", [(T, 66.5, {})])
    m_noval = gauge("gpu.temperature", [(T, None, {})])
    m_nan = gauge("gpu.temperature", [(T, math.nan, {})])
    m_notime = gauge("gpu.temperature", [(0, 1.0, {})])
    m_noname = gauge("", [(T, 1.0, {})])
    flagged = gauge("gpu.temperature", [(T, 1.0, {})])
    flagged.gauge.data_points[0].flags = 1
    req.resource_metrics.append(resource_metrics({"host.name": "gpu-node-2"},
                                                 [m_ok, m_noval, m_nan, m_notime, m_noname, flagged]))
    return req


def make(**opts):
    c = OtlpCollector("t", **opts)
    em = ListEmitter()
    c.bind(em)
    c.start()
    return c, em


def post(c, body, ctype=PROTOBUF, path="/v1/metrics", **headers):
    h = {"content-type": ctype, **{k.replace("_", "-"): v for k, v in headers.items()}}
    handler = c.routes()[("POST", path)]
    return handler(Request("POST", path, {}, h, body))


def by_name(events):
    out = {}
    for e in events:
        out.setdefault(e.name, []).append(e)
    return out


def test_registered_config_and_routes():
    assert registry.get("collector", "otlp") is OtlpCollector
    c = OtlpCollector()
    assert set(c.routes()) == {("POST", "/v1/metrics"), ("POST", "/v1/logs")}
    assert c.entity_attributes == ["k8s.node.name", "host.name", "service.name", "k8s.pod.name"]
    c2 = registry.create("collector", "otlp/b", {"metrics_path": "/otlp/v1/metrics", "logs_path": "/otlp/v1/logs"})
    assert ("POST", "/otlp/v1/metrics") in c2.routes()
    for bad in ({"entity_attributes": []}, {"metrics_path": "v1"}, {"max_decompressed_bytes": 0},
                {"logs_path": "/v1/metrics"}):
        with pytest.raises(ConfigError):
            OtlpCollector(**bad)


def test_metrics_protobuf_to_events():
    c, em = make()
    resp = post(c, sample_request().SerializeToString())
    assert resp.status == 200 and resp.content_type == PROTOBUF
    r = msvc.ExportMetricsServiceResponse.FromString(resp.body)
    assert not r.HasField("partial_success") or r.partial_success.rejected_data_points == 0
    assert em.dead == []
    ev = by_name(em.events)
    assert sum(map(len, ev.values())) == 7
    mem = ev["gpu.memory.used"]
    assert [e.value for e in mem] == [6.1e10, 6.2e10]
    assert [e.time for e in mem] == [T / 1e9, T / 1e9 + 60]
    m0 = mem[0]
    assert m0.kind == "metric" and m0.entity == "gpu-node-1" and m0.source == "otlp/t"
    a = m0.attributes
    assert a["k8s.cluster.name"] == "ml-prod"                   # nested kvlist flattened
    assert a["host.ip"] == ["10.0.1.11", "fe80::1"]             # arrays as lists
    assert a["blob"] == base64.b64encode(b"\x00\x01").decode()  # bytes as base64
    assert a["gpu.index"] == 0 and isinstance(a["gpu.index"], int)
    assert a["otel.metric.type"] == "gauge" and a["otel.metric.unit"] == "By"
    assert a["otel.scope.name"] == "warden-test" and a["otel.scope.version"] == "1.0"
    assert ev["gpu.utilization"][0].attributes["host.name"] == "overridden"   # point attrs win
    cnt = ev["http.server.request.count"][0]
    assert cnt.entity == "llm-chat" and cnt.value == 420.0
    assert cnt.attributes["otel.metric.monotonic"] is True
    assert cnt.attributes["otel.metric.temporality"] == "cumulative"
    assert cnt.attributes["http.route"] == "/v1/chat/completions"
    h, empty = ev["http.server.request.duration"]
    assert h.value == 2.5                                       # mean = sum / count
    assert (h.attributes["histogram.count"], h.attributes["histogram.sum"]) == (4, 10.0)
    assert (h.attributes["histogram.min"], h.attributes["histogram.max"]) == (1.0, 4.0)
    assert h.attributes["histogram.bucket_counts"] == [1, 1, 2]
    assert h.attributes["otel.metric.temporality"] == "delta"
    assert empty.value is None and empty.attributes["histogram.count"] == 0
    s = ev["rpc.latency"][0]
    assert s.value == 1.5 and s.attributes["summary.quantiles"] == [[0.5, 1.4]]
    assert len({e.id for e in em.events}) == 7


def test_entity_attribute_order_is_configurable():
    c, em = make(entity_attributes=["host.name", "service.name"], default_entity="nowhere")
    post(c, sample_request().SerializeToString())
    assert by_name(em.events)["gpu.memory.used"][0].entity == "ip-10-0-1-11"
    req = msvc.ExportMetricsServiceRequest()
    req.resource_metrics.append(resource_metrics({"cloud.region": "x"}, [gauge("g", [(T, 1.0, {})])]))
    c2, em2 = make(default_entity="nowhere")
    post(c2, req.SerializeToString())
    assert em2.events[0].entity == "nowhere"


def test_resent_exports_get_the_same_ids_protobuf_or_json():
    req = sample_request()
    c, em = make()
    post(c, req.SerializeToString())
    post(c, req.SerializeToString())
    ids = [e.id for e in em.events]
    assert ids[:7] == ids[7:]
    js = json_format.MessageToJson(req).encode()
    resp = post(c, js, JSON)
    assert resp.status == 200 and resp.content_type == JSON
    assert [e.id for e in em.events[14:]] == ids[:7]


def test_partial_success_and_dead_letters_for_invalid_points():
    c, em = make()
    resp = post(c, bad_points_request().SerializeToString())
    assert resp.status == 200
    ps = msvc.ExportMetricsServiceResponse.FromString(resp.body).partial_success
    assert ps.rejected_data_points == 5
    assert "5 data points rejected" in ps.error_message and "without a value" in ps.error_message
    assert [e.value for e in em.events] == [66.5]
    reasons = [r for _, r, _ in em.dead]
    assert len(reasons) == 5 and all(r.startswith("otlp: ") for r in reasons)
    text = " | ".join(reasons)
    for frag in ("without a value", "non-finite", "without time_unix_nano", "metric without a name",
                 "no recorded value"):
        assert frag in text
    assert isinstance(em.dead[0][0], dict) and em.dead[0][2] == "otlp/t"
    # dead letters are capped per request, with one summary letter
    c2, em2 = make(max_dead_letters=2)
    post(c2, bad_points_request().SerializeToString())
    assert len(em2.dead) == 3 and "3 more rejected data points" in em2.dead[-1][1]
    # JSON response carries partialSuccess too
    c3, _ = make()
    r3 = post(c3, json_format.MessageToJson(bad_points_request()).encode(), JSON)
    assert orjson.loads(r3.body)["partialSuccess"]["rejectedDataPoints"] in ("5", 5)


OTLP_JSON_METRICS = {
    "resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "fraud-scorer"}},
                                    {"key": "k8s.pod.name", "value": {"stringValue": "fraud-scorer-7d9f"}}]},
        "scopeMetrics": [{
            "scope": {"name": "my.library", "version": "1.0.0"},
            "metrics": [
                {"name": "my.counter", "unit": "1", "sum": {
                    "aggregationTemporality": 1, "isMonotonic": True,
                    "dataPoints": [{"asDouble": 5, "startTimeUnixNano": "1767571140000000000",
                                    "timeUnixNano": "1767571200000000000",
                                    "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}],
                                    "exemplars": [{"asDouble": 1.0, "timeUnixNano": "1767571199000000000",
                                                   "traceId": "5b8efff798038103d269b633813fc60c",
                                                   "spanId": "eee19b7ec3c1b174"}]}]}},
                {"name": "my.gauge", "gauge": {"dataPoints": [{"asInt": "10", "timeUnixNano": 1767571200000000000}]}},
                {"name": "my.histogram", "histogram": {"aggregationTemporality": 1, "dataPoints": [{
                    "timeUnixNano": "1767571200000000000", "count": "2", "sum": 2, "bucketCounts": ["1", "1"],
                    "explicitBounds": [1], "min": 0, "max": 2}]}},
                {"name": "snake", "gauge": {"data_points": [{"as_double": 1.5, "time_unix_nano": "1767571200000000000"}]},
                 "futureField": {"x": 1}},
            ]}]}]}


def test_otlp_json_mapping():
    c, em = make()
    resp = post(c, orjson.dumps(OTLP_JSON_METRICS), "application/json; charset=utf-8")
    assert resp.status == 200, resp.body
    ev = by_name(em.events)
    assert ev["my.counter"][0].value == 5.0 and ev["my.counter"][0].entity == "fraud-scorer"
    assert ev["my.counter"][0].attributes["otel.metric.temporality"] == "delta"
    assert ev["my.gauge"][0].value == 10.0 and ev["my.gauge"][0].time == 1767571200.0
    assert ev["my.histogram"][0].value == 1.0
    assert ev["snake"][0].value == 1.5
    assert em.dead == []


def test_gzip_and_decompression_cap():
    body = sample_request().SerializeToString()
    c, em = make()
    r = post(c, gzip.compress(body), PROTOBUF, content_encoding="gzip")
    assert r.status == 200 and len(em.events) == 7
    c2, em2 = make(max_decompressed_bytes=10_000)
    bomb = gzip.compress(b"\x00" * 5_000_000)
    r = post(c2, bomb, PROTOBUF, content_encoding="gzip")
    assert r.status == 413 and em2.events == []
    assert "decompressed body over 10000 bytes" in em2.dead[0][1] and len(em2.dead[0][0]) <= 1024
    r = post(c2, b"not gzip at all", PROTOBUF, content_encoding="gzip")
    assert r.status == 400 and "invalid gzip body" in em2.dead[-1][1]
    r = post(c2, gzip.compress(body)[:-20], PROTOBUF, content_encoding="gzip")
    assert r.status == 400


def status_of(resp):
    """Decode the google.rpc.Status body (code=1 varint, message=2 string) without googleapis protos."""
    if resp.content_type == JSON:
        return orjson.loads(resp.body)
    b = resp.body
    assert b[0] == 0x08
    code = b[1]
    assert b[2] == 0x12
    n, i = 0, 3
    shift = 0
    while True:
        n |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            break
    return {"code": code, "message": b[i:i + n].decode()}


def test_undecodable_payloads_are_400_and_dead_lettered():
    c, em = make()
    garbage = b"\xff\xfe\xfd" * 1000
    r = post(c, garbage)
    assert r.status == 400
    st = status_of(r)
    assert st["code"] == 3 and "undecodable OTLP protobuf" in st["message"]
    raw, reason, src = em.dead[-1]
    assert raw == garbage[:1024] and "undecodable" in reason and src == "otlp/t"
    for body, frag in ((b"{not json", "invalid JSON"), (b"[1, 2]", "expected an object"),
                       (b'{"resourceMetrics": 5}', "undecodable OTLP JSON"),
                       (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}', "invalid traceId")):
        path = "/v1/logs" if b"resourceLogs" in body else "/v1/metrics"
        r = post(c, body, JSON, path=path)
        assert r.status == 400, body
        assert frag in status_of(r)["message"] and frag in em.dead[-1][1]
    assert em.events == []


def test_unsupported_content_type_and_encoding():
    c, em = make()
    body = sample_request().SerializeToString()
    r = post(c, body, "text/plain")
    assert r.status == 415 and "unsupported content type 'text/plain'" in status_of(r)["message"]
    r = post(c, body, "")
    assert r.status == 415
    r = post(c, body, PROTOBUF, content_encoding="br")
    assert r.status == 415 and "unsupported content encoding" in status_of(r)["message"]
    assert em.events == []


def logs_request():
    req = lsvc.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "llm-chat"), kv("k8s.pod.name", "llm-chat-7d9f8b6c5-x2v4q")])
    sl = rl.scope_logs.add()
    sl.scope.name = "app.logger"
    r1 = sl.log_records.add(time_unix_nano=T, severity_number=logs_pb2.SEVERITY_NUMBER_ERROR, severity_text="ERROR",
                            trace_id=bytes.fromhex("5b8efff798038103d269b633813fc60c"),
                            span_id=bytes.fromhex("eee19b7ec3c1b174"))
    r1.body.string_value = "CUDA out of memory"
    r1.attributes.append(kv("exception.type", "torch.OutOfMemoryError"))
    r2 = sl.log_records.add(observed_time_unix_nano=T + 5)
    r2.body.kvlist_value.values.extend([kv("msg", "hello"), kv("n", 3)])
    sl.log_records.add()   # no time at all: received time
    return req


def test_logs_protobuf_and_json():
    c, em = make()
    resp = post(c, logs_request().SerializeToString(), path="/v1/logs")
    assert resp.status == 200
    assert not lsvc.ExportLogsServiceResponse.FromString(resp.body).HasField("partial_success")
    e1, e2, e3 = em.events
    assert e1.kind == "log" and e1.name == "ERROR" and e1.entity == "llm-chat" and e1.time == T / 1e9
    assert e1.value is None
    a = e1.attributes
    assert a["log.body"] == "CUDA out of memory" and a["log.severity_number"] == 17 and a["log.level"] == "ERROR"
    assert a["trace.id"] == "5b8efff798038103d269b633813fc60c" and a["span.id"] == "eee19b7ec3c1b174"
    assert a["exception.type"] == "torch.OutOfMemoryError" and a["k8s.pod.name"] == "llm-chat-7d9f8b6c5-x2v4q"
    assert e2.name == "log" and orjson.loads(e2.attributes["log.body"]) == {"msg": "hello", "n": 3}
    assert e2.attributes["warden.time_source"] == "observed" and e2.time == (T + 5) / 1e9
    assert e3.attributes["warden.time_source"] == "received"
    # the OTLP JSON mapping: hex trace ids, camelCase, string int64
    js = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "llm-chat"}},
                                                         {"key": "k8s.pod.name",
                                                          "value": {"stringValue": "llm-chat-7d9f8b6c5-x2v4q"}}]},
                            "scopeLogs": [{"scope": {"name": "app.logger"}, "logRecords": [{
                                "timeUnixNano": str(T), "severityNumber": 17, "severityText": "ERROR",
                                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                                "body": {"stringValue": "CUDA out of memory"},
                                "attributes": [{"key": "exception.type",
                                                "value": {"stringValue": "torch.OutOfMemoryError"}}]}]}]}]}
    resp = post(c, orjson.dumps(js), JSON, path="/v1/logs")
    assert resp.status == 200 and resp.content_type == JSON
    j = em.events[-1]
    assert j.id == e1.id and j.attributes == e1.attributes    # same record, same id, same fields


def test_through_real_http_server_and_sdk_exporter():
    c, em = make()
    srv = HttpServer("127.0.0.1", 0)
    srv.add_routes(c.routes())
    srv.start()
    try:
        host, port = srv.address
        base = f"http://{host}:{port}"
        r = requests.post(base + "/v1/metrics", data=gzip.compress(sample_request().SerializeToString()),
                          headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == PROTOBUF
        assert len(em.events) == 7
        r = requests.post(base + "/v1/metrics", data=b"\x0a\xff", headers={"Content-Type": PROTOBUF}, timeout=10)
        assert r.status_code == 400
        r = requests.post(base + "/v1/metrics", data=b"x", headers={"Content-Type": "text/csv"}, timeout=10)
        assert r.status_code == 415
        r = requests.get(base + "/v1/metrics", timeout=10)
        assert r.status_code == 405

        # the real OpenTelemetry SDK + OTLP/HTTP exporter (its own protobuf encoder, gzip)
        exp_http = pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.resources import Resource
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create(
            {"service.name": "trainer", "k8s.node.name": "gpu-node-4", "host.name": "ip-10-0-1-14"}))
        meter = provider.get_meter("warden.test")
        meter.create_counter("training.steps").add(7, {"job.name": "llama-ft"})
        meter.create_histogram("training.step.duration", unit="s").record(1.25, {"job.name": "llama-ft"})
        meter.create_histogram("training.step.duration", unit="s").record(1.35, {"job.name": "llama-ft"})
        data = reader.get_metrics_data()
        exporter = OTLPMetricExporter(endpoint=base + "/v1/metrics", compression=exp_http.Compression.Gzip)
        before = len(em.events)
        assert exporter.export(data).name == "SUCCESS"
        got = by_name(em.events[before:])
        steps = got["training.steps"][0]
        assert steps.value == 7.0 and steps.entity == "gpu-node-4"
        assert steps.attributes["job.name"] == "llama-ft" and steps.attributes["service.name"] == "trainer"
        assert steps.attributes["otel.scope.name"] == "warden.test"
        dur = got["training.step.duration"][0]
        assert dur.value == pytest.approx(1.3) and dur.attributes["histogram.count"] == 2
        exporter.shutdown()
        provider.shutdown()

        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
        lp = LoggerProvider(resource=Resource.create({"service.name": "llm-chat"}))
        lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs")))
        from opentelemetry._logs import LogRecord, SeverityNumber
        before = len(em.events)
        lp.get_logger("warden.test").emit(LogRecord(body="GPU gpu-node-2 throttled", severity_text="WARN",
                                                    severity_number=SeverityNumber.WARN,
                                                    attributes={"k8s.node.name": "gpu-node-2"}))
        lp.force_flush()
        lp.shutdown()
        logs = [e for e in em.events[before:] if e.kind == "log"]
        assert len(logs) == 1
        assert logs[0].name == "WARN" and logs[0].attributes["log.severity_number"] == 13
        assert logs[0].attributes["log.body"] == "GPU gpu-node-2 throttled" and logs[0].entity == "llm-chat"
    finally:
        srv.close()


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=150, deadline=None)
@given(body=st.one_of(st.binary(max_size=300),
                      st.builds(lambda b, i: b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1:] if b else b,
                                st.just(sample_request().SerializeToString()), st.integers(0, 300)),
                      st.builds(lambda b, n: b[:n], st.just(logs_request().SerializeToString()), st.integers(0, 200))),
       path=st.sampled_from(["/v1/metrics", "/v1/logs"]), ctype=st.sampled_from([PROTOBUF, JSON]))
def test_arbitrary_bodies_never_raise(body, path, ctype):
    c, em = make()
    r = post(c, body, ctype, path=path)
    assert r.status in (200, 400)
    if r.status == 400:
        assert em.events == [] and em.dead and len(em.dead[-1][0]) <= 1024


def test_concurrent_exports_through_the_server():
    from concurrent.futures import ThreadPoolExecutor
    c, em = make()
    srv = HttpServer("127.0.0.1", 0)
    srv.add_routes(c.routes())
    srv.start()
    try:
        host, port = srv.address
        url = f"http://{host}:{port}/v1/metrics"

        def send(i):
            req = msvc.ExportMetricsServiceRequest()
            req.resource_metrics.append(resource_metrics(
                {"k8s.node.name": f"gpu-node-{i % 4 + 1}"},
                [gauge("gpu.utilization", [(T + i * 10**9 + j, 0.5, {}) for j in range(25)])]))
            with requests.Session() as s:
                return s.post(url, data=req.SerializeToString(), headers={"Content-Type": PROTOBUF},
                              timeout=10).status_code
        with ThreadPoolExecutor(8) as ex:
            codes = list(ex.map(send, range(40)))
        assert codes == [200] * 40
        assert len(em.events) == 40 * 25 and len({e.id for e in em.events}) == 40 * 25
        assert c.stats["events"] == 1000 and c.stats["requests"] == 40
    finally:
        srv.close()
