"""Retraining trigger: when a model drifts, ask the training platform for a retraining run.

type `retrain`: publishes a request on the `warden.retrain` topic and, when `url` is configured,
POSTs the same JSON (HMAC-signed like the webhook notifier when `secret` is set):
  {"model": {"name", "version", "endpoint"}, "reason", "alert": {id, rule, severity, first_seen,
   last_seen, count}, "drift_report": <alert evidence>, "event_ids": [...], "requested_at"}
A cooldown per model (default 6h, kept in the state store so it survives restarts) makes one
drift episode trigger one retraining, not ten: requests inside the cooldown are recorded as
skipped with the time the cooldown ends.
Model identity on the alert: labels / evidence `model` / `model.name` / `gen_ai.request.model`,
`model.version`, else the alert entity (the endpoint).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
import requests

from core.registry import register
from responders.base import Responder, ResponderError, SkipAction, alert_value
from responders.webhook import sign


@register
class RetrainResponder(Responder):
    type = "retrain"
    action = "retrain"
    parameters: ClassVar[dict] = {"pipeline": (str, False)}
    permissions = ("bus:produce warden.retrain", "network:egress (url)")

    @dataclass
    class Config:
        url: str = ""                 # optional training-platform webhook
        secret: str | None = None
        cooldown_s: float = 6 * 3600.0
        topic: str = "retrain"
        timeout_s: float = 10.0
        headers: dict = field(default_factory=dict)

        def validate(self) -> None:
            if self.url and not self.url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL")
            if self.cooldown_s < 0:
                raise ValueError("cooldown_s must be >= 0")

    rt = None
    NS = "retrain:cooldown"

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._last: dict[str, float] = {}

    def model(self, alert) -> dict[str, str]:
        name = alert_value(alert, "model", "model.name", "gen_ai.request.model", "evidence.model",
                           "evidence.model.name") or alert.entity
        if isinstance(name, dict):
            name = name.get("name") or alert.entity
        version = alert_value(alert, "model.version", "model_version", "evidence.model.version", "evidence.model_version")
        return {"name": str(name), "version": "" if version is None else str(version), "endpoint": alert.entity}

    def target(self, alert, params) -> str:
        m = self.model(alert)
        return f"model:{m['name']}" + (f"@{m['version']}" if m["version"] else "")

    def payload(self, alert, params) -> dict[str, Any]:
        return {"model": self.model(alert), "pipeline": params.get("pipeline", ""), "reason": alert.title,
                "alert": {"id": alert.id, "rule": alert.rule, "severity": alert.severity,
                          "first_seen": alert.first_seen, "last_seen": alert.last_seen, "count": alert.count},
                "drift_report": alert.evidence, "event_ids": list(alert.event_ids[:50]), "requested_at": time.time()}

    def _last_trigger(self, key: str) -> float:
        if self.rt is not None:
            blob = self.rt.state.get(self.NS, key)
            return float(blob) if blob else 0.0
        return self._last.get(key, 0.0)

    def _remember(self, key: str, t: float) -> None:
        self._last[key] = t
        if self.rt is not None:
            self.rt.state.put(self.NS, key, str(t).encode())

    def execute(self, action, alert):
        key = self.target(alert, action.params)
        now = time.time()
        last = self._last_trigger(key)
        if last and now - last < self.config.cooldown_s:
            raise SkipAction(f"retraining of {key} already requested at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(last))};"
                             f" cooldown until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(last + self.config.cooldown_s))}")
        body = orjson.dumps(self.payload(alert, action.params), option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        out: dict[str, Any] = {"model": key}
        if self.rt is not None:
            self.rt.producer.send(self.rt.topic(self.config.topic), body, key.encode())
            out["topic"] = self.rt.topic(self.config.topic)
        if self.config.url:
            headers = {"Content-Type": "application/json", **self.config.headers}
            secret = self.config.secret or os.environ.get("WARDEN_WEBHOOK_SECRET")
            if secret:
                headers["X-Warden-Signature"] = sign(secret, body)
            try:
                r = requests.post(self.config.url, data=body, headers=headers, timeout=self.config.timeout_s)
            except requests.RequestException as e:
                raise ResponderError(f"retrain webhook unreachable: {type(e).__name__}", retryable=True) from None
            if r.status_code >= 500 or r.status_code == 429:
                raise ResponderError(f"retrain webhook answered {r.status_code}", retryable=True)
            if r.status_code >= 400:
                raise ResponderError(f"retrain webhook answered {r.status_code}", retryable=False)
            out["status_code"] = r.status_code
        self._remember(key, now)
        return out
