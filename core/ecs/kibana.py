"""Kibana detection-alert fields and the ECS `rule.*` of an alert, plus the whole ECS/Kibana part of
an alert document (`alert_fields`).

The rule: an alert's detection rule is its policy (Alert.rule) and, when the detector names a rule
of its own (a Sigma rule id, a metric), that rule too. Its name is stable per rule: the Sigma rule's
title when the evidence carries it, otherwise `<policy>` or `<policy>: <detector rule>` — never
the alert's title, which names the entity and changes from alert to alert. `kibana.alert.rule.uuid`
and `rule.uuid` are a UUID derived from the same identity, so all alerts of one rule share both.

Kibana's fields: `kibana.alert.severity` (low | medium | high | critical; warden's info is low),
`kibana.alert.risk_score` (Kibana's defaults per severity: 21, 47, 73, 99), `kibana.alert.status`
(active | recovered: the condition, pipeline-owned), `kibana.alert.workflow_status` (open |
acknowledged | closed: people-owned; written only when the document is created and by the workflow
commands, see core.stores.elasticsearch), `kibana.alert.reason`, `kibana.alert.original_time` (the
first event's time), `kibana.alert.ancestors` (the source events, type event, depth 0), and
`kibana.space_ids: [default]` (Kibana lists only alerts of a space).
"""
from __future__ import annotations

import uuid
from typing import Any

from core.ecs.entities import entity_fields
from core.ecs.threat import threat_fields
from core.event import Alert
from core.times import iso

KIBANA_SEVERITY = {"info": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
WORKFLOW_STATUS = {"firing": "open", "suppressed": "open", "acknowledged": "acknowledged", "resolved": "closed"}
CATEGORY = {"sigma": "Custom Query Rule", "sigma-correlation": "Event Correlation Rule",
            "baseline": "Machine Learning Rule", "pyod_window": "Machine Learning Rule", "novelty": "Machine Learning Rule",
            "ensemble": "Machine Learning Rule", "forecast": "Machine Learning Rule", "ueba": "Machine Learning Rule",
            "prompt_guard": "Machine Learning Rule", "drift": "Machine Learning Rule", "extraction": "Threshold Rule",
            "gpu_memory_leak": "Threshold Rule", "straggler": "Threshold Rule", "slo_burn": "Threshold Rule",
            "error_burst": "Threshold Rule"}
MAX_ANCESTORS = 100
_NS = uuid.UUID("5b2e8d0c-8f0e-4f43-9a57-6b1d8c7f0a11")

#: ECS event.severity (0-100) of each warden severity
ECS_SEVERITY = {"info": 21, "low": 21, "medium": 47, "high": 73, "critical": 99}


def _sub(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def rule_identity(alert: Alert) -> tuple[str, str, str]:
    """(rule id, rule name, rule uuid), the same for every alert of the rule."""
    detector_rule = (alert.labels or {}).get("rule", "")
    ev = alert.evidence or {}
    sigma_title = _sub(ev, "rule", "title") or _sub(ev, "correlation", "title")
    rid = detector_rule if detector_rule and detector_rule != alert.rule else alert.rule
    if isinstance(sigma_title, str) and sigma_title:
        name = sigma_title
    elif detector_rule and detector_rule != alert.rule:
        name = f"{alert.rule}: {detector_rule}"
    else:
        name = alert.rule
    return rid, name, str(uuid.uuid5(_NS, f"{alert.rule}\x00{rid}"))


def category(alert: Alert) -> str:
    dtype = alert.detector.split("/", 1)[0]
    if dtype == "sigma" and _sub(alert.evidence or {}, "correlation", "title"):
        dtype = "sigma-correlation"
    return CATEGORY.get(dtype, "warden: " + (dtype or "policy"))


def reason(alert: Alert, name: str, entities: dict[str, Any]) -> str:
    who = []
    for label, path in (("user", ("user", "name")), ("source", ("source", "ip")), ("host", ("host", "name")),
                        ("account", ("cloud", "account", "id"))):
        v = _sub(entities, *path)
        if v:
            who.append(f"{label} {', '.join(map(str, v)) if isinstance(v, list) else v}")
    by = f" by {'; '.join(who)}" if who else ""
    on = "" if alert.entity in alert.title else f" on {alert.entity}"
    return f"{alert.title}{on}{by} created {alert.severity} alert {name}."[:1024]


def ancestors(alert: Alert) -> list[dict[str, Any]]:
    return [{"id": eid, "type": "event", "index": "warden.events", "depth": 0}
            for eid in list(alert.event_ids)[:MAX_ANCESTORS]]


def alert_fields(alert: Alert) -> dict[str, Any]:
    """The ECS and Kibana fields of an alert document (pipeline-owned: no workflow_status)."""
    rid, name, ruuid = rule_identity(alert)
    entities, invalid = entity_fields(alert)
    recovered = alert.status == "resolved"
    kib: dict[str, Any] = {
        "uuid": alert.id, "status": "recovered" if recovered else "active",
        "severity": KIBANA_SEVERITY.get(alert.severity, "medium"),
        "risk_score": float(ECS_SEVERITY.get(alert.severity, 47)),
        "reason": reason(alert, name, entities), "original_time": iso(alert.first_seen),
        "start": iso(alert.first_seen), "last_detected": iso(alert.last_seen), "depth": 1,
        "rule": {"uuid": ruuid, "name": name, "category": category(alert), "rule_id": rid,
                 "rule_type_id": "warden." + (alert.detector.split("/", 1)[0] or "policy"),
                 "producer": "siem", "consumer": "siem", "tags": list(alert.tags)},
        "ancestors": ancestors(alert),
    }
    if recovered:
        kib["end"] = iso(alert.last_seen)
    out: dict[str, Any] = {"kibana": {"space_ids": ["default"], "alert": kib},
                           "rule": {"id": rid, "name": name, "uuid": ruuid, "ruleset": alert.rule,
                                    "category": category(alert)},
                           **entities}
    threat = threat_fields(alert.tags)
    if threat:
        out["threat"] = threat
    if invalid:
        out["warden_ecs_invalid"] = invalid
    return out


def workflow_status(status: str) -> str:
    return WORKFLOW_STATUS.get(status, "open")
