"""Base of the notifiers that speak HTTP (webhook, Alertmanager, PagerDuty, Opsgenie): one session,
the link back to warden (`external_url`: the option, else $WARDEN_EXTERNAL_URL or the HTTP
server's address) and one notification per alert when run outside the act stage's grouping."""
from __future__ import annotations

from typing import ClassVar

import requests

from core.alertmanager import default_external_url
from responders.base import Responder


def check_http_url(url: str, what: str = "url") -> None:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{what} must be an http(s) URL")


class HttpNotifier(Responder):
    action = "notify"
    notifies = True
    permissions: ClassVar[tuple[str, ...]] = ("network:egress",)
    external_url = ""

    def on_start(self) -> None:
        self.session = requests.Session()

    def bind_runtime(self, rt) -> None:
        super().bind_runtime(rt)
        own = (getattr(self.config, "external_url", "") or "").rstrip("/")
        self.external_url = own or default_external_url(rt.cfg)

    def link_base(self) -> str:
        return (self.external_url or "").rstrip("/")

    def execute(self, action, alert):
        return self.notify([alert], {"alertname": alert.rule}, action)

    def on_close(self) -> None:
        self.session.close()
