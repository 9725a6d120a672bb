"""More records in one request than the collector takes (`max_records`) is a 413 decided by
counting (array items, JSON lines, container members) before any record is parsed: nothing of the
request is emitted or dead-lettered, also not its broken lines, and the server goes on serving."""
from __future__ import annotations

import orjson
import pytest
import requests

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.accounting import TooManyRecords, outcomes
from collectors.http_ingest import HttpIngestCollector
from tests.support.records import cloudtrail

CAP = 5


@pytest.fixture
def served(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "allow_unauthenticated": True}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, stages=("collect",), collectors=[HttpIngestCollector("http_ingest/t", max_records=CAP)])
    p.start()
    host, port = p.http.address
    yield rt, f"http://{host}:{port}"
    p.close()


def ndjson(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


OVER = {
    "array": (orjson.dumps([cloudtrail(i) for i in range(CAP + 1)]), "application/json"),
    "lines": (ndjson([orjson.dumps(cloudtrail(i)) for i in range(CAP)] + [b"{broken"]), "application/x-ndjson"),
    "container": (orjson.dumps({"Records": [cloudtrail(i) for i in range(CAP + 1)]}), "application/json"),
    "lines and members": (ndjson([b"{broken", orjson.dumps({"Records": [cloudtrail(i) for i in range(CAP)]})]),
                          "application/x-ndjson"),
}


@pytest.mark.parametrize("body, ctype", list(OVER.values()), ids=list(OVER))
def test_over_the_cap_is_refused_whole(served, body, ctype):
    rt, url = served
    r = requests.post(f"{url}/v1/ingest?format=cloudtrail", data=body, headers={"Content-Type": ctype})
    assert r.status_code == 413 and f"more than {CAP} records" in r.json()["error"]
    assert rt.counters.get("collect.deadletter") == 0 and rt.counters.get("collect.events") == 0
    assert not rt.bus.records(rt.topic("deadletter")) and not rt.bus.records(rt.topic("audit"))
    ok = requests.post(f"{url}/v1/ingest?format=cloudtrail", data=orjson.dumps([cloudtrail(i) for i in range(CAP)]))
    assert ok.status_code == 200 and ok.json()["accepted"] == CAP


def test_at_the_cap_every_record_is_accounted_for(served):
    rt, url = served
    body = ndjson([b"{broken"] + [orjson.dumps(cloudtrail(i)) for i in range(CAP - 1)] + [b"", b"  "])
    r = requests.post(f"{url}/v1/ingest?format=cloudtrail", data=body, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and (r.json()["accepted"], r.json()["dead_lettered"]) == (CAP - 1, 1)
    assert r.json()["reasons"][0]["record"] == "line 1"


def test_a_container_over_the_cap_raises_before_its_members_are_parsed():
    doc = {"Records": [cloudtrail(0), {"not": "cloudtrail"}, cloudtrail(1)]}
    with pytest.raises(TooManyRecords):
        outcomes(doc, ("cloudtrail",), "t", max_records=2)
    assert [o.reason is None for o in outcomes(doc, ("cloudtrail",), "t", max_records=3)] == [True, False, True]
