"""Alertmanager notifier: pushes warden's alerts to a real Alertmanager (`POST /api/v2/alerts`),
the way Prometheus does, so they are grouped, silenced, inhibited and routed there.

type `alertmanager`, options `url` (Alertmanager's base URL, e.g. http://alertmanager:9093),
`resend_interval_s` (default 60), `external_url` (generatorURL base), `timeout_s`, `headers`
(e.g. Authorization for an Alertmanager behind a proxy), and the delivery options every notifier has.

- each notification posts its alerts with labels (alertname = policy id, severity, entity, ...,
  `warden_alert_id`), annotations (summary, description, count, detector), `generatorURL` and
  `startsAt`;
- a firing alert is sent with `endsAt = now + 4 x resend_interval_s` and re-sent every
  `resend_interval_s` while it fires (a background refresher), so Alertmanager keeps it active
  while warden runs and resolves it by itself if warden stops refreshing (Prometheus' rule);
  the refresher starts from the firing alerts of the store routed to this notifier (a restarted
  warden refreshes what it had sent), and failed refreshes are counted
  (`act.alertmanager_refresh_errors`) and tried again at the next interval;
- a resolved alert is sent once with `endsAt` = its last_seen, and leaves the refresher.
Delivery failures of a notification itself follow the other notifiers' rules (responders.delivery:
retryable 429/5xx/connection errors through the act stage's buffer, 4xx given up).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import orjson

from core.alertmanager import AmAlert
from core.event import Alert
from core.registry import register
from responders.delivery import IDEMPOTENCY_HEADER, DeliveryConfigMixin, DeliveryError, idempotency_key, post
from responders.http_notifier import HttpNotifier, check_http_url

log = logging.getLogger("warden.responders.alertmanager")


@register
class AlertmanagerResponder(HttpNotifier):
    type = "alertmanager"
    example_config = {"url": "http://127.0.0.1:9093"}

    @dataclass
    class Config(DeliveryConfigMixin):
        url: str = ""
        resend_interval_s: float = 60.0
        external_url: str = ""
        timeout_s: float = 5.0
        headers: dict = field(default_factory=dict)

        def validate(self) -> None:
            check_http_url(self.url, "url (Alertmanager's base URL)")
            if self.resend_interval_s <= 0:
                raise ValueError("resend_interval_s must be > 0")
            self.validate_delivery()

    def on_start(self) -> None:
        super().on_start()
        self.endpoint = self.config.url.rstrip("/") + "/api/v2/alerts"
        self._firing: dict[str, Alert] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seeded = False
        self.refreshes = 0
        self.refresh_errors = 0

    def bind_runtime(self, rt) -> None:
        """Bound to the act stage: start refreshing (first from the store's firing alerts)."""
        super().bind_runtime(rt)
        self.start()
        self._ensure_refresher()

    def target(self, alert, params) -> str:
        return self.config.url

    # sending -------------------------------------------------------------------------------------
    def ends_at(self, now: float) -> float:
        return now + 4 * self.config.resend_interval_s

    def payload(self, alerts: list[Alert], now: float) -> bytes:
        end = self.ends_at(now)
        return orjson.dumps([AmAlert.of(a, self.link_base(), ends_at=end).postable() for a in alerts])

    def _send(self, alerts: list[Alert]) -> int:
        headers = {"Content-Type": "application/json", **self.config.headers, IDEMPOTENCY_HEADER: idempotency_key(alerts)}
        return post(self.session, self.endpoint, self.payload(alerts, time.time()), headers, self.config.timeout_s,
                    "alertmanager")

    def notify(self, alerts, group, action):
        if not self._started:
            self.start()
        status = self._send(list(alerts))
        with self._lock:
            for a in alerts:
                if a.status == "resolved":
                    self._firing.pop(a.id, None)
                else:
                    self._firing[a.id] = a
        self._ensure_refresher()
        return {"status_code": status, "alerts": len(alerts), "idempotency_key": idempotency_key(alerts)}

    # refreshing ----------------------------------------------------------------------------------
    def firing(self) -> list[Alert]:
        with self._lock:
            return list(self._firing.values())

    def seed_from_store(self) -> None:
        """The firing alerts of the store routed (for real) to this notifier: what a restarted warden
        had pushed and must keep refreshing."""
        rt = getattr(self, "rt", None)
        if self._seeded or rt is None:
            return
        self._seeded = True
        from core.stores.base import AlertQuery
        try:
            found = [a for status in ("firing", "acknowledged")
                     for a in rt.store.list_alerts(AlertQuery(status=status, limit=1000))]
        except Exception as e:  # noqa: BLE001 - the store answers next time: notify() fills the set meanwhile
            self._seeded = False
            log.warning("%s: cannot read firing alerts to refresh: %s", self.name, e)
            return
        mine = [a for a in found if any(r.get("responder") == self.name and not r.get("dry_run", True)
                                        for r in a.routes)]
        with self._lock:
            for a in mine:
                self._firing.setdefault(a.id, a)

    def refresh(self) -> int:
        """Re-send every firing alert with a new endsAt; the number sent (0 when none or on failure)."""
        self.start()
        self.seed_from_store()
        alerts = self.firing()
        if not alerts:
            return 0
        try:
            self._send(alerts)
        except DeliveryError as e:
            self.refresh_errors += 1
            rt = getattr(self, "rt", None)
            if rt is not None:
                rt.counters.inc("act.alertmanager_refresh_errors")
            log.warning("%s: refreshing %d alerts failed: %s", self.name, len(alerts), e)
            return 0
        self.refreshes += 1
        return len(alerts)

    def _ensure_refresher(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._refresh_loop, name=f"warden-{self.name}-refresh", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.config.resend_interval_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a refresher bug must not end refreshing
                log.exception("%s: refresh failed", self.name)

    def on_close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout_s + 1)
        super().on_close()
