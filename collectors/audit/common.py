"""Helpers shared by the audit formats: tolerant key access, time parsing, IP checks."""
from __future__ import annotations

import functools
import ipaddress
import re
import time as _time
from typing import Any

from core.times import parse_time_or_none
from collectors.formats import FormatError

# attribute names (core.names): AUDIT_RECORD holds the record as fields are looked up (set only
# when it differs from "raw": unwrapped EventBridge/AKS envelopes, canonicalised key case, ...);
# AUDIT_K8S_VIEW a Kubernetes-audit-shaped view of a record from another format (GKE);
# AUDIT_LOGSOURCE the record's logsource ("aws/cloudtrail", ...); AUDIT_FORMAT the format that read it


def ci_get(d: dict, key: str, default: Any = None) -> Any:
    """d[key], falling back to a case-insensitive match of the key (exporters lower-case keys)."""
    if key in d:
        return d[key]
    lk = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == lk:
            return v
    return default


@functools.lru_cache(maxsize=16)
def _known(known: tuple[str, ...]) -> tuple[frozenset, dict]:
    return frozenset(known), {k.lower(): k for k in known}


def canonical_keys(d: dict, known: tuple[str, ...]) -> dict:
    """A copy of d whose top-level keys matching `known` case-insensitively take the known spelling
    (d itself when nothing needs renaming, the common case)."""
    kset, lower = _known(known)
    for k in d:
        if k not in kset and isinstance(k, str) and k.lower() in lower:
            break
    else:
        return d
    out: dict = {}
    for k, v in d.items():
        ck = lower.get(k.lower(), k) if isinstance(k, str) else k
        if ck in out and ck != k:
            continue  # both spellings present: keep the canonical one
        out[ck] = v
    return out


def as_dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def as_str(v: Any) -> str | None:
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)




def event_time(*candidates: Any) -> tuple[float, bool]:
    """(time, from_record): the first parseable candidate, else the current time."""
    for c in candidates:
        t = parse_time_or_none(c)
        if t is not None:
            return t, True
    return _time.time(), False


_IPV4 = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def is_ip(s: Any) -> bool:
    if not isinstance(s, str) or not s:
        return False
    if _IPV4.fullmatch(s):
        return True
    if ":" not in s:
        return False
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def require_dict(record: Any, fmt: str) -> dict:
    if not isinstance(record, dict):
        raise FormatError(f"{fmt}: expected a JSON object, got {type(record).__name__}")
    return record


def require_context(fmt: str, action: Any, **context: Any) -> None:
    """An audit record must say more than what was done: who did it, from where, when, in which account
    or on what. One that names only an action (a truncated record, or an exporter mapping that lost the
    envelope) cannot be attributed, triaged or placed in a time window; alerting on it would report
    "unknown did X at some time", so it is refused with the reason and dead-lettered instead."""
    if not any(context.values()):
        raise FormatError(f"{fmt}: the record names only an action ({action!r}) and none of "
                          f"{', '.join(context)}: nothing to attribute it to")


def put(attrs: dict, key: str, value: Any) -> None:
    """Set an ECS attribute when the value is a usable scalar."""
    if value is None or value == "" or isinstance(value, (dict, list)):
        return
    attrs[key] = value
