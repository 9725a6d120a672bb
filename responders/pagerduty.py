"""PagerDuty notifier: PagerDuty Events API v2 (`POST /v2/enqueue`), one event per alert.

type `pagerduty`, options `routing_key` (the service integration key, 32 characters; or
$WARDEN_PAGERDUTY_ROUTING_KEY), `url` (default https://events.pagerduty.com/v2/enqueue; the EU
service region: https://events.eu.pagerduty.com/v2/enqueue), `source` (payload.source when the alert
names no host; default warden), `external_url` (the link back to the alert), `timeout_s`, and the
delivery options every notifier has.

- a firing alert is a `trigger`, an acknowledged one `acknowledge`, a resolved one `resolve`, all
  with `dedup_key` `warden-<alert id>`: the same PagerDuty alert from trigger to resolve, and a
  retried or replayed trigger adds nothing new;
- trigger payload: summary (title, at most 1,024 characters), source (the entity), severity
  (critical | error | warning | info from warden's critical | high | medium | low, info), timestamp,
  component (detector), group (policy), class (detector rule), custom_details (labels, count,
  evidence — capped so an event stays far below the 512 KB limit), a link to the alert in warden;
- delivery: 202 is success; 429 and 5xx are retried through the act stage's buffer, 400 (an event
  PagerDuty refuses) is given up with PagerDuty's own message (responders.delivery).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from core.alertmanager import generator_url
from core.event import Alert
from core.registry import register
from core.times import iso
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, post
from responders.http_notifier import HttpNotifier, check_http_url

ROUTING_KEY_ENV = "WARDEN_PAGERDUTY_ROUTING_KEY"
SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "warning", "info": "info"}
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_DETAILS_BYTES = 64 * 1024


def dedup_key(alert: Alert) -> str:
    return f"warden-{alert.id}"[:MAX_DEDUP_KEY]


def event_action(alert: Alert) -> str:
    return {"resolved": "resolve", "acknowledged": "acknowledge"}.get(alert.status, "trigger")


def capped(obj: dict[str, Any], limit: int) -> dict[str, Any]:
    """`obj` itself when its JSON fits `limit` bytes; else its keys one by one while they fit, and a
    note of how many were left out (they stay in warden's alert)."""
    if len(orjson.dumps(obj, default=str)) <= limit:
        return obj
    out: dict[str, Any] = {}
    used = 64
    for k, v in obj.items():
        n = len(orjson.dumps({k: v}, default=str))
        if used + n > limit:
            continue
        out[k] = v
        used += n
    out["warden_truncated"] = f"{len(obj) - len(out)} field(s) left out: see the alert in warden"
    return out


def pagerduty_event(alert: Alert, routing_key: str, source: str = "warden", external_url: str = "") -> dict[str, Any]:
    """One Events API v2 event for an alert."""
    ev: dict[str, Any] = {"routing_key": routing_key, "event_action": event_action(alert),
                          "dedup_key": dedup_key(alert)}
    if ev["event_action"] != "trigger":
        return ev
    details = capped({"alert_id": alert.id, "status": alert.status, "count": alert.count,
                      "first_seen": iso(alert.first_seen), "last_seen": iso(alert.last_seen),
                      "labels": dict(alert.labels), "tags": list(alert.tags), "description": alert.description,
                      "evidence": alert.evidence}, MAX_DETAILS_BYTES)
    payload = {"summary": (alert.title or alert.rule or alert.id)[:MAX_SUMMARY], "source": alert.entity or source,
               "severity": SEVERITY.get(alert.severity, "warning"), "timestamp": iso(alert.first_seen),
               "component": alert.detector or "warden", "group": alert.rule,
               "class": (alert.labels or {}).get("rule", "") or alert.rule, "custom_details": details}
    ev["payload"] = payload
    ev["client"] = "warden"
    url = generator_url(external_url, alert.id)
    if url:
        ev["client_url"] = url
        ev["links"] = [{"href": url, "text": "Alert in warden"}]
    return ev


@register
class PagerDutyResponder(HttpNotifier):
    type = "pagerduty"
    example_config = {"routing_key": "0123456789abcdef0123456789abcdef", "url": "http://127.0.0.1:9/v2/enqueue"}

    @dataclass
    class Config(DeliveryConfigMixin):
        routing_key: str = ""
        url: str = "https://events.pagerduty.com/v2/enqueue"
        source: str = "warden"
        external_url: str = ""
        timeout_s: float = 10.0

        def validate(self) -> None:
            self.routing_key = self.routing_key or os.environ.get(ROUTING_KEY_ENV, "")
            if len(self.routing_key) != 32 or not self.routing_key.isalnum():
                raise ValueError(f"routing_key (or ${ROUTING_KEY_ENV}) must be the service's 32-character "
                                 "integration key")
            check_http_url(self.url)
            self.validate_delivery()

    def target(self, alert, params) -> str:
        return "pagerduty"

    def notify(self, alerts, group, action):
        """One event per alert, in order; a failure raises (the act stage retries the notification:
        events already accepted are deduplicated by PagerDuty on their dedup_key)."""
        if not self._started:
            self.start()
        sent = []
        for a in alerts:
            ev = pagerduty_event(a, self.config.routing_key, self.config.source, self.link_base())
            headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: f"{ev['dedup_key']}:{ev['event_action']}"}
            post(self.session, self.config.url, orjson.dumps(ev, default=str), headers, self.config.timeout_s,
                 "pagerduty")
            sent.append(f"{ev['event_action']}:{ev['dedup_key']}")
        return {"events": sent, "alerts": len(alerts)}

