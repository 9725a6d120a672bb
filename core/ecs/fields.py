"""Field definitions for alert documents: the ECS fields warden writes (core/ecs/ecs_fields.json, a
subset of the Elastic Common Schema's flat definitions from the `@elastic/ecs` npm package 9.4.0,
Apache-2.0, Elasticsearch B.V.: @timestamp, message, tags, labels, event.*, rule.*, threat.*, user.*,
source.*, cloud.*, orchestrator.*, host.*), and the `kibana.alert.*` fields of Kibana's detection
alerts (Kibana's alert field map: not part of ECS, typed here).

`coerce(name, value)` makes a value fit its field's type (or raises ValueError); `mapping(names)`
gives the Elasticsearch `properties` for a set of fields. The local Elasticsearch build lacks the
mapper-extras and wildcard modules, so `match_only_text` maps as `text` and `wildcard` /
`constant_keyword` as `keyword` — the same type family (text, keyword), which is what queries see.
"""
from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
from pathlib import Path
from typing import Any

ENTITY_PREFIXES = ("user.", "source.", "cloud.", "orchestrator.", "host.")

KIBANA_FIELDS: dict[str, str] = {
    "kibana.space_ids": "keyword",
    "kibana.alert.uuid": "keyword",
    "kibana.alert.status": "keyword",
    "kibana.alert.workflow_status": "keyword",
    "kibana.alert.severity": "keyword",
    "kibana.alert.risk_score": "float",
    "kibana.alert.reason": "keyword",
    "kibana.alert.original_time": "date",
    "kibana.alert.start": "date",
    "kibana.alert.last_detected": "date",
    "kibana.alert.end": "date",
    "kibana.alert.depth": "long",
    "kibana.alert.rule.uuid": "keyword",
    "kibana.alert.rule.name": "keyword",
    "kibana.alert.rule.category": "keyword",
    "kibana.alert.rule.rule_id": "keyword",
    "kibana.alert.rule.rule_type_id": "keyword",
    "kibana.alert.rule.producer": "keyword",
    "kibana.alert.rule.consumer": "keyword",
    "kibana.alert.rule.tags": "keyword",
    "kibana.alert.ancestors.id": "keyword",
    "kibana.alert.ancestors.index": "keyword",
    "kibana.alert.ancestors.type": "keyword",
    "kibana.alert.ancestors.depth": "long",
}

#: what the local Elasticsearch can map (same family)
ES_TYPE = {"match_only_text": "text", "wildcard": "keyword", "constant_keyword": "keyword",
           "scaled_float": "float"}
FAMILY = {"match_only_text": "text", "text": "text", "wildcard": "keyword", "constant_keyword": "keyword",
          "keyword": "keyword", "scaled_float": "float", "float": "float", "double": "float"}


@functools.cache
def ecs() -> dict[str, dict[str, Any]]:
    """ECS flat name → {type, normalize?, allowed_values?}."""
    return json.loads(Path(__file__).with_name("ecs_fields.json").read_text())


def field_type(name: str) -> str | None:
    d = ecs().get(name)
    return d["type"] if d else KIBANA_FIELDS.get(name)


def family(tp: str) -> str:
    return FAMILY.get(tp, tp)


def _one(tp: str, v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        raise ValueError("not a single value")
    if tp in ("keyword", "wildcard", "constant_keyword", "match_only_text", "text"):
        s = str(v)
        if not s:
            raise ValueError("empty")
        return s[:1024] if tp != "text" else s
    if tp == "ip":
        return str(ipaddress.ip_address(str(v).strip()))
    if tp == "long":
        if isinstance(v, bool) or float(v) != int(float(v)):
            raise ValueError(f"{v!r} is not an integer")
        return int(float(v))
    if tp in ("float", "scaled_float", "double"):
        if isinstance(v, bool):
            raise ValueError("a boolean is not a number")
        return float(v)
    if tp == "date":
        if isinstance(v, (int, float)):
            return dt.datetime.fromtimestamp(float(v), dt.timezone.utc).isoformat().replace("+00:00", "Z")
        dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        return str(v)
    if tp == "boolean":
        if not isinstance(v, bool):
            raise ValueError(f"{v!r} is not a boolean")
        return v
    raise ValueError(f"type {tp} is not written by warden")


def coerce(name: str, value: Any) -> Any:
    """`value` fitted to the field's type: a scalar, or a list for several values. ValueError when it
    cannot be (not an IP for an ip field, text for a number, an unknown field...)."""
    tp = field_type(name)
    if tp is None:
        raise ValueError(f"{name} is not an ECS or Kibana alert field")
    if isinstance(value, (list, tuple)):
        vals = [_one(tp, v) for v in value]
        return vals[0] if len(vals) == 1 else vals
    return _one(tp, value)


def _put(tree: dict[str, Any], name: str, leaf: dict[str, Any]) -> None:
    parts = name.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {}).setdefault("properties", {})
    node[parts[-1]] = leaf


def mapping(names) -> dict[str, Any]:
    """Elasticsearch `properties` for these fields (ECS or Kibana), objects nested by name."""
    tree: dict[str, Any] = {}
    for name in sorted(names):
        tp = field_type(name)
        if tp is None or tp == "object":
            continue
        _put(tree, name, {"type": ES_TYPE.get(tp, tp)})
    return tree


def entity_fields() -> list[str]:
    return [n for n in ecs() if n.startswith(ENTITY_PREFIXES)]


def threat_field_names() -> list[str]:
    return [n for n in ecs() if n.startswith(("threat.framework", "threat.tactic.", "threat.technique."))]
