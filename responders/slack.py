"""Slack-compatible message notifier (incoming webhook: Slack, Mattermost, Rocket.Chat).

type `slack`: one message per notification group — a header line, one line per alert
(severity, status, entity, title, count, short id) and a context line with the group labels.
Same delivery semantics as the webhook notifier (responders.delivery): connection errors, 429 and
5xx are retryable (Retry-After honoured), other 4xx are not; `Idempotency-Key` on every request;
retried by the act stage from a bounded buffer (`max_buffer`, `retry_*`, `give_up_after_s`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import requests

from core.registry import register
from responders.base import Responder
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, idempotency_key, post

EMOJI = {"critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:",
         "low": ":large_yellow_circle:", "info": ":information_source:"}


def slack_message(alerts, group: dict[str, str], channel: str = "", username: str = "warden") -> dict[str, Any]:
    firing = [a for a in alerts if a.status != "resolved"]
    head = (f"[{'FIRING' if firing else 'RESOLVED'}:{len(firing) or len(alerts)}] "
            + ", ".join(f"{k}={v}" for k, v in sorted(group.items())))
    lines = [f"{EMOJI.get(a.severity, '')} *{a.severity}* {a.status} `{a.entity}` {a.title} (x{a.count}, {a.id[:12]})"
             for a in alerts]
    msg: dict[str, Any] = {
        "username": username, "text": head,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{head}*"}},
                   {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}},
                   {"type": "context", "elements": [{"type": "mrkdwn",
                                                     "text": "warden alerts show <id> · warden alerts ack <id>"}]}]}
    if channel:
        msg["channel"] = channel
    return msg


@register
class SlackResponder(Responder):
    type = "slack"
    action = "notify"
    notifies = True
    permissions = ("network:egress",)
    example_config = {"url": "http://127.0.0.1:9/slack"}

    @dataclass
    class Config(DeliveryConfigMixin):
        url: str = ""
        channel: str = ""
        username: str = "warden"
        timeout_s: float = 5.0

        def validate(self) -> None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL (the incoming-webhook URL)")
            self.validate_delivery()

    def target(self, alert, params) -> str:
        return self.config.channel or "slack"

    def execute(self, action, alert):
        return self.notify([alert], {"alertname": alert.rule}, action)

    def notify(self, alerts, group, action):
        body = orjson.dumps(slack_message(alerts, group, self.config.channel, self.config.username))
        key = idempotency_key(alerts)
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        status = post(requests, self.config.url, body, headers, self.config.timeout_s, "slack")
        return {"status_code": status, "alerts": len(alerts), "idempotency_key": key}
