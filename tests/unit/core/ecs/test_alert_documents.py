"""Alert documents checked against the ECS field definitions (core/ecs/ecs_fields.json, from the
`@elastic/ecs` package) and Kibana's alert fields: every field a document holds outside `warden.*`
and `labels` is a known field whose value fits its type, the index mapping gives each the ECS type
family, `threat.*` comes from ATT&CK / ATLAS tags with names, entities reach the top level, and a
rule's alerts share `kibana.alert.rule.uuid` and `rule.name`."""
from __future__ import annotations

import ipaddress

import pytest

from core.ecs import fields
from core.ecs.entities import entity_fields
from core.ecs.kibana import rule_identity
from core.ecs.threat import threat_fields
from core.event import Alert
from core.stores.base import alert_document
from core.stores.elasticsearch import ALERT_MAPPINGS

SIGMA_EVIDENCE = {"rule": {"id": "6d3f-iam-admin", "title": "AWS IAM administrator policy attached"},
                  "event": {"action": "AttachUserPolicy", "principal": "mallory", "source.ip": "198.51.100.7",
                            "cloud.account.id": "123456789012", "cloud.region": "eu-west-1",
                            "user_agent.original": "aws-cli/2"}}


def alert(aid="a", entity="mallory", detector="sigma/default", evidence=None, tags=(), status="firing", **labels):
    return Alert(id=aid * 32, rule="default", title=f"AWS IAM administrator policy attached by {entity}",
                 severity="high", entity=entity, group_key=entity, status=status, first_seen=1_700_000_000.0,
                 last_seen=1_700_000_060.0, detector=detector, tags=tuple(tags), event_ids=("ev1", "ev2"),
                 evidence=SIGMA_EVIDENCE if evidence is None else evidence,
                 labels={"alertname": "default", "rule": "6d3f-iam-admin", **labels})


def leaves(doc, prefix=""):
    for k, v in doc.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from leaves(v, name + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                yield from leaves(item, name + ".")
        else:
            yield name, v


def valid(tp: str, v) -> bool:
    for x in v if isinstance(v, list) else [v]:
        if tp in ("keyword", "text", "match_only_text", "wildcard", "constant_keyword"):
            ok = isinstance(x, str)
        elif tp == "ip":
            ok = isinstance(x, str) and bool(ipaddress.ip_address(x))
        elif tp == "long":
            ok = isinstance(x, int) and not isinstance(x, bool)
        elif tp in ("float", "scaled_float"):
            ok = isinstance(x, (int, float)) and not isinstance(x, bool)
        elif tp == "date":
            ok = isinstance(x, str) and x.endswith("Z")
        else:
            ok = False
        if not ok:
            return False
    return True


DOCS = [alert(tags=("attack.persistence", "attack.privilege-escalation", "attack.t1098", "attack.t1078.004")),
        alert("b", "gpu-node-3", "gpu_memory_leak/default", {"gpu": {"index": 0}, "host.ip": "10.0.0.3"},
              node="gpu-node-3"),
        alert("c", "llm-chat", "prompt_guard/default", {"client.id": "u7", "score": 0.98},
              tags=("atlas:AML.T0051", "owasp-llm:LLM01")),
        alert("d", "mallory", evidence={"event": {"source.ip": "not-an-ip", "principal": "mallory"}},
              status="resolved")]


@pytest.mark.parametrize("doc", [alert_document(a) for a in DOCS], ids=lambda d: d["warden"]["alert"]["detector"])
def test_every_field_is_an_ecs_or_kibana_field_of_the_right_type(doc):
    checked = 0
    for name, value in leaves({k: v for k, v in doc.items() if k not in ("warden", "labels")}):
        tp = fields.field_type(name)
        assert tp is not None, f"{name} is neither an ECS field nor a Kibana alert field"
        assert valid(tp, value), f"{name}={value!r} is not a valid {tp}"
        norm = (fields.ecs().get(name) or {}).get("normalize", [])
        assert isinstance(value, list) or "array" not in norm or name in ("tags",), f"{name} must be an array"
        checked += 1
    assert checked > 25


def test_the_mapping_gives_every_field_its_ecs_type_family():
    def walk(props, prefix=""):
        for k, v in props.items():
            if "properties" in v:
                yield from walk(v["properties"], f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v.get("type", "object")
    mapped = dict(walk(ALERT_MAPPINGS["properties"]))
    for name, tp in mapped.items():
        if name.startswith(("warden.", "workflow.")) or name == "labels":   # warden's own namespaces
            continue
        want = fields.field_type(name)
        assert want is not None, f"mapped {name} is not an ECS or Kibana field"
        assert fields.family(tp) == fields.family(want), f"{name}: mapped {tp}, ECS says {want}"
    for name in ("user.name", "source.ip", "cloud.account.id", "orchestrator.namespace", "host.name",
                 "threat.technique.id", "kibana.alert.rule.uuid", "rule.name"):
        assert name in mapped
    assert mapped["source.ip"] == "ip" and mapped["rule.name"] == "keyword"


@pytest.mark.parametrize("tags, framework, tactics, techniques, subtechniques", [
    (("attack.persistence", "attack.t1098", "attack.t1078.004"), "MITRE ATT&CK",
     [("TA0003", "Persistence")], [("T1098", "Account Manipulation"), ("T1078", "Valid Accounts")],
     [("T1078.004", "Cloud Accounts")]),
    (("atlas:AML.T0051", "owasp-llm:LLM01"), "MITRE ATLAS", [], [("AML.T0051", "LLM Prompt Injection")], []),
    (("atlas.aml.t0024", "atlas.aml.ta0010"), "MITRE ATLAS", [("AML.TA0010", "Exfiltration")],
     [("AML.T0024", "Exfiltration via AI Inference API")], []),
    (("attack.ta0040", "attack.t9999"), "MITRE ATT&CK", [("TA0040", "Impact")], [("T9999", "T9999")], []),
    (("attack.defense-impairment", "attack.t1562.008"), "MITRE ATT&CK", [], [("T1562", "Impair Defenses")],
     [("T1562.008", "Disable or Modify Cloud Logs")]),
])
def test_threat_from_tags(tags, framework, tactics, techniques, subtechniques):
    t = threat_fields(tags)
    assert t["framework"] == framework
    pairs = lambda d: list(zip(d["id"], d["name"])) if d else []   # noqa: E731
    assert pairs(t.get("tactic")) == tactics
    assert pairs(t.get("technique")) == techniques
    assert pairs(t.get("technique", {}).get("subtechnique")) == subtechniques
    for col in [t.get("tactic"), t.get("technique"), t.get("technique", {}).get("subtechnique")]:
        if col:
            assert len(col["id"]) == len(col["name"]) == len(col["reference"])
            assert all(r.startswith("https://") for r in col["reference"])


def test_no_threat_without_mitre_tags():
    assert threat_fields(("drift", "model-monitoring")) == {}
    assert threat_fields(("atlas:AML.T0051", "attack.t1078"))["framework"] == ["MITRE ATT&CK", "MITRE ATLAS"]


def test_entities_reach_the_top_level():
    ent, invalid = entity_fields(DOCS[0])
    assert ent["user"] == {"name": "mallory"} and ent["source"] == {"ip": "198.51.100.7"}
    assert ent["cloud"] == {"account": {"id": "123456789012"}, "region": "eu-west-1"}
    assert invalid == []
    ent, _ = entity_fields(DOCS[1])
    assert ent["host"] == {"name": "gpu-node-3", "ip": ["10.0.0.3"]}
    ent, invalid = entity_fields(DOCS[3])
    assert "source" not in ent and invalid == ["source.ip"]
    assert alert_document(DOCS[3])["warden"]["ecs_invalid"] == ["source.ip"]


def test_a_rules_alerts_share_rule_uuid_and_name_and_others_do_not():
    one, two = alert("a", "mallory"), alert("e", "trent")
    other = alert("f", "mallory", evidence={"rule": {"id": "x", "title": "Other rule"}}, rule="x")
    d1, d2, d3 = (alert_document(a) for a in (one, two, other))
    assert d1["kibana"]["alert"]["rule"]["uuid"] == d2["kibana"]["alert"]["rule"]["uuid"] == d1["rule"]["uuid"]
    assert d1["rule"]["name"] == d2["rule"]["name"] == "AWS IAM administrator policy attached"
    assert d1["rule"]["name"] != one.title and d1["kibana"]["alert"]["rule"]["name"] == d1["rule"]["name"]
    assert d3["rule"]["uuid"] != d1["rule"]["uuid"] and d3["rule"]["name"] == "Other rule"
    metric = [alert(x, f"gpu-node-{x}", "baseline/default", {"value": 1.0}, rule="gpu.memory.used") for x in "gh"]
    ids = {rule_identity(m) for m in metric}
    assert len(ids) == 1 and next(iter(ids))[1] == "default: gpu.memory.used"


def test_kibana_alert_fields():
    k = alert_document(DOCS[0])["kibana"]
    assert k["space_ids"] == ["default"]
    a = k["alert"]
    assert (a["severity"], a["risk_score"], a["status"]) == ("high", 73.0, "active")
    assert a["original_time"] == "2023-11-14T22:13:20Z" and a["rule"]["category"] == "Custom Query Rule"
    assert [x["id"] for x in a["ancestors"]] == ["ev1", "ev2"] and {x["type"] for x in a["ancestors"]} == {"event"}
    assert "user mallory" in a["reason"] and "source 198.51.100.7" in a["reason"]
    assert "workflow_status" not in a            # people-owned: written at creation and by the workflow only
    resolved = alert_document(DOCS[3])["kibana"]["alert"]
    assert resolved["status"] == "recovered" and resolved["end"] == "2023-11-14T22:14:20Z"


@pytest.mark.parametrize("principal, name", [
    ("arn:aws:iam::123456789012:user/ops/alice", "alice"),
    ("arn:aws:sts::123456789012:assumed-role/Admin/i-0abc", "Admin"),
    ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
    ("system:serviceaccount:ml:trainer", "system:serviceaccount:ml:trainer"),
    ("ana@example.org", "ana@example.org"),
])
def test_user_name_of_a_principal(principal, name):
    from core.ecs.entities import principal_name
    assert principal_name(principal) == name
