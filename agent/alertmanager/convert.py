"""Alertmanager v2 API shapes of warden's records: GettableAlert, GettableSilence, PostableSilence,
and RFC 3339 times (Go writes nanoseconds; Python reads microseconds)."""
from __future__ import annotations

from typing import Any

from core.alertmanager import AmAlert
from core.errors import ConfigError
from core.event import Alert
from policy.matchers import Matcher
from policy.silences import Silence
from core.times import TimeFormatError, iso, rfc3339_to_epoch


class BadRequest(ValueError):
    """The request breaks the API's rules: answered 400 with this message."""


def request_time(value: Any, field: str) -> float:
    """A request's RFC 3339 time (`2026-12-04T17:16:10.123456789Z`, any offset) → epoch seconds;
    BadRequest naming the field otherwise."""
    try:
        return rfc3339_to_epoch(value)
    except TimeFormatError as e:
        raise BadRequest(f"{field}: {e}") from None


def matcher_json(m: Matcher) -> dict[str, Any]:
    return {"name": m.name, "value": m.value, "isRegex": m.op in ("=~", "!~"), "isEqual": m.op in ("=", "=~")}


def matcher_from_json(d: Any, where: str) -> Matcher:
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not isinstance(d.get("value"), str):
        raise BadRequest(f"{where}: a matcher needs string name and value")
    if not d["name"].strip():
        raise BadRequest(f"{where}: a matcher needs a label name")
    if not isinstance(d.get("isRegex", False), bool) or not isinstance(d.get("isEqual", True), bool):
        raise BadRequest(f"{where}: isRegex and isEqual must be booleans")
    regex, equal = d.get("isRegex", False), d.get("isEqual", True)
    op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
    try:
        return Matcher(d["name"], op, d["value"])
    except ConfigError as e:     # an invalid regex
        raise BadRequest(f"{where}: {e}") from None


def silence_json(s: Silence, now: float) -> dict[str, Any]:
    """GettableSilence."""
    return {"id": s.id, "status": {"state": s.state(now)}, "updatedAt": iso(max(s.created_at, 0.0)),
            "matchers": [matcher_json(m) for m in s.matchers], "startsAt": iso(s.starts_at),
            "endsAt": iso(s.ends_at), "createdBy": s.created_by, "comment": s.comment, "annotations": {}}


def silence_from_json(body: Any, now: float) -> Silence:
    """PostableSilence → Silence (a new id unless `id` is given: then the caller updates that one)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a silence object")
    raw = body.get("matchers")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("matchers: a silence needs at least one matcher")
    matchers = tuple(matcher_from_json(m, f"matchers[{i}]") for i, m in enumerate(raw))
    for f in ("createdBy", "comment"):
        if not isinstance(body.get(f), str) or not body[f].strip():
            raise BadRequest(f"{f}: required, a non-empty string")
    start = request_time(body.get("startsAt"), "startsAt")
    end = request_time(body.get("endsAt"), "endsAt")
    if end <= start:
        raise BadRequest("endsAt must be after startsAt")
    if end <= now:
        raise BadRequest("endsAt is in the past")
    try:        # Silence.new refuses matchers that would mute every alert (Alertmanager's own rule)
        s = Silence.new(matchers, starts_at=max(start, now), ends_at=end,
                        created_by=body["createdBy"], comment=body["comment"])
    except ValueError as e:
        raise BadRequest(f"matchers: {e}") from None
    s.created_at = now
    sid = body.get("id")
    if sid not in (None, ""):
        if not isinstance(sid, str):
            raise BadRequest("id must be a string")
        s.id = sid
    return s


def alert_state(alert: Alert, silenced_by: list[str]) -> dict[str, Any]:
    by = (alert.labels or {}).get("suppressed_by", "")
    inhibited = [by.split(":", 2)[-1]] if by.startswith("inhibit:") else []
    silenced = list(silenced_by)
    if by.startswith("silence:") and by[8:] not in silenced:
        silenced.append(by[8:])
    state = "suppressed" if silenced or inhibited else "active"
    return {"state": state, "silencedBy": silenced, "inhibitedBy": inhibited, "mutedBy": []}


def receivers_of(alert: Alert, default: str) -> list[str]:
    names = sorted({r.get("responder", "") for r in alert.routes if r.get("responder")})
    return names or [default]


def gettable_alert(alert: Alert, am: AmAlert, silenced_by: list[str], default_receiver: str) -> dict[str, Any]:
    return {"labels": am.labels, "annotations": am.annotations, "startsAt": am.starts_at, "endsAt": am.ends_at,
            "updatedAt": iso(max(alert.updated, alert.last_seen)), "generatorURL": am.generator_url,
            "fingerprint": am.fingerprint, "receivers": [{"name": n} for n in receivers_of(alert, default_receiver)],
            "status": alert_state(alert, silenced_by)}
