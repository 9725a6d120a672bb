"""Property-based bad input (hypothesis): every input format and every HTTP endpoint of the
collectors (OTLP /v1/metrics /v1/logs, /v1/ingest, /v1/inference, /v1/guard, /v1/audit/k8s) get
random and malformed JSON, protobuf garbage, deep nesting, huge fields and invalid UTF-8.
The agent never crashes: parsers return events or raise FormatError; the server answers every
request with a 2xx/4xx (never a 500 from an unexpected exception) and keeps serving; bad records
reach the dead-letter topic with a reason and the counters move. Example counts stay modest."""
from __future__ import annotations

import gzip
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import codec
from agent.config import parse
from core.counters import Counters
from core.event import Event
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.formats import FormatError, all_formats, parse_record

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
TOKEN = "prop-test-token-0123456789"

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=40))
KEYS = ["eventName", "eventSource", "userIdentity", "kind", "apiVersion", "items", "verb", "user", "objectRef",
        "protoPayload", "logName", "resource", "model", "messages", "choices", "inputs", "outputs", "prompt",
        "client", "v", "type", "id", "time", "entity", "name", "value", "attributes", "Records", "detail",
        "requestParameters", "sourceIPAddress", "responseStatus", "stage", "timestamp", "usage", "content", "role"]
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=12))
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)), max_leaves=30)


def nested(depth: int, leaf="x"):
    v: object = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"items": v}
    return v


FORMATS = sorted(all_formats())


@pytest.mark.parametrize("fmt", FORMATS + ["auto"])
@SETTINGS
@given(record=json_values)
def test_every_format_returns_events_or_a_reason(fmt, record):
    try:
        events = parse_record(record, fmt, "prop/test")
    except FormatError as e:
        assert str(e)
        return
    assert isinstance(events, list)
    for ev in events:
        assert isinstance(ev, Event)
        codec.decode(codec.encode(ev), "event")      # what a parser returns can go on the bus


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_survives_deep_nesting_and_huge_fields(fmt):
    for record in (nested(400), {"Records": [nested(200)]}, {"items": [{"a": "x" * 2_000_000}]},
                   {"messages": [{"role": "user", "content": "\udcff" * 1000}]}, [None] * 10000,
                   {"eventName": "x" * 100000, "eventSource": "s3.amazonaws.com"}):
        try:
            parse_record(record, fmt, "prop/test")
        except FormatError:
            pass


# ------------------------------------------------------------------------------- HTTP
ENDPOINTS = ["/v1/metrics", "/v1/logs", "/v1/ingest", "/v1/inference", "/v1/guard", "/v1/audit/k8s"]


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    d = tmp_path_factory.mktemp("prop")
    cfg = parse({"data_dir": str(d), "http": {"enabled": True, "port": 0, "token": TOKEN, "rate_limit_rps": 0,
                                              "max_body_bytes": 3 << 20},
                 "collectors": {"otlp/p": {}, "http_ingest/p": {}, "guard/p": {"warmup": False},
                                "k8s_audit_webhook/p": {}}})
    counters = Counters()
    p = Pipeline(cfg, stages=("collect",), runtime=Runtime(cfg, counters=counters))
    p.start()
    host, port = p.http.address
    base = f"http://{host}:{port}"
    sess = requests.Session()
    sess.headers["Authorization"] = f"Bearer {TOKEN}"
    statuses: list[tuple[str, int]] = []

    def post(path, body, ctype="application/json", **headers):
        r = sess.post(base + path, data=body, headers={"Content-Type": ctype, **headers}, timeout=30)
        statuses.append((path, r.status_code))
        assert r.status_code < 500, (path, r.status_code, r.text[:300], body[:200])
        return r
    yield {"p": p, "post": post, "base": base, "counters": counters, "statuses": statuses, "sess": sess}
    p.close()


@SETTINGS
@given(path=st.sampled_from(ENDPOINTS), body=json_values)
def test_endpoints_random_json(agent, path, body):
    agent["post"](path, json.dumps(body).encode())


@SETTINGS
@given(path=st.sampled_from(ENDPOINTS), body=st.binary(max_size=2000),
       ctype=st.sampled_from(["application/json", "application/x-protobuf", "application/octet-stream",
                              "text/plain", "application/x-ndjson"]))
def test_endpoints_random_bytes_and_protobuf_garbage(agent, path, body, ctype):
    agent["post"](path, body, ctype)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(ENDPOINTS), body=st.binary(max_size=500))
def test_endpoints_gzip_garbage(agent, path, body):
    agent["post"](path, gzip.compress(body), "application/json", **{"Content-Encoding": "gzip"})
    agent["post"](path, body, "application/x-protobuf", **{"Content-Encoding": "gzip"})


@pytest.mark.parametrize("path", ENDPOINTS)
def test_endpoints_pathological_bodies(agent, path):
    post = agent["post"]
    post(path, b"[" * 200_000 + b"]" * 200_000)                      # deep nesting
    post(path, b'{"items": ' * 3000 + b'"x"' + b"}" * 3000)
    post(path, json.dumps({"prompt": "A" * 2_500_000, "model": "m"}).encode())   # huge field
    post(path, b'{"prompt": "\xff\xfe\xc3\x28 invalid utf-8", "model": "m"}')
    post(path, b'{"resourceMetrics": [{"scopeMetrics": "nope"}]}')
    post(path, gzip.compress(b"\x00" * (20 << 20)), "application/x-protobuf", **{"Content-Encoding": "gzip"})  # bomb
    post(path, b"\x0a\xff\xff\xff\xff\x0f" + b"\x00" * 100, "application/x-protobuf")   # truncated length
    post(path, b"")


def test_after_the_storm_the_server_serves_and_bad_input_was_dead_lettered(agent):
    r = agent["sess"].get(agent["base"] + "/healthz", timeout=10)
    assert r.status_code == 200
    good = {"v": 1, "type": "event", "id": "e1", "time": 1.7e9, "kind": "metric", "source": "t/x", "entity": "n1",
            "name": "gpu.utilization", "value": 0.5, "attributes": {}}
    r = agent["post"]("/v1/ingest", json.dumps(good).encode())
    assert r.status_code < 300
    rt = agent["p"].rt
    letters = [codec.loads(x.value) for x in rt.bus.records(rt.topic("deadletter"))]
    assert letters, "bad records must reach the dead-letter topic"
    assert all(d["reason"] and d["stage"] == "collect" for d in letters)
    c = agent["counters"]
    assert c.get("collect.deadletter") == len(letters)
    assert c.get("http.requests") >= len(agent["statuses"])
    codes = {s for _, s in agent["statuses"]}
    assert codes <= set(range(200, 500)) and any(400 <= s < 500 for s in codes)
