"""HTTP ingest through the real HTTP server and the collect stage: good records become events
on the right topics, bad ones become dead letters with reasons, the answer counts both."""
from __future__ import annotations

import orjson
import pytest
import requests

from core import codec
from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.http_ingest import HttpIngestCollector

CLOUDTRAIL = {"eventVersion": "1.08", "eventTime": "2026-01-05T00:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "10.0.0.1",
              "userAgent": "aws-cli/2", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice",
                                                         "accountId": "1", "userName": "alice"}}


@pytest.fixture
def served(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "allow_unauthenticated": True, "max_body_bytes": 100_000}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, stages=("collect",), collectors=[HttpIngestCollector("http_ingest/t")])
    p.start()
    host, port = p.http.address
    yield rt, f"http://{host}:{port}"
    p.close()


def topic_events(rt, suffix):
    return [codec.decode(r.value) for r in rt.bus.records(rt.topic(suffix))]


def test_json_array_with_good_and_bad_records(served):
    rt, url = served
    bad = {"what": "is this"}
    r = requests.post(f"{url}/v1/ingest?format=auto", data=orjson.dumps([CLOUDTRAIL, bad]),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1 and body["dead_lettered"] == 1
    assert body["reasons"] == [{"record": "[1]", "reason": "unknown record shape: no format recognises it"}]
    assert body["durability"].startswith("not durable")
    audit = topic_events(rt, "audit")
    assert len(audit) == 1 and audit[0].name == "GetObject" and audit[0].kind == "audit"
    letters = [orjson.loads(x.value) for x in rt.bus.records(rt.topic("deadletter"))]
    assert letters[0]["raw"] == bad and letters[0]["source"] == "http_ingest/t"


def test_json_lines_sent_as_application_json_are_refused_with_the_content_type_to_use(served):
    rt, url = served
    body = orjson.dumps(CLOUDTRAIL) + b"\n" + orjson.dumps(CLOUDTRAIL) + b"\n"
    r = requests.post(f"{url}/v1/ingest?format=cloudtrail", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["dead_lettered"] == 1
    assert "send it as Content-Type: application/x-ndjson" in r.json()["reasons"][0]["reason"]
    r = requests.post(f"{url}/v1/ingest", data=b"{broken", headers={"Content-Type": "application/json"})
    assert "x-ndjson" not in r.json()["reasons"][0]["reason"]       # not JSON at all: no such hint


def test_ndjson_with_a_broken_line(served):
    rt, url = served
    body = orjson.dumps(CLOUDTRAIL) + b"\n{broken\n"
    r = requests.post(f"{url}/v1/ingest?format=cloudtrail", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.json()["accepted"] == 1 and r.json()["dead_lettered"] == 1
    assert r.json()["reasons"][0]["record"] == "line 2"
    assert rt.counters.get("collect.deadletter") == 1


@pytest.mark.parametrize("path, headers, data, status", [
    ("/v1/ingest?format=nope", {"Content-Type": "application/json"}, b"{}", 400),
    ("/v1/ingest", {"Content-Type": "text/plain"}, b"hi", 415),
    ("/v1/ingest", {"Content-Type": "application/json"}, b"{not json", 400),
    ("/v1/ingest", {"Content-Type": "application/json"}, b"[" + b"1," * 60_000 + b"1]", 413),
    ("/v1/nowhere", {"Content-Type": "application/json"}, b"{}", 404),
])
def test_bad_requests_get_clear_errors(served, path, headers, data, status):
    rt, url = served
    r = requests.post(url + path, data=data, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]
    assert requests.post(f"{url}/v1/ingest", json=CLOUDTRAIL).status_code == 200   # still serving


def test_a_record_no_inference_format_reads_is_refused_with_every_formats_reason(served):
    """/v1/inference tries four formats; the refusal names each one's reason, not only the last
    one's ("kserve-v1: no instances and no predictions" for a record that is not KServe at all)."""
    rt, url = served
    r = requests.post(f"{url}/v1/inference", json={"modle": "fraud", "features": {"a": 1}})
    assert r.status_code == 400
    reason = r.json()["reasons"][0]["reason"]
    assert reason.startswith("none of warden-inference, openai-chat, kserve-v2, kserve-v1 reads it: ")
    assert "warden-inference: missing model name" in reason and "kserve-v1: " in reason


def test_inference_endpoint_reads_openai_chat(served):
    rt, url = served
    rec = {"model": "llm-chat", "user": "client-7", "messages": [{"role": "user", "content": "hello there"}]}
    r = requests.post(f"{url}/v1/inference", json=rec)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    ev = topic_events(rt, "inference")[0]
    assert ev.kind == "inference"
