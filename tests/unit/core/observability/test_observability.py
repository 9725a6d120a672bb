"""Prometheus exposition, OpenTelemetry spans per stage batch, structured logs config."""
from __future__ import annotations

import math

from agent.config import parse
from core.counters import Counters
from core.observability import metrics, tracing
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from tests.support.synthetic import SyntheticCollector


def test_histogram_buckets_and_text():
    h = metrics.HISTOGRAMS.histogram("warden_test_x_seconds", "a test histogram", buckets=(0.1, 1.0), stage="act")
    for v in (0.05, 0.5, 0.5, 5.0):
        h.observe(v)
    text = metrics.render(Counters()).decode()
    assert 'warden_test_x_seconds_bucket{le="0.1",stage="act"} 1.0' in text
    assert 'warden_test_x_seconds_bucket{le="1.0",stage="act"} 3.0' in text
    assert 'warden_test_x_seconds_bucket{le="+Inf",stage="act"} 4.0' in text
    assert 'warden_test_x_seconds_count{stage="act"} 4.0' in text
    assert "# TYPE warden_test_x_seconds histogram" in text
    assert h.quantile(0.5) == 1.0 and h.quantile(1.0) == math.inf


def test_conventional_names_gauges_and_process_metrics():
    c = Counters()
    c.inc("http.status_400", 3)
    c.inc("act.backpressure_seconds", 1.5)
    metrics.GAUGES.set("warden_test_level", 4, "a level", stage="detect")
    metrics.observe_http("POST", "/v1/ingest", 413, 0.01)
    text = metrics.render(c).decode()
    assert "status_400" not in text                     # the code is a label, never in a name
    assert 'warden_http_requests_total{code="413",method="POST",route="/v1/ingest"}' in text
    assert "# TYPE warden_http_request_duration_seconds histogram" in text
    assert "# TYPE warden_test_level gauge" in text and "warden_test_level_total" not in text
    assert 'warden_backpressure_seconds_total{detail="",stage="act"} 1.5' in text
    assert "process_resident_memory_bytes" in text and "python_gc_collections_total" in text
    for line in text.splitlines():                      # _total only on counters
        if line.startswith("# TYPE ") and line.split()[2].endswith("_total"):
            assert line.split()[3] == "counter"


def test_counter_names_and_label_escaping():
    assert metrics.counter_series("detect.events") == ("warden_events_total", {"stage": "detect"})
    assert metrics.counter_series("act.dedup") == ("warden_dedup_total", {"stage": "act"})
    name, labels = metrics.counter_series('collect.deadletter.we"ird\nname')
    c = Counters()
    c.inc('collect.deadletter.we"ird\nname')
    text = metrics.render(c).decode()
    assert '\\"' in text and "\\n" in text
    for line in text.splitlines():
        assert line.startswith(("#", "warden_", "process_", "python_"))


def test_pipeline_metrics_and_spans(tmp_path):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exp = InMemorySpanExporter()
    tracing.setup(exporter=exp)
    try:
        cfg = parse({"data_dir": str(tmp_path / "w")})
        p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[SyntheticCollector("synthetic/t")],
                     http=False)
        p.drain()
        text = metrics.render(p.rt.counters).decode()
        p.close()
    finally:
        tracing.shutdown()
    names = {s.name for s in exp.get_finished_spans()}
    assert {"warden.detect.batch", "warden.decide.batch", "warden.act.batch", "warden.detect.checkpoint"} <= names
    batch = next(s for s in exp.get_finished_spans() if s.name == "warden.detect.batch")
    assert batch.attributes["warden.stage"] == "detect" and batch.attributes["warden.records"] > 0
    assert 'warden_events_total{detail="",stage="detect"} 1200.0' in text
    assert 'warden_stage_batch_seconds_count{stage="detect"}' in text
    assert "# TYPE warden_consumer_lag gauge" in text
    assert not tracing.enabled()


def test_config_fields_for_observability_and_state():
    import pytest

    from core.errors import ConfigError
    cfg = parse({"pipeline": {"state": "kafka", "tracing": "console", "log_format": "json"}})
    assert (cfg.pipeline.state, cfg.pipeline.tracing, cfg.pipeline.log_format) == ("kafka", "console", "json")
    for bad in ({"state": "redis"}, {"tracing": "jaeger"}, {"log_format": "xml"}):
        with pytest.raises(ConfigError):
            parse({"pipeline": bad})


def test_kafka_credentials_from_environment():
    from core.bus.kafka_settings import client_options, redacted
    cfg = parse({"bus": {"kafka": {"security_protocol": "SASL_SSL"}}})
    env = {"WARDEN_KAFKA_SASL_USERNAME": "warden", "WARDEN_KAFKA_SASL_PASSWORD": "pw",
           "WARDEN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "WARDEN_KAFKA_SSL_CAFILE": "/etc/ca.pem"}
    opts = client_options(cfg.bus, env)
    assert opts == {"security_protocol": "SASL_SSL", "sasl_plain_username": "warden", "sasl_plain_password": "pw",
                    "sasl_mechanism": "SCRAM-SHA-512", "ssl_cafile": "/etc/ca.pem"}
    assert redacted(opts)["sasl_plain_password"] == "***"


def test_es_basic_auth_from_environment(monkeypatch):
    from core.stores.elasticsearch import ElasticsearchStore
    monkeypatch.setenv("WARDEN_ES_USERNAME", "elastic")
    monkeypatch.setenv("WARDEN_ES_PASSWORD", "pw")
    cfg = parse({"store": {"type": "elasticsearch"}})
    s = ElasticsearchStore(cfg.store)
    try:
        assert s.es._headers.get("authorization", "").startswith("Basic ")
    finally:
        s.close()


def test_a_detect_only_replica_serves_metrics_when_http_is_on(tmp_path):
    import requests
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "token": "t0k" * 6}})
    p = Pipeline(cfg, stages=("detect",), runtime=Runtime(cfg, counters=Counters()))
    try:
        p.start()
        p.stages[0].step(0)
        host, port = p.http.address
        r = requests.get(f"http://{host}:{port}/metrics", headers={"Authorization": "Bearer " + "t0k" * 6}, timeout=5)
        assert r.status_code == 200 and "# TYPE warden_" in r.text
        assert requests.get(f"http://{host}:{port}/metrics", timeout=5).status_code == 401
        assert requests.get(f"http://{host}:{port}/healthz", timeout=5).status_code == 200
    finally:
        p.close()
