"""GCP Cloud Audit Logs (LogEntry with protoPayload AuditLog) -> audit Events.

GKE entries (serviceName k8s.io) also get a Kubernetes-audit-shaped view (attribute "audit.k8s":
verb, objectRef, user, sourceIPs, requestObject...) and the Kubernetes ECS fields, so
Kubernetes rules apply to them too. Keys are matched case-insensitively (`protopayload`).
"""
from __future__ import annotations

import re
from typing import Any

from core.event import Event
from core.names import AUDIT_FORMAT, AUDIT_K8S_VIEW, AUDIT_LOGSOURCE, AUDIT_RECORD
from collectors.audit.common import (as_dict, as_str, canonical_keys, ci_get, event_time, is_ip, put, require_context,
                                     require_dict)
from collectors.audit.k8s_audit import k8s_attrs
from collectors.formats import FormatError, input_format

FORMAT = "gcp-audit"
LOGSOURCE = "gcp/gcp.audit"
TOP_KEYS = ("protoPayload", "insertId", "logName", "receiveTimestamp", "resource", "severity",
            "timestamp", "operation", "labels", "jsonPayload")
PAYLOAD_KEYS = ("authenticationInfo", "authorizationInfo", "methodName", "requestMetadata",
                "resourceName", "serviceName", "status", "request", "response", "metadata",
                "resourceLocation", "serviceData", "numResponseItems")


def detect(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    p = ci_get(record, "protoPayload")
    if isinstance(p, dict) and ("methodName" in p or "serviceName" in p or "authenticationInfo" in p
                                 or "authorizationInfo" in p):
        return True
    log = ci_get(record, "logName")
    if isinstance(log, str) and "cloudaudit.googleapis.com" in log:
        return True
    return _bare_payload(record)


def _bare_payload(record: dict) -> bool:
    """An AuditLog payload without its LogEntry (some exporters ship only protoPayload)."""
    m = record.get("methodName")
    return (isinstance(m, str) and "." in m and "eventName" not in record and "verb" not in record
            and ci_get(record, "protoPayload") is None)


_K8S_METHOD = re.compile(r"^io\.k8s\.(?P<group>.+?)\.(?P<ver>v\d[\w]*)\.(?P<rest>.+)$")


def k8s_view(entry: dict, payload: dict) -> dict | None:
    """A Kubernetes-audit-shaped dict for a GKE entry (methodName io.k8s.<group>.<ver>.<res>...)."""
    method = payload.get("methodName")
    if not isinstance(method, str):
        return None
    m = _K8S_METHOD.match(method)
    if not m and payload.get("serviceName") != "k8s.io":
        return None
    ref: dict[str, Any] = {}
    verb = None
    if m:
        parts = m.group("rest").split(".")
        verb = parts[-1]
        if len(parts) >= 2:
            ref["resource"] = parts[0]
        if len(parts) >= 3:
            ref["subresource"] = parts[1]
        group = m.group("group")
        ref["apiGroup"] = "" if group == "core" else group
        ref["apiVersion"] = m.group("ver")
    rname = payload.get("resourceName")
    if isinstance(rname, str):
        segs = rname.split("/")
        if "namespaces" in segs:
            i = segs.index("namespaces")
            if i + 1 < len(segs):
                ref["namespace"] = segs[i + 1]
            rest = segs[i + 2:]
        else:
            rest = segs[2:] if len(segs) > 2 else []
        if len(rest) >= 2:
            ref["name"] = rest[1]
        if not ref.get("resource") and rest:
            ref["resource"] = rest[0]
    auth = as_dict(payload.get("authenticationInfo"))
    meta = as_dict(payload.get("requestMetadata"))
    ip = ci_get(meta, "callerIp")
    status = as_dict(payload.get("status"))
    code = status.get("code")
    view: dict[str, Any] = {"kind": "Event", "apiVersion": "audit.k8s.io/v1",
                            "verb": verb, "objectRef": ref,
                            "user": {"username": auth.get("principalEmail") or auth.get("principalSubject")
                                     or auth.get("authoritySelector")},
                            "sourceIPs": [ip] if isinstance(ip, str) else [],
                            "userAgent": meta.get("callerSuppliedUserAgent"),
                            "requestURI": rname}
    granted = _granted(payload)
    k8s_fail = _k8s_response_failed(payload)
    if k8s_fail is not None:
        view["responseStatus"] = {"code": k8s_fail}
    elif isinstance(code, int) and code != 0:
        view["responseStatus"] = {"code": 403 if code == 7 else 400, "grpc": code}
    elif granted is False:
        view["responseStatus"] = {"code": 403}
    else:
        view["responseStatus"] = {"code": 200}
    if isinstance(payload.get("request"), dict):
        view["requestObject"] = payload["request"]
    if isinstance(payload.get("response"), dict):
        view["responseObject"] = payload["response"]
    return view


_PROJECT = re.compile(r"^(?://[^/]+/)?projects/(?P<id>[^/]+)/")


def project_of(name: Any) -> str | None:
    """The project id a resource name ("projects/<id>/...", "//<service>/projects/<id>/...") names, or
    None: "_" (a global namespace such as Cloud Storage's), "-" (any project) and project numbers say
    nothing comparable with the entry's project id."""
    m = _PROJECT.match(name) if isinstance(name, str) else None
    if m is None or m.group("id") in ("_", "-") or m.group("id").isdigit():
        return None
    return m.group("id")


def _granted(payload: dict) -> bool | None:
    """All authorizationInfo entries granted? None when none says. Only an explicit true is a grant."""
    infos = payload.get("authorizationInfo")
    if not isinstance(infos, list):
        return None
    vals = [i["granted"] for i in infos if isinstance(i, dict) and "granted" in i]
    if not vals:
        return None
    return all(v is True or (isinstance(v, str) and v.strip().lower() == "true") for v in vals)


def _k8s_response_failed(payload: dict) -> int | None:
    """GKE: the response is a Kubernetes Status; its failure code (or 400) when it failed."""
    resp = payload.get("response")
    if not isinstance(resp, dict):
        return None
    code = resp.get("code")
    if resp.get("status") == "Failure" or (isinstance(code, int) and not isinstance(code, bool) and code >= 400):
        return code if isinstance(code, int) and code >= 400 else 400
    return None


def normalise(record: dict, source: str, raw: Any = None) -> Event:
    raw = record if raw is None else raw
    entry = canonical_keys(record, TOP_KEYS)
    payload = entry.get("protoPayload")
    if payload is None:
        raise FormatError(f"{FORMAT}: LogEntry has no protoPayload")
    if not isinstance(payload, dict):
        raise FormatError(f"{FORMAT}: protoPayload is {type(payload).__name__}, expected an object")
    p = canonical_keys(payload, PAYLOAD_KEYS)
    if p is not payload:
        entry = dict(entry)
        entry["protoPayload"] = p
    method = p.get("methodName")
    if method is None:   # some exports keep it only in the service metadata (BigQueryAuditMetadata)
        method = as_str(as_dict(p.get("metadata")).get("methodName"))
    if method is not None and not isinstance(method, str):
        raise FormatError(f"{FORMAT}: methodName is {type(method).__name__}, expected a string")
    auth = as_dict(p.get("authenticationInfo"))
    meta = as_dict(p.get("requestMetadata"))
    res = as_dict(entry.get("resource"))
    labels = as_dict(res.get("labels"))
    t, from_record = event_time(entry.get("timestamp"), entry.get("receiveTimestamp"),
                                as_dict(meta.get("requestAttributes")).get("time"))
    attrs: dict[str, Any] = {"raw": raw, AUDIT_LOGSOURCE: LOGSOURCE, AUDIT_FORMAT: FORMAT}
    if entry is not raw:
        attrs[AUDIT_RECORD] = entry
    status = as_dict(p.get("status"))
    code = status.get("code")
    granted = _granted(p)
    failed = ((isinstance(code, int) and not isinstance(code, bool) and code != 0) or granted is False
              or _k8s_response_failed(p) is not None)
    principal = (as_str(auth.get("principalEmail")) or as_str(auth.get("principalSubject"))
                 or as_str(auth.get("authoritySelector"))
                 or as_str(as_dict(auth.get("serviceAccountDelegationInfo")).get("principalEmail")))
    view = k8s_view(entry, p)
    if view is not None:
        attrs[AUDIT_K8S_VIEW] = view
        k8s_attrs(view, attrs)
    put(attrs, "event.action", method)
    put(attrs, "event.provider", as_str(p.get("serviceName")))
    attrs["event.outcome"] = "failure" if failed else "success"
    put(attrs, "event.id", as_str(entry.get("insertId")))
    put(attrs, "error.code", as_str(code) if failed and code is not None else None)
    put(attrs, "error.message", as_str(status.get("message")))
    put(attrs, "user.name", principal)
    put(attrs, "user.email", principal if principal and "@" in principal else None)
    if principal and "@" in principal:
        put(attrs, "user.domain", principal.rsplit("@", 1)[1].lower())
    ip = ci_get(meta, "callerIp")
    if is_ip(ip):
        attrs["source.ip"] = ip
    else:
        put(attrs, "source.address", as_str(ip))
    put(attrs, "user_agent.original", as_str(meta.get("callerSuppliedUserAgent")))
    attrs["cloud.provider"] = "gcp"
    put(attrs, "cloud.project.id", as_str(labels.get("project_id")))
    put(attrs, "cloud.account.id", as_str(labels.get("project_id")))
    region = labels.get("location") or labels.get("region") or labels.get("zone")
    put(attrs, "cloud.region", as_str(region))
    put(attrs, "gcp.audit.method_name", method)
    put(attrs, "gcp.audit.service_name", as_str(p.get("serviceName")))
    put(attrs, "gcp.audit.resource_name", as_str(p.get("resourceName")))
    put(attrs, "gcp.audit.resource_type", as_str(res.get("type")))
    # the projects a call touched, so rules can compare them with the entry's own (field references):
    # a KMS key or a copy destination in another project is how data leaves or gets held for ransom
    put(attrs, "gcp.audit.resource_project", project_of(p.get("resourceName")))
    put(attrs, "gcp.audit.destination_project", project_of(as_dict(p.get("metadata")).get("destination")))
    # the domain of the member a request grants or invites ("user:bob@example.com" -> example.com)
    member = as_str(as_dict(p.get("request")).get("member"))
    if member and "@" in member:
        put(attrs, "gcp.audit.request_member_domain", member.rsplit("@", 1)[1].lower())
    put(attrs, "log.logger", as_str(entry.get("logName")))
    if not from_record:
        attrs["warden.time_source"] = "observed"
    name = method or as_str(p.get("serviceName")) or "unknown"
    require_context(FORMAT, name, principal=principal, caller_ip=ip, time=from_record,
                    resource=p.get("resourceName") or p.get("authorizationInfo") or p.get("request") or labels,
                    insert_id=entry.get("insertId"), log_name=entry.get("logName"))
    return Event.create(source=source, kind="audit", entity=principal or "unknown", name=name, time=t,
                        attributes=attrs, raw=raw)


def members(record: Any) -> list[Any] | None:
    """The entries of an `entries.list` answer (each accepted or refused on its own)."""
    if isinstance(record, dict) and isinstance(record.get("entries"), list) and "protoPayload" not in record:
        return record["entries"]
    return None


@input_format(FORMAT, detect=detect, split=members,
              description="GCP Cloud Audit Logs LogEntry (protoPayload AuditLog), incl. GKE")
def parse(record: Any, source: str) -> list[Event]:
    """GCP Cloud Audit Logs LogEntry (protoPayload AuditLog), incl. GKE."""
    require_dict(record, FORMAT)
    if _bare_payload(record):
        return [normalise({"protoPayload": record}, source, raw=record)]
    entries = record.get("entries")
    if isinstance(entries, list) and "protoPayload" not in record:   # entries.list response
        return [normalise(require_dict(e, FORMAT), source) for e in entries]
    return [normalise(record, source)]
