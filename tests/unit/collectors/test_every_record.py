"""Every record of a multi-record input is accepted or dead-lettered on its own (issue #14): by
`warden replay` (plain and gzip files) and over HTTP (JSON, NDJSON, gzip bodies) through the real
server and collect stage; pathological JSON is refused with a 4xx and still dead-lettered."""
from __future__ import annotations

import gzip

import orjson
import pytest
import requests

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.audit.webhook import K8sAuditWebhook
from collectors.base import ListEmitter
from collectors.http_ingest import HttpIngestCollector
from collectors.replay import ReplayCollector
from tests.support.records import CONTAINERS, cloudtrail, deep, k8s

CONTAINER_IDS = [c[0] for c in CONTAINERS]


def replay(path, fmt="auto"):
    c = ReplayCollector("t", paths=[str(path)], format=fmt)
    em = ListEmitter()
    c.bind(em)
    n = c.run_once()
    return n, em, c


@pytest.mark.parametrize("gzipped", [False, True], ids=["json", "json.gz"])
@pytest.mark.parametrize("name, doc, fmt, good, bad_at", CONTAINERS, ids=CONTAINER_IDS)
def test_replay_accounts_for_each_record_of_a_file(tmp_path, name, doc, fmt, good, bad_at, gzipped):
    data = orjson.dumps(doc)
    path = tmp_path / ("f.json.gz" if gzipped else "f.json")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    n, em, c = replay(path, fmt)
    assert n == good + 1 and len(em.events) == good and len(em.dead) == 1
    raw, reason, _ = em.dead[0]
    assert reason.startswith(f"{path}[{bad_at}]: ")
    assert c.tally.accepted == good and c.tally.dead_lettered == 1
    assert c.tally.reasons[0]["record"] == f"{path}[{bad_at}]"


MAX_UNZIPPED = 1_000_000


@pytest.fixture
def served(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "allow_unauthenticated": True, "max_body_bytes": 1_000_000}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, stages=("collect",),
                 collectors=[HttpIngestCollector("http_ingest/t", max_decompressed_bytes=MAX_UNZIPPED),
                             K8sAuditWebhook("k8s/t")])
    p.start()
    host, port = p.http.address
    yield rt, f"http://{host}:{port}"
    p.close()


def letters(rt):
    return [orjson.loads(r.value) for r in rt.bus.records(rt.topic("deadletter"))]


def ndjson(doc) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in doc) + b"\n"


BODIES = [(c, enc) for c in CONTAINERS for enc in ("json", "gzip", "ndjson")
          if enc != "ndjson" or isinstance(c[1], list)]           # JSON lines: a list of records


@pytest.mark.parametrize("container, encoding", BODIES, ids=[f"{c[0]}-{e}" for c, e in BODIES])
def test_http_ingest_answers_per_record_counts(served, container, encoding):
    rt, url = served
    _, doc, fmt, good, bad_at = container
    if encoding == "ndjson":
        body, ctype = ndjson(doc), "application/x-ndjson"
    else:
        body, ctype = orjson.dumps(doc), "application/json"
        if encoding == "gzip":
            body, ctype = gzip.compress(body), "application/gzip"
    r = requests.post(f"{url}/v1/ingest?format={fmt}", data=body, headers={"Content-Type": ctype})
    answer = r.json()
    assert r.status_code == 200, answer
    assert (answer["accepted"], answer["dead_lettered"]) == (good, 1)
    where = f"line {bad_at + 1}" if encoding == "ndjson" else f"[{bad_at}]"
    assert answer["reasons"][0]["record"] == where and answer["reasons"][0]["reason"]
    assert answer["durability"].startswith("not durable")
    assert [d["reason"].split(":")[0] for d in letters(rt)] == [where]
    assert len(rt.bus.records(rt.topic("audit"))) == good


def test_a_twenty_record_cloudtrail_file_over_http_is_twenty_records(served):
    rt, url = served
    doc = {"Records": [cloudtrail(i) for i in range(20)]}
    r = requests.post(f"{url}/v1/ingest", data=gzip.compress(orjson.dumps(doc)),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["accepted"] == 20 and r.json()["events"] == 20


HOSTILE = {
    "nested 1,000 deep": deep(1000),
    "nested 2,000 deep (beyond the parser)": deep(2000),
    "number beyond double range": b'{"eventName": "GetObject", "x": 1e400}',
    "broken UTF-8": b'{"eventName": "\xff\xfe"}',
}


@pytest.mark.parametrize("path", ["/v1/ingest", "/v1/inference", "/v1/audit/k8s"])
@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_pathological_json_is_refused_with_a_4xx_and_dead_lettered(served, path, body):
    rt, url = served
    r = requests.post(url + path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.json()["dead_lettered"] == 1 and r.json()["error"]
    assert len(letters(rt)) == 1 and rt.counters.get("collect.deadletter") == 1
    assert letters(rt)[0]["raw"]                                  # the letter keeps (truncated) input


def test_a_deep_record_in_a_file_is_refused_alone(tmp_path):
    path = tmp_path / "f.json"
    path.write_bytes(b'{"Records": [%s, %s, %s]}' % (orjson.dumps(cloudtrail(0)), deep(900), orjson.dumps(cloudtrail(1))))
    n, em, _ = replay(path, "cloudtrail")
    assert n == 3 and len(em.events) == 2 and f"{path}[1]: record nested deeper than" in em.dead[0][1]


def test_members_of_a_webhook_eventlist_are_counted_one_by_one(served):
    rt, url = served
    body = {"kind": "EventList", "items": [k8s(0), "junk", k8s(1)]}
    r = requests.post(f"{url}/v1/audit/k8s", json=body)
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["dead_lettered"]) == (2, 1)


@pytest.mark.parametrize("data, status", [
    (gzip.compress(b" " * (MAX_UNZIPPED * 4)), 413),                        # a gzip bomb (4 KiB -> 4 MB)
    (gzip.compress(orjson.dumps(cloudtrail(0)))[:-8], 400),                 # truncated gzip
], ids=["bomb", "truncated"])
def test_gzip_bodies_are_bounded(served, data, status):
    rt, url = served
    r = requests.post(f"{url}/v1/ingest", data=data, headers={"Content-Type": "application/json"})
    assert r.status_code == status and r.json()["error"]
