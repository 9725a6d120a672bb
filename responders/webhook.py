"""Webhook notifier: POSTs an Alertmanager-compatible JSON payload, signed with HMAC-SHA256.

Header `X-Warden-Signature: sha256=<hex of HMAC(secret, body)>` when a secret is configured
(or WARDEN_WEBHOOK_SECRET). Failures say whether a retry is worth it: connection errors, 429 and
5xx are retryable (with the receiver's Retry-After); other 4xx are not (responders.delivery).
Every request carries `Idempotency-Key` (alert id + state; a hash of those for a group), so a
retry or a replay is recognisable by receivers that deduplicate; the act stage retries from a
bounded buffer per notifier (`max_buffer`, `retry_initial_s`, `retry_max_s`, `give_up_after_s`).
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field

import orjson
import requests

from agent.registry import register
from agent.stores.base import iso
from responders.base import Responder
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, idempotency_key, post


def alertmanager_payload(alert, receiver: str) -> dict:
    labels = {"alertname": alert.title, "severity": alert.severity, "entity": alert.entity,
              "rule": alert.rule, "warden_alert_id": alert.id, **{k: str(v) for k, v in alert.labels.items()}}
    am = {"status": "resolved" if alert.status == "resolved" else "firing", "labels": labels,
          "annotations": {"description": alert.description, "summary": alert.title,
                          "count": str(alert.count)},
          "startsAt": iso(alert.first_seen),
          "endsAt": iso(alert.last_seen) if alert.status == "resolved" else "0001-01-01T00:00:00Z",
          "fingerprint": alert.id[:16], "generatorURL": ""}
    return {"version": "4", "groupKey": alert.group_key, "truncatedAlerts": 0, "status": am["status"],
            "receiver": receiver, "groupLabels": {"entity": alert.entity, "rule": alert.rule},
            "commonLabels": labels, "commonAnnotations": am["annotations"], "externalURL": "", "alerts": [am]}


def alertmanager_group_payload(alerts, receiver: str, group_labels: dict, group_key: str = "") -> dict:
    """One Alertmanager webhook message (version 4) for a group of alerts."""
    items = [alertmanager_payload(a, receiver)["alerts"][0] for a in alerts]
    common = dict(items[0]["labels"]) if items else {}
    for it in items[1:]:
        common = {k: v for k, v in common.items() if it["labels"].get(k) == v}
    status = "firing" if any(it["status"] == "firing" for it in items) else "resolved"
    return {"version": "4", "groupKey": group_key or ",".join(f"{k}={v}" for k, v in sorted(group_labels.items())),
            "truncatedAlerts": 0, "status": status, "receiver": receiver, "groupLabels": dict(group_labels),
            "commonLabels": common, "commonAnnotations": items[0]["annotations"] if len(items) == 1 else {},
            "externalURL": "", "alerts": items}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class WebhookResponder(Responder):
    type = "webhook"
    action = "notify"
    permissions = ("network:egress",)
    notifies = True
    example_config = {"url": "http://127.0.0.1:9/hook"}

    @dataclass
    class Config(DeliveryConfigMixin):
        url: str = ""
        secret: str | None = None
        timeout_s: float = 5.0
        headers: dict = field(default_factory=dict)

        def validate(self) -> None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL")
            self.validate_delivery()

    def on_start(self) -> None:
        self.session = requests.Session()

    def target(self, alert, params) -> str:
        return self.config.url

    def execute(self, action, alert):
        return self._post(orjson.dumps(alertmanager_payload(alert, self.name)), [alert])

    def notify(self, alerts, group, action):
        return self._post(orjson.dumps(alertmanager_group_payload(alerts, self.name, group,
                                                                  action.params.get("notification", ""))), alerts)

    def _post(self, body: bytes, alerts) -> dict:
        if not self._started:
            self.start()
        key = idempotency_key(alerts)
        headers = {"Content-Type": "application/json", **self.config.headers, IDEMPOTENCY_HEADER: key}
        secret = self.config.secret or os.environ.get("WARDEN_WEBHOOK_SECRET")
        if secret:
            headers["X-Warden-Signature"] = sign(secret, body)
        status = post(self.session, self.config.url, body, headers, self.config.timeout_s, "webhook")
        return {"status_code": status, "idempotency_key": key}

    def on_close(self) -> None:
        self.session.close()
