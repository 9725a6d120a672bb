"""A warden alert in Alertmanager's terms — one mapping shared by the webhook payload, the
`alertmanager` notifier (pushes to Alertmanager's API) and the Alertmanager v2 API warden serves.

- labels: the alert's own labels (alertname = policy id, severity, entity, rule, detector, ...,
  the ones decide matches silences against) plus `warden_alert_id`; label names outside
  Alertmanager's `[a-zA-Z_][a-zA-Z0-9_]*` have their other characters replaced by `_`, and empty
  values are left out (in Prometheus an empty label is an absent one);
- annotations: summary (title), description, count, detector;
- startsAt / endsAt: first_seen; endsAt is last_seen once resolved, otherwise `ends_at` given by
  the caller (a notifier that refreshes) or Alertmanager's zero time (the webhook's "still firing");
- generatorURL: the alert's page on warden (`<external_url>/ui/#/alerts/<id>`);
- fingerprint: Alertmanager's own (FNV-1a 64 over the sorted label names and values), so the same
  alert has the same fingerprint in warden's API and in an Alertmanager it was pushed to;
- group key: Alertmanager's form `{}/{receiver="<name>"}:{<group labels>}` — a function of the
  receiver and the group's labels only, so it is the same on every notification of a group, from
  firing to resolved.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.event import Alert
from core.times import iso

ZERO_TIME = "0001-01-01T00:00:00Z"
_BAD_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEP = 0xFF


def label_name(name: str) -> str:
    """An Alertmanager-valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`)."""
    out = _BAD_NAME_CHARS.sub("_", name) or "_"
    return "_" + out if out[0].isdigit() else out


def labels_of(alert: Alert) -> dict[str, str]:
    base = {"alertname": alert.rule, "severity": alert.severity, "entity": alert.entity, "rule": alert.rule}
    merged = {**base, **{k: str(v) for k, v in (alert.labels or {}).items()}, "warden_alert_id": alert.id}
    return {label_name(k): v for k, v in sorted(merged.items()) if v != ""}


def annotations_of(alert: Alert) -> dict[str, str]:
    out = {"summary": alert.title, "description": alert.description or alert.title, "count": str(alert.count)}
    if alert.detector:
        out["detector"] = alert.detector
    return out


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's `model.LabelSet.Fingerprint()`: FNV-1a 64 over name, 0xff, value, 0xff, sorted by name."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _SEP) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def generator_url(external_url: str, alert_id: str) -> str:
    return f"{external_url.rstrip('/')}/ui/#/alerts/{alert_id}" if external_url else ""


def group_key(receiver: str, group_labels: dict[str, str]) -> str:
    """Alertmanager's group key: the route, the receiver and the group's labels; nothing that changes
    between notifications of the same group."""
    inner = ",".join(f'{label_name(k)}="{v}"' for k, v in sorted(group_labels.items()))
    return f'{{}}/{{receiver="{receiver}"}}:{{{inner}}}'


def state_of(alert: Alert) -> str:
    return "resolved" if alert.status == "resolved" else "firing"


@dataclass(frozen=True)
class AmAlert:
    """One alert as Alertmanager's APIs and webhook describe it."""
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str
    generator_url: str
    fingerprint: str
    status: str           # firing | resolved

    @classmethod
    def of(cls, alert: Alert, external_url: str = "", ends_at: float | None = None) -> "AmAlert":
        labels = labels_of(alert)
        if alert.status == "resolved":
            end = iso(max(alert.last_seen, alert.first_seen))
        else:
            end = iso(max(ends_at, alert.first_seen)) if ends_at is not None else ZERO_TIME
        return cls(labels=labels, annotations=annotations_of(alert), starts_at=iso(alert.first_seen), ends_at=end,
                   generator_url=generator_url(external_url, alert.id), fingerprint=fingerprint(labels),
                   status=state_of(alert))

    def postable(self) -> dict[str, Any]:
        """`POST /api/v2/alerts` item (PostableAlert)."""
        out: dict[str, Any] = {"labels": self.labels, "annotations": self.annotations, "startsAt": self.starts_at,
                               "generatorURL": self.generator_url}
        if self.ends_at != ZERO_TIME:
            out["endsAt"] = self.ends_at
        return out

    def webhook(self) -> dict[str, Any]:
        """An item of the webhook message's `alerts` (version 4)."""
        return {"status": self.status, "labels": self.labels, "annotations": self.annotations,
                "startsAt": self.starts_at, "endsAt": self.ends_at, "generatorURL": self.generator_url,
                "fingerprint": self.fingerprint}


def common(items: list[dict[str, str]]) -> dict[str, str]:
    """The name/value pairs every mapping in `items` shares (commonLabels, commonAnnotations)."""
    if not items:
        return {}
    out = dict(items[0])
    for it in items[1:]:
        out = {k: v for k, v in out.items() if it.get(k) == v}
    return out


def default_external_url(cfg) -> str:
    """Where people reach this warden (`cfg`: agent.config.WardenConfig): $WARDEN_EXTERNAL_URL,
    else the HTTP server's own address."""
    import os
    env = os.environ.get("WARDEN_EXTERNAL_URL", "")
    if env:
        return env.rstrip("/")
    hc = cfg.http
    scheme = "https" if hc.tls_cert else "http"
    return f"{scheme}://{hc.host}:{hc.port}"
