"""Kibana-shaped alert documents in the real Elasticsearch: recorded CloudTrail records go through
the Sigma engine, decide (the built-in policies) and act into an Elasticsearch store; the documents
index under warden's mapping (typed as ECS says), a rule's alerts share `kibana.alert.rule.uuid` and
`rule.name`, entities and `threat.*` are queryable at top level (an `ip` field answers a CIDR
query), and `kibana.alert.workflow_status` follows the workflow commands, not redeliveries."""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from core import codec
from agent.config import parse
from core.counters import Counters
from core.ecs import fields
from agent.runtime import Runtime
from agent.stages.act import ActStage
from agent.stages.decide import DecideStage
from collectors.formats import parse_record
from detectors.sigma.detector import BUILTIN_RULES
from detectors.sigma.engine import SigmaEngine
from policy.policies import PolicySet

CASES = {c["name"]: c for c in json.loads((Path(__file__).resolve().parents[1] / "golden" / "audit" /
                                           "cases.json").read_text())}


def stoplogging_by(user: str, ip: str, n: int) -> dict:
    rec = copy.deepcopy(CASES["cloudtrail-stoplogging"]["record"])
    # each user with a key of their own: one key used from two addresses is an alert of its own
    rec["userIdentity"].update(userName=user, arn=f"arn:aws:iam::123456789012:user/{user}", principalId=f"AIDA{n}",
                               accessKeyId=f"AKIAKIBANATEST{n:06d}")
    rec.update(sourceIPAddress=ip, eventID=f"kibana-{n}", eventTime=f"2026-01-05T10:0{n}:00Z")
    return rec


def test_alerts_are_kibana_shaped_in_elasticsearch(kafka_cfg, es_client):
    cfg = parse({"data_dir": kafka_cfg.data_dir, "store": dataclasses.asdict(kafka_cfg.store)})
    rt = Runtime(cfg, counters=Counters())
    rt.create_topics()
    policies = PolicySet.load(None)
    decide, act = DecideStage(rt, policies=policies), ActStage(rt, responders=[], policies=policies)
    engine = SigmaEngine(lateness=3600).load_paths([BUILTIN_RULES])
    for n, (user, ip) in enumerate([("alice", "203.0.113.77"), ("mallory", "198.51.100.9")], start=1):
        for ev in parse_record(stoplogging_by(user, ip, n), "cloudtrail", "test/kibana"):
            for f in engine.process([ev]):
                rt.producer.send(rt.topic("findings"), codec.encode(f), f.entity.encode())
    for _ in range(3):
        while decide.step(0):
            pass
        while act.step(0):
            pass
    decide.close()
    act.close()
    index = f"{cfg.store.index_prefix}-alerts"
    es_client.indices.refresh(index=index)

    hits = es_client.search(index=index, query={"term": {"user.name": "mallory"}}, size=100)["hits"]["hits"]
    assert hits, "no alert for mallory"
    rule_uuid = hits[0]["_source"]["kibana"]["alert"]["rule"]["uuid"]
    same_rule = es_client.search(index=index, query={"term": {"kibana.alert.rule.uuid": rule_uuid}}, size=100)
    docs = [h["_source"] for h in same_rule["hits"]["hits"]]
    assert sorted(d["user"]["name"] for d in docs) == ["alice", "mallory"]          # one rule, two principals
    assert len({d["rule"]["name"] for d in docs}) == 1 and len({d["rule"]["uuid"] for d in docs}) == 1
    assert docs[0]["rule"]["name"] == "AWS Audit Logging Disabled Or Deleted"     # the Sigma rule's title
    assert es_client.count(index=index, query={"term": {"rule.name": docs[0]["rule"]["name"]}})["count"] == 2

    # entities and threat at top level, typed: source.ip answers a CIDR query
    assert es_client.count(index=index, query={"term": {"source.ip": "198.51.100.0/24"}})["count"] >= 1
    assert es_client.count(index=index, query={"term": {"cloud.account.id": "123456789012"}})["count"] >= 2
    d = docs[0]
    assert d["threat"]["framework"] == "MITRE ATT&CK" and "T1562" in d["threat"]["technique"]["id"]
    assert es_client.count(index=index, query={"term": {"threat.technique.subtechnique.id": "T1562.008"}})["count"] >= 2
    k = d["kibana"]["alert"]
    assert k["workflow_status"] == "open" and k["severity"] in ("low", "medium", "high", "critical")
    assert k["ancestors"] and k["reason"] and k["original_time"]

    # the mapping the index got: each written field typed as ECS / Kibana say
    props = es_client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    for name in ("user.name", "source.ip", "cloud.account.id", "threat.technique.id", "rule.name",
                 "kibana.alert.rule.uuid", "kibana.alert.risk_score", "kibana.alert.original_time"):
        node = props
        for part in name.split(".")[:-1]:
            node = node[part]["properties"]
        assert fields.family(node[name.split(".")[-1]]["type"]) == fields.family(fields.field_type(name)), name

    # workflow_status: set by the workflow, kept across the pipeline's updates
    aid = docs[0]["warden"]["alert"]["id"]
    assert rt.store.change_workflow(aid, "ack", by="ana") is not None
    alert = rt.store.get_alert(aid)
    rt.store.upsert_alerts([dataclasses.replace(alert, count=alert.count + 1, status="firing")])
    rt.store.flush()
    doc = es_client.get(index=index, id=aid)["_source"]
    assert doc["kibana"]["alert"]["workflow_status"] == "acknowledged" and doc["warden"]["alert"]["count"] == alert.count + 1
    rt.close()
