"""The embedded default stays bounded under ingest (issue #14: 50k inference records raised RSS for
good): records leave memory once the stages committed them, and when the bus holds `max_held_records`
the ingest routes answer 503 + Retry-After until the stages catch up. Counted in records held,
not in RSS or time."""
from __future__ import annotations

import orjson
import pytest
import requests

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.audit.webhook import K8sAuditWebhook
from collectors.http_ingest import HttpIngestCollector
from collectors.otlp import OtlpCollector
from tests.support.records import k8s

BATCH = 500


def inference(i: int) -> dict:
    return {"schema": "warden.inference", "model": f"m{i % 5}", "time": 1767571200 + i,
            "features": {"x": i % 13, "y": 0.5}, "prediction": i % 2, "client_id": f"c{i % 50}"}


def otlp_gauge(n: int) -> dict:
    points = [{"timeUnixNano": str(1767571200_000_000_000 + i * 10**9), "asDouble": 0.5} for i in range(n)]
    return {"resourceMetrics": [{"resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "n1"}}]},
                                 "scopeMetrics": [{"metrics": [{"name": "gpu.util", "gauge": {"dataPoints": points}}]}]}]}


def served(tmp_path, max_held):
    cfg = parse({"data_dir": str(tmp_path / "w"), "bus": {"max_held_records": max_held},
                 "http": {"enabled": True, "port": 0, "allow_unauthenticated": True, "max_body_bytes": 10_000_000}})
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), detectors=[], responders=[],
                 collectors=[HttpIngestCollector("http_ingest/t"), K8sAuditWebhook("k8s/t"), OtlpCollector("otlp/t")])
    p.start()
    host, port = p.http.address
    return p, f"http://{host}:{port}"


def run_stages(p):
    for s in p.stages[1:]:
        while s.step(0):
            pass
        s.checkpoint()


def post(url, path, records):
    return requests.post(url + path, data=orjson.dumps(records), headers={"Content-Type": "application/json"})


def test_fifty_thousand_records_leave_memory_once_processed(tmp_path):
    p, url = served(tmp_path, max_held=5 * BATCH)
    try:
        peak = 0
        for b in range(100):
            r = post(url, "/v1/inference", [inference(b * BATCH + i) for i in range(BATCH)])
            assert r.status_code == 200 and r.json()["accepted"] == BATCH
            peak = max(peak, p.rt.bus.held())
            run_stages(p)
        assert sum(p.rt.bus.end_offsets(p.rt.topic("inference")).values()) == 100 * BATCH
        assert peak <= 2 * BATCH                         # one batch in flight, plus what it derived
        assert p.rt.bus.held() <= 2 * BATCH
    finally:
        p.close()


@pytest.mark.parametrize("path, body", [
    ("/v1/inference", [inference(i) for i in range(BATCH)]),
    ("/v1/ingest?format=auto", [inference(i) for i in range(BATCH)]),
    ("/v1/audit/k8s", {"kind": "EventList", "items": [k8s(i) for i in range(BATCH)]}),
    ("/v1/metrics", otlp_gauge(BATCH)),
])
def test_a_full_bus_answers_503_with_retry_after_until_the_stages_catch_up(tmp_path, path, body):
    p, url = served(tmp_path, max_held=BATCH)
    try:
        assert post(url, path, body).status_code == 200
        busy = post(url, path, body)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert p.rt.bus.held() == BATCH                   # the refused request added nothing
        run_stages(p)
        assert post(url, path, body).status_code == 200
    finally:
        p.close()
