"""Kubernetes audit events (audit.k8s.io/v1 `Event`, `EventList`) -> audit Events.

Also unwraps the envelopes clusters ship them in: AKS diagnostic logs
(`{"category": "kube-audit", "properties": {"log": "<json>"}}`) and CloudWatch/Fluent-style
`{"log": "<json>"}` / `{"message": "<json>"}` lines. GKE's audit entries are Cloud Audit Logs
and are read by the `gcp-audit` format, which adds the same Kubernetes view.
"""
from __future__ import annotations

from typing import Any

import orjson

from core.event import Event
from core.names import AUDIT_FORMAT, AUDIT_LOGSOURCE, AUDIT_RECORD
from collectors.audit.common import as_dict, as_str, event_time, is_ip, put, require_context, require_dict
from collectors.formats import FormatError, input_format

FORMAT = "k8s-audit"
LOGSOURCE = "kubernetes/audit"


def _looks_like_event(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    api = r.get("apiVersion")
    if isinstance(api, str) and api.startswith("audit.k8s.io/"):
        return True
    return isinstance(r.get("verb"), str) and (r.get("kind") == "Event" or isinstance(r.get("objectRef"), dict)
                                               or isinstance(r.get("requestURI"), str)
                                               or isinstance(r.get("user"), dict))


def _inner_json(record: dict) -> dict | None:
    props = record.get("properties")
    for holder, key in ((props, "log"), (record, "log"), (record, "message")):
        if isinstance(holder, dict) and isinstance(holder.get(key), (str, dict)):
            v = holder[key]
            if isinstance(v, dict):
                return v
            try:
                inner = orjson.loads(v)
            except orjson.JSONDecodeError:
                return None
            return inner if isinstance(inner, dict) else None
    return None


def detect(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if record.get("kind") == "EventList" and isinstance(record.get("items"), list):
        return True
    if _looks_like_event(record):
        return True
    if record.get("category") in ("kube-audit", "kube-audit-admin"):
        return True
    inner = _inner_json(record) if ("log" in record or "message" in record) else None
    return inner is not None and _looks_like_event(inner)


def split(record: Any) -> list[tuple[Any, Any]]:
    """[(audit event dict, original record)] for every event in an Event / EventList / envelope."""
    require_dict(record, FORMAT)
    if record.get("kind") == "EventList" or "items" in record and "verb" not in record:
        items = record.get("items")
        if not isinstance(items, list):
            raise FormatError(f"{FORMAT}: EventList 'items' is {type(items).__name__}, expected a list")
        return [(it, it) for it in items]
    if _looks_like_event(record):
        return [(record, record)]
    inner = _inner_json(record)
    if inner is not None:
        if inner.get("kind") == "EventList":
            return [(it, it) for it in inner.get("items") or []]
        return [(inner, record)]
    if record.get("category") in ("kube-audit", "kube-audit-admin"):
        raise FormatError(f"{FORMAT}: AKS record without a readable properties.log")
    if "verb" in record or "objectRef" in record or "user" in record:
        return [(record, record)]
    raise FormatError(f"{FORMAT}: not a Kubernetes audit event (no verb/objectRef/apiVersion)")


def k8s_principal(ev: dict) -> str:
    user = as_dict(ev.get("user"))
    imp = as_dict(ev.get("impersonatedUser"))
    name = as_str(imp.get("username")) or as_str(user.get("username")) or as_str(user.get("uid"))
    return name or "unknown"


def k8s_attrs(ev: dict, attrs: dict) -> None:
    """ECS fields of a Kubernetes audit event (also used for GKE entries)."""
    ref = as_dict(ev.get("objectRef"))
    user = as_dict(ev.get("user"))
    verb = as_str(ev.get("verb"))
    put(attrs, "event.action", verb)
    put(attrs, "event.provider", "kubernetes")
    put(attrs, "event.id", as_str(ev.get("auditID")))
    status = as_dict(ev.get("responseStatus"))
    code = status.get("code")
    ann = as_dict(ev.get("annotations"))
    decision = ann.get("authorization.k8s.io/decision")
    if isinstance(code, (int, float)) and not isinstance(code, bool):
        attrs["http.response.status_code"] = int(code)
        attrs["event.outcome"] = "success" if code < 400 else "failure"
    elif decision in ("allow", "forbid"):
        attrs["event.outcome"] = "success" if decision == "allow" else "failure"
    else:
        attrs["event.outcome"] = "unknown"
    put(attrs, "user.name", as_str(user.get("username")))
    put(attrs, "user.id", as_str(user.get("uid")))
    groups = user.get("groups")
    if isinstance(groups, list) and all(isinstance(g, str) for g in groups):
        attrs["user.roles"] = list(groups)
    imp = as_dict(ev.get("impersonatedUser"))
    put(attrs, "user.effective.name", as_str(imp.get("username")))
    ips = ev.get("sourceIPs")
    if isinstance(ips, list) and ips and is_ip(ips[0]):
        attrs["source.ip"] = ips[0]
    put(attrs, "user_agent.original", as_str(ev.get("userAgent")))
    put(attrs, "url.original", as_str(ev.get("requestURI")))
    attrs["orchestrator.type"] = "kubernetes"
    put(attrs, "orchestrator.namespace", as_str(ref.get("namespace")))
    put(attrs, "orchestrator.resource.type", as_str(ref.get("resource")))
    put(attrs, "orchestrator.resource.name", as_str(ref.get("name")))
    put(attrs, "orchestrator.resource.subresource", as_str(ref.get("subresource")))
    put(attrs, "orchestrator.api_version", as_str(ref.get("apiVersion")))
    put(attrs, "orchestrator.resource.api_group", as_str(ref.get("apiGroup")))


def normalise(ev: Any, original: Any, source: str) -> Event:
    if not isinstance(ev, dict):
        raise FormatError(f"{FORMAT}: audit event is {type(ev).__name__}, expected an object")
    verb = ev.get("verb")
    if verb is not None and not isinstance(verb, str):
        raise FormatError(f"{FORMAT}: verb is {type(verb).__name__}, expected a string")
    t, from_record = event_time(ev.get("stageTimestamp"), ev.get("requestReceivedTimestamp"),
                                ev.get("timestamp"),
                                original.get("time") if isinstance(original, dict) else None)
    attrs: dict[str, Any] = {"raw": original, AUDIT_LOGSOURCE: LOGSOURCE, AUDIT_FORMAT: FORMAT}
    if ev is not original:
        attrs[AUDIT_RECORD] = ev
    k8s_attrs(ev, attrs)
    if not from_record:
        attrs["warden.time_source"] = "observed"
    name = verb or "unknown"
    require_context(FORMAT, name, user=ev.get("user"), source_ips=ev.get("sourceIPs"), time=from_record,
                    object=ev.get("objectRef") or ev.get("requestURI"), audit_id=ev.get("auditID"))
    return Event.create(source=source, kind="audit", entity=k8s_principal(ev), name=name, time=t,
                        attributes=attrs, raw=original)


def members(record: Any) -> list[Any] | None:
    """The items of an EventList (each accepted or refused on its own)."""
    if isinstance(record, dict) and (record.get("kind") == "EventList" or "items" in record and "verb" not in record):
        items = record.get("items")
        return items if isinstance(items, list) else None
    return None


@input_format(FORMAT, detect=detect, split=members,
              description="Kubernetes audit events (audit.k8s.io Event/EventList, AKS envelopes)")
def parse(record: Any, source: str) -> list[Event]:
    """Kubernetes audit events (audit.k8s.io Event/EventList, AKS envelopes)."""
    return [normalise(ev, orig, source) for ev, orig in split(record)]
