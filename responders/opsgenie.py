"""Opsgenie notifier: Opsgenie's Alert API v2, one request per alert.

type `opsgenie`, options `api_key` (an API integration key; or $WARDEN_OPSGENIE_API_KEY), `url`
(default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com), `responders` (Opsgenie
responders, e.g. [{type: team, name: ml-oncall}]), `tags` (added to every alert), `source`, `user`,
`external_url`, `timeout_s`, and the delivery options every notifier has.

- a firing alert creates (`POST /v2/alerts`), an acknowledged one acknowledges
  (`POST /v2/alerts/{alias}/acknowledge?identifierType=alias`), a resolved one closes
  (`.../close?identifierType=alias`); the alias `warden-<alert id>` is Opsgenie's dedup key, so a
  retried or replayed create adds nothing new and ack / close find the alert;
- create body within Opsgenie's documented limits: message (title) 130 characters, alias 512,
  description 15,000, entity 512, source 100, user 100, note 25,000, at most 20 tags of 50
  characters, details as string values within 8,000 characters in all; priority P1..P5 from
  warden's critical..info;
- authentication `Authorization: GenieKey <api_key>`; 202 is success; 429 and 5xx are retried
  through the act stage's buffer, other 4xx given up with Opsgenie's message (responders.delivery).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

from core.alertmanager import generator_url
from core.event import Alert
from core.registry import register
from core.times import iso
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, post
from responders.http_notifier import HttpNotifier, check_http_url

API_KEY_ENV = "WARDEN_OPSGENIE_API_KEY"
PRIORITY = {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4", "info": "P5"}
LIMITS = {"message": 130, "alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100,
          "note": 25000}
MAX_TAGS, MAX_TAG = 20, 50
MAX_DETAILS = 8000
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
VERB = {"resolved": "close", "acknowledged": "acknowledge"}      # any other state creates


def alias(alert: Alert) -> str:
    return f"warden-{alert.id}"[:LIMITS["alias"]]


def _cut(s: str, field_name: str) -> str:
    n = LIMITS[field_name]
    return s if len(s) <= n else s[: n - 1] + "…"


def tags_of(alert: Alert, extra: list[str]) -> list[str]:
    out: list[str] = []
    for t in [*extra, f"severity:{alert.severity}", *alert.tags]:
        t = str(t).strip()[:MAX_TAG]
        if t and t not in out:
            out.append(t)
    return out[:MAX_TAGS]


def details_of(alert: Alert, link: str) -> dict[str, str]:
    """String key/values, within MAX_DETAILS characters in all (keys and values counted)."""
    candidates = {"warden_alert_id": alert.id, "link": link, "status": alert.status, "count": str(alert.count),
                  "first_seen": iso(alert.first_seen), "last_seen": iso(alert.last_seen), "detector": alert.detector,
                  **{f"label.{k}": str(v) for k, v in (alert.labels or {}).items()},
                  "evidence": orjson.dumps(alert.evidence, default=str).decode()}
    out: dict[str, str] = {}
    used = 0
    for k, v in candidates.items():
        if not v:
            continue
        room = MAX_DETAILS - used - len(k)
        if room <= 0:
            break
        v = v if len(v) <= room else v[: max(0, room - 1)] + "…"
        out[k] = v
        used += len(k) + len(v)
    return out


def create_body(alert: Alert, *, responders: list[dict], tags: list[str], source: str, user: str,
                external_url: str = "") -> dict[str, Any]:
    link = generator_url(external_url, alert.id)
    desc = (alert.description or alert.title) + (f"\n\n{link}" if link else "")
    body: dict[str, Any] = {"message": _cut(alert.title or alert.rule or alert.id, "message"), "alias": alias(alert),
                            "description": _cut(desc, "description"), "tags": tags_of(alert, tags),
                            "details": details_of(alert, link), "entity": _cut(alert.entity, "entity"),
                            "source": _cut(source, "source"), "priority": PRIORITY.get(alert.severity, "P3"),
                            "user": _cut(user, "user")}
    if responders:
        body["responders"] = responders
    return body


def request_for(alert: Alert, cfg, external_url: str = "") -> tuple[str, dict[str, Any]]:
    """(path, body) of the Opsgenie request an alert's state calls for."""
    verb = VERB.get(alert.status)
    if verb:
        note = _cut(f"{'Resolved' if verb == 'close' else 'Acknowledged'} in warden", "note")
        return (f"/v2/alerts/{quote(alias(alert), safe='')}/{verb}?identifierType=alias",
                {"user": _cut(cfg.user, "user"), "source": _cut(cfg.source, "source"), "note": note})
    return "/v2/alerts", create_body(alert, responders=cfg.responders, tags=cfg.tags, source=cfg.source,
                                     user=cfg.user, external_url=external_url)


@register
class OpsgenieResponder(HttpNotifier):
    type = "opsgenie"
    example_config = {"api_key": "00000000-0000-0000-0000-000000000000", "url": "http://127.0.0.1:9"}

    @dataclass
    class Config(DeliveryConfigMixin):
        api_key: str = ""
        url: str = "https://api.opsgenie.com"
        responders: list = field(default_factory=list)
        tags: list = field(default_factory=list)
        source: str = "warden"
        user: str = "warden"
        external_url: str = ""
        timeout_s: float = 10.0

        def validate(self) -> None:
            self.api_key = self.api_key or os.environ.get(API_KEY_ENV, "")
            if not self.api_key:
                raise ValueError(f"api_key (or ${API_KEY_ENV}) is required: an Opsgenie API integration key")
            check_http_url(self.url)
            for i, r in enumerate(self.responders):
                if not isinstance(r, dict) or r.get("type") not in RESPONDER_TYPES or \
                        not any(isinstance(r.get(k), str) and r[k] for k in ("id", "name", "username")):
                    raise ValueError(f"responders[{i}] must be {{type: team|user|escalation|schedule, "
                                     "id|name|username: ...}")
            self.validate_delivery()

    def target(self, alert, params) -> str:
        return "opsgenie"

    def notify(self, alerts, group, action):
        """One request per alert, in order; a failure raises (the act stage retries the notification:
        Opsgenie deduplicates creates by alias, and ack / close are idempotent)."""
        if not self._started:
            self.start()
        base = self.config.url.rstrip("/")
        sent = []
        for a in alerts:
            path, body = request_for(a, self.config, self.link_base())
            headers = {"Content-Type": "application/json", "Authorization": f"GenieKey {self.config.api_key}",
                       IDEMPOTENCY_HEADER: f"{alias(a)}:{a.status}"}
            post(self.session, base + path, orjson.dumps(body), headers, self.config.timeout_s, "opsgenie")
            sent.append(f"{VERB.get(a.status, 'create')}:{alias(a)}")
        return {"requests": sent, "alerts": len(alerts)}

