"""Poison records (issue #14): a record that parses but carries a value no sink holds (a time in
year 586,524, an integer beyond 64 bits) is dead-lettered at the door with its reason, over HTTP and
by `warden replay`; one that slips past the collectors (written to the bus by another producer)
stops no stage; and the sinks themselves (store timestamps, JSON, snapshots) never raise on such
values."""
from __future__ import annotations

import orjson
import pytest
import requests

from core import codec, snapshot
from agent.config import parse
from core.counters import Counters
from core.event import Event
from core.event_bounds import out_of_bounds
from core.names import TOPIC_OF_KIND
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.times import iso
from collectors.audit.webhook import K8sAuditWebhook
from collectors.http_ingest import HttpIngestCollector
from collectors.replay import ReplayCollector
from tests.support.records import cloudtrail, k8s

TIME_REASON = "outside 1970..2100 UTC"
INT_REASON = "outside the signed 64-bit range"


def event_record(**kw) -> dict:
    rec = {"v": 1, "type": "event", "id": "e1", "time": 1767571200.0, "kind": "log", "source": "t",
           "entity": "svc", "name": "line", "attributes": {"n": 1}}
    rec.update(kw)
    return rec


#: (name, format, poison record, a good record of the same format, what the reason says)
POISON = [
    ("event time in year 586,524", "event", event_record(time=18446744073709.0), event_record(), TIME_REASON),
    ("event time before 1970", "event", event_record(time=-1e9), event_record(), TIME_REASON),
    ("event observed_time text", "event", event_record(observed_time="soon"), event_record(), "must be a number"),
    ("event attribute over int64", "event", event_record(attributes={"n": 2 ** 64 - 1}), event_record(),
     INT_REASON),
    ("nested event attribute over int64", "event", event_record(attributes={"a": [{"b": 2 ** 63}]}),
     event_record(), INT_REASON),
    ("cloudtrail eventTime in year 9999", "cloudtrail", dict(cloudtrail(1), eventTime="9999-12-31T00:00:00Z"),
     cloudtrail(0), TIME_REASON),
    ("k8s response code beyond 64 bits", "k8s-audit", dict(k8s(1), responseStatus={"code": 1e29}), k8s(0),
     INT_REASON),
]
IDS = [p[0] for p in POISON]


@pytest.fixture
def served(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "allow_unauthenticated": True}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, stages=("collect",),
                 collectors=[HttpIngestCollector("http_ingest/t"), K8sAuditWebhook("k8s/t")])
    p.start()
    host, port = p.http.address
    yield rt, f"http://{host}:{port}"
    p.close()


def letters(rt) -> list[dict]:
    return [orjson.loads(r.value) for r in rt.bus.records(rt.topic("deadletter"))]


#: each poison record on the generic ingest route, the Kubernetes ones on the audit webhook too
ROUTES = [(p, "/v1/ingest?format=" + p[1]) for p in POISON] + [(p, "/v1/audit/k8s") for p in POISON
                                                                 if p[1] == "k8s-audit"]


@pytest.mark.parametrize("poison, route", ROUTES, ids=[f"{p[0]}-{r.split('?')[0]}" for p, r in ROUTES])
def test_a_poison_record_over_http_is_dead_lettered_with_its_reason(served, poison, route):
    rt, url = served
    _, _, poison, good, reason = poison
    r = requests.post(url + route, data=_body(good, poison), headers={"Content-Type": "application/json"})
    answer = r.json()
    assert r.status_code == 200, answer
    assert (answer["accepted"], answer["dead_lettered"]) == (1, 1)
    assert answer["reasons"][0]["record"] == "[1]" and reason in answer["reasons"][0]["reason"]
    assert [reason in d["reason"] for d in letters(rt)] == [True]


def _body(*records) -> bytes:
    """A JSON array of `records`; Python's json writes integers beyond 64 bits (orjson will not)."""
    import json
    return json.dumps(list(records)).encode()


@pytest.mark.parametrize("name, fmt, poison, good, reason", POISON, ids=IDS)
def test_replay_with_a_poison_record_dead_letters_it_and_every_stage_keeps_running(tmp_path, name, fmt, poison,
                                                                                    good, reason):
    path = tmp_path / "in.json"
    path.write_bytes(_body(good, poison, good))
    cfg = parse({"data_dir": str(tmp_path / "w")})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=[ReplayCollector("replay/t", paths=[str(path)], format=fmt)])
    try:
        p.drain(timeout=60)
        assert [d["reason"] for d in letters(rt)] == [f"{path}[1]: {_reason_of(letters(rt)[0])}"]
        assert reason in letters(rt)[0]["reason"]
        assert rt.counters.get("collect.events") == 2
        assert all(s.heartbeat.hb.failures == 0 for s in p.stages)
    finally:
        p.close()


def _reason_of(letter: dict) -> str:
    return letter["reason"].split(": ", 1)[1]


#: records another producer wrote straight to the bus, past every collector
SLIPPED = [
    ("time in year 586,524", event_record(id="p", time=18446744073709.0), TIME_REASON),
    ("time 1e300", event_record(id="p", time=1e300), TIME_REASON),
    ("observed_time text", event_record(id="p", observed_time="soon"), "must be a number"),
]


@pytest.mark.parametrize("name, poison, reason", SLIPPED, ids=[s[0] for s in SLIPPED])
def test_a_record_that_slips_past_the_collectors_is_dead_lettered_by_detect(tmp_path, name, poison, reason):
    cfg = parse({"data_dir": str(tmp_path / "w")})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=[])
    try:
        topic = rt.topic(TOPIC_OF_KIND["log"])
        for rec in (poison, event_record(id="g")):
            rt.producer.send(topic, orjson.dumps(rec), b"svc")
        rt.producer.flush()
        p.drain(timeout=60)
        assert [d["stage"] for d in letters(rt)] == ["detect"] and reason in letters(rt)[0]["reason"]
        assert all(s.heartbeat.hb.failures == 0 for s in p.stages)
    finally:
        p.close()


@pytest.mark.parametrize("ts, expected", [
    (18446744073709.0, "9999-12-31T23:59:59Z"), (1e300, "9999-12-31T23:59:59Z"),
    (-1e20, "0001-01-01T00:00:00Z"), (float("nan"), "0001-01-01T00:00:00Z"),
    (0.0, "1970-01-01T00:00:00Z"),
], ids=["year 586,524", "1e300", "-1e20", "nan", "epoch"])
def test_store_timestamps_never_raise(ts, expected):
    assert iso(ts) == expected


@pytest.mark.parametrize("value, written", [
    (2 ** 64, 2.0 ** 64), (-(2 ** 63) - 1, -(2.0 ** 63)), (10 ** 400, str(10 ** 400)), (2 ** 64 - 1, 2 ** 64 - 1),
], ids=["2^64", "below int64", "beyond double", "u64 kept"])
def test_json_and_snapshots_of_state_with_a_huge_integer_never_raise(value, written):
    state = {"profile": {"counts": [1, value], "n": value}}
    assert orjson.loads(codec.dumps(state)) == {"profile": {"counts": [1, written], "n": written}}
    assert snapshot.unpack(snapshot.pack("ueba", 1, state), "ueba", 1)[1]["profile"]["n"] == written


@pytest.mark.parametrize("kw, reason", [
    ({"time": 4102444801.0}, TIME_REASON), ({"time": float("nan")}, TIME_REASON),
    ({"observed_time": 1e18}, TIME_REASON), ({"attributes": {"a": {"b": [2 ** 63]}}}, INT_REASON),
    ({"observed_time": "soon"}, "must be a number"), ({"time": True}, "must be a number"),
    ({}, None), ({"attributes": {"a": 2 ** 63 - 1, "b": -(2 ** 63)}}, None),
], ids=["after 2100", "nan", "observed_time", "nested int", "observed_time text", "time bool", "ordinary",
        "int64 edges"])
def test_event_bounds(kw, reason):
    fields = {"id": "x", "time": 1767571200.0, "kind": "log", "source": "t", "entity": "e", "name": "n"}
    why = out_of_bounds(Event(**{**fields, **kw}))
    assert (why is None) if reason is None else (reason in why)
