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

from core.alertmanager import AmAlert, common, group_key
from core.registry import register
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, idempotency_key, post
from responders.http_notifier import HttpNotifier, check_http_url


def alertmanager_payload(alert, receiver: str, external_url: str = "") -> dict:
    """The webhook message (version 4) for one alert: a group of one, keyed by its rule and entity."""
    return alertmanager_group_payload([alert], receiver, {"entity": alert.entity, "rule": alert.rule},
                                      external_url=external_url)


def alertmanager_group_payload(alerts, receiver: str, group_labels: dict, external_url: str = "") -> dict:
    """One Alertmanager webhook message (version 4) for a group of alerts. `groupKey` depends only on
    the receiver and the group's labels: the same on every message of a group, firing to resolved."""
    items = [AmAlert.of(a, external_url).webhook() for a in alerts]
    status = "firing" if any(it["status"] == "firing" for it in items) else "resolved"
    return {"version": "4", "groupKey": group_key(receiver, group_labels), "truncatedAlerts": 0, "status": status,
            "receiver": receiver, "groupLabels": dict(group_labels),
            "commonLabels": common([it["labels"] for it in items]),
            "commonAnnotations": common([it["annotations"] for it in items]),
            "externalURL": external_url, "alerts": items}


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@register
class WebhookResponder(HttpNotifier):
    type = "webhook"
    example_config = {"url": "http://127.0.0.1:9/hook"}

    @dataclass
    class Config(DeliveryConfigMixin):
        url: str = ""
        secret: str | None = None
        timeout_s: float = 5.0
        headers: dict = field(default_factory=dict)
        #: where people reach warden (externalURL, generatorURL); default $WARDEN_EXTERNAL_URL or http.host:port
        external_url: str = ""

        def validate(self) -> None:
            check_http_url(self.url)
            self.validate_delivery()

    def target(self, alert, params) -> str:
        return self.config.url

    def execute(self, action, alert):
        return self._post(orjson.dumps(alertmanager_payload(alert, self.name, self.link_base())), [alert])

    def notify(self, alerts, group, action):
        return self._post(orjson.dumps(alertmanager_group_payload(alerts, self.name, group, self.link_base())),
                          alerts)

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

