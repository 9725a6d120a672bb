"""AWS CloudTrail records -> audit Events.

Accepted shapes: one CloudTrail record; a CloudTrail log file `{"Records": [...]}`; an EventBridge
event (`{"detail-type": "AWS API Call via CloudTrail", "detail": {...}}`); a CloudTrail Lake row
(`{"eventData": {...}}`, a Lake-integration record, or a query row `{"eventJson": "<json>"}`). Top-level keys are matched
case-insensitively (some exporters lower-case them); the record used for field lookups then gets
the canonical spelling (attribute "audit.record"), while "raw" keeps the original.
"""
from __future__ import annotations

import re
from typing import Any

from core.event import Event
from core.names import AUDIT_FORMAT, AUDIT_LOGSOURCE, AUDIT_RECORD
from collectors.audit.common import (as_dict, as_str, canonical_keys, ci_get, event_time, is_ip, put, require_context,
                                     require_dict)
from collectors.formats import FormatError, input_format

FORMAT = "cloudtrail"
LOGSOURCE = "aws/cloudtrail"
TOP_KEYS = (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
    "sourceIPAddress", "userAgent", "requestParameters", "responseElements", "additionalEventData",
    "requestID", "eventID", "readOnly", "resources", "eventType", "apiVersion", "managementEvent",
    "recipientAccountId", "sharedEventID", "vpcEndpointId", "eventCategory", "errorCode",
    "errorMessage", "tlsDetails", "sessionCredentialFromConsole", "serviceEventDetails",
    "edgeDeviceDetails", "insightDetails", "addendum", "invokedBy",
)


def _is_record(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    if isinstance(r.get("eventName"), str) and ("eventSource" in r or "eventVersion" in r or "userIdentity" in r):
        return True
    return isinstance(ci_get(r, "eventName"), str) and (
        ci_get(r, "eventSource") is not None or ci_get(r, "eventVersion") is not None
        or ci_get(r, "userIdentity") is not None or ci_get(r, "awsRegion") is not None)


def _unwrap(record: Any) -> list[tuple[Any, dict | None]]:
    """[(record, envelope)] for every CloudTrail record in the input."""
    if not isinstance(record, dict):
        raise FormatError(f"{FORMAT}: expected a JSON object, got {type(record).__name__}")
    recs = record.get("Records", record.get("records"))
    if recs is not None:
        if not isinstance(recs, list):
            raise FormatError(f"{FORMAT}: 'Records' is {type(recs).__name__}, expected a list")
        return [(r, None) for r in recs]
    detail = record.get("detail")
    if isinstance(detail, dict) and ("detail-type" in record or "source" in record):
        return [(detail, record)]
    data = record.get("eventData")
    if data is None:                      # CloudTrail Lake query rows: SELECT eventJson ...
        data = record.get("eventJson", record.get("eventjson"))
    if isinstance(data, dict):
        return [(data, record)]
    if isinstance(data, str):   # CloudTrail Lake integrations carry the payload as a JSON string
        import orjson
        try:
            inner = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise FormatError(f"{FORMAT}: eventData is not JSON: {e}") from None
        if isinstance(inner, dict):
            return [(inner, record)]
    return [(record, None)]


def detect(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if isinstance(record.get("Records"), list):
        return True
    d = record.get("detail")
    if isinstance(d, dict) and _is_record(d):
        return True
    for k in ("eventData", "eventJson"):
        v = record.get(k)
        if isinstance(v, dict) and _is_record(v):
            return True
        if isinstance(v, str) and '"eventName"' in v:
            return True
    return _is_record(record)


def principal(ui: dict, rec: dict) -> str:
    """The acting principal: ARN when known, else user name, principal id, service, account."""
    for v in (ui.get("arn"), ui.get("userName"),
              as_dict(as_dict(ui.get("sessionContext")).get("sessionIssuer")).get("arn"),
              ui.get("principalId"), ui.get("invokedBy"), ci_get(rec, "invokedBy")):
        s = as_str(v)
        if s:
            return s
    t = as_str(ui.get("type"))
    acct = as_str(ui.get("accountId")) or as_str(ci_get(rec, "recipientAccountId"))
    if t and acct:
        return f"{t}@{acct}"
    return t or (f"account:{acct}" if acct else "unknown")


def _user_name(ui: dict) -> str | None:
    if ui.get("type") == "Root":
        return "root"
    n = as_str(ui.get("userName"))
    if n:
        return n
    issuer = as_dict(as_dict(ui.get("sessionContext")).get("sessionIssuer"))
    arn = as_str(ui.get("arn")) or ""
    if "/" in arn:
        return arn.rsplit("/", 1)[1]
    return as_str(issuer.get("userName")) or as_str(ui.get("principalId"))


_ARN_ACCOUNT = re.compile(r"^arn:aws[\w-]*:[\w-]+:[\w-]*:(?P<acct>\d{12}):")
_KMS_KEY_PARAMS = ("x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId", "kmsKeyId", "KmsKeyId")


def target_account(canon: dict, ui: dict) -> str | None:
    """The account of the resources a call touched (`resources[].accountId`, the account in a KMS key ARN
    of the request), preferring one that is neither the caller's nor the recipient's: a copy into another
    account's bucket, data re-encrypted with another account's key. None when no resource names one."""
    own = {as_str(ui.get("accountId")), as_str(canon.get("recipientAccountId"))} - {None}
    found: list[str] = []
    res = canon.get("resources")
    for r in res if isinstance(res, list) else ():
        if isinstance(r, dict):
            acct = as_str(r.get("accountId"))
            m = _ARN_ACCOUNT.match(as_str(r.get("ARN")) or as_str(r.get("arn")) or "")
            found += [a for a in (acct, m and m.group("acct")) if a]
    params = as_dict(canon.get("requestParameters"))
    for k in _KMS_KEY_PARAMS:
        m = _ARN_ACCOUNT.match(as_str(params.get(k)) or "")
        if m:
            found.append(m.group("acct"))
    return next((a for a in found if a not in own), found[0] if found else None)


def normalise(rec: dict, source: str, raw: Any, envelope: dict | None) -> Event:
    canon = canonical_keys(rec, TOP_KEYS)
    name = canon.get("eventName")
    if not isinstance(name, str) or not name:
        raise FormatError(f"{FORMAT}: record has no eventName (got {type(name).__name__})")
    ui = as_dict(canon.get("userIdentity"))
    t, from_record = event_time(canon.get("eventTime"), (envelope or {}).get("time"),
                                (envelope or {}).get("eventTime"))
    attrs: dict[str, Any] = {"raw": raw, AUDIT_LOGSOURCE: LOGSOURCE, AUDIT_FORMAT: FORMAT}
    if canon is not rec or envelope is not None:
        attrs[AUDIT_RECORD] = canon
    err = canon.get("errorCode")
    resp = canon.get("responseElements")
    # console sign-in events report their result in responseElements ({"ConsoleLogin": "Failure"},
    # {"PasswordUpdated": "Failure"}, ...) instead of errorCode
    login_failed = isinstance(resp, dict) and any(v == "Failure" for v in resp.values())
    put(attrs, "event.action", name)
    put(attrs, "event.provider", as_str(canon.get("eventSource")))
    attrs["event.outcome"] = "failure" if (err or login_failed) else "success"
    put(attrs, "event.id", as_str(canon.get("eventID")))
    put(attrs, "event.type", as_str(canon.get("eventType")))
    put(attrs, "error.code", as_str(err))
    put(attrs, "error.message", as_str(canon.get("errorMessage")))
    put(attrs, "user.name", _user_name(ui))
    put(attrs, "user.target.name", as_str(as_dict(canon.get("requestParameters")).get("userName")))  # IAM calls on a user
    put(attrs, "user.id", as_str(ui.get("principalId")))
    put(attrs, "aws.cloudtrail.user_identity.type", as_str(ui.get("type")))
    put(attrs, "aws.cloudtrail.user_identity.arn", as_str(ui.get("arn")))
    put(attrs, "aws.cloudtrail.user_identity.access_key_id", as_str(ui.get("accessKeyId")))
    mfa = as_dict(as_dict(ui.get("sessionContext")).get("attributes")).get("mfaAuthenticated")
    put(attrs, "aws.cloudtrail.user_identity.session_context.mfa_authenticated", as_str(mfa))
    ro = canon.get("readOnly")
    if isinstance(ro, bool):
        attrs["aws.cloudtrail.read_only"] = ro
    elif isinstance(ro, str):
        attrs["aws.cloudtrail.read_only"] = ro.lower() == "true"
    src = canon.get("sourceIPAddress")
    if is_ip(src):
        attrs["source.ip"] = src
    else:
        put(attrs, "source.address", as_str(src))
    put(attrs, "user_agent.original", as_str(canon.get("userAgent")))
    attrs["cloud.provider"] = "aws"
    put(attrs, "cloud.account.id", as_str(canon.get("recipientAccountId")) or as_str(ui.get("accountId")))
    put(attrs, "cloud.region", as_str(canon.get("awsRegion")))
    put(attrs, "cloud.target.account.id", target_account(canon, ui))
    if not from_record:
        attrs["warden.time_source"] = "observed"
    require_context(FORMAT, name, user_identity=ui, source_ip=src, time=from_record,
                    account=canon.get("recipientAccountId"), region=canon.get("awsRegion"),
                    resource=canon.get("resources") or canon.get("requestParameters"),
                    event_id=canon.get("eventID"))
    return Event.create(source=source, kind="audit", entity=principal(ui, canon), name=name,
                        time=t, attributes=attrs, raw=raw)


def members(record: Any) -> list[Any] | None:
    """The records of a CloudTrail log file `{"Records": [...]}` (each accepted or refused on its own)."""
    recs = record.get("Records", record.get("records")) if isinstance(record, dict) else None
    return recs if isinstance(recs, list) else None


@input_format(FORMAT, detect=detect, split=members,
              description="AWS CloudTrail records, log files, EventBridge and Lake events")
def parse(record: Any, source: str) -> list[Event]:
    """AWS CloudTrail records, log files, EventBridge and Lake events."""
    require_dict(record, FORMAT)
    out = []
    for i, (rec, env) in enumerate(_unwrap(record)):
        if not isinstance(rec, dict):
            raise FormatError(f"{FORMAT}: Records[{i}] is {type(rec).__name__}, expected an object")
        out.append(normalise(rec, source, rec if env is None else record, env))
    return out
