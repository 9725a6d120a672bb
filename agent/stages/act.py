"""Act: store alerts (Elasticsearch or SQLite) and run the responders their policies route to.

Actions are idempotent: an action's id hashes (alert, responder, verb, target, alert status), so a
redelivered alert never acts twice (`act.dedup`). Dry-run routes record the action as `planned`
without touching anything. Retryable failures are retried with backoff a bounded number of
times; what still fails is recorded as `failed` and counted.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from agent import codec, registry
from agent.bus.base import Record
from agent.codec import DecodeError
from agent.errors import ConfigError
from agent.event import Action, Alert
from agent.stages.base import Stage
from responders.base import ResponderError

log = logging.getLogger("warden.act")


class ActStage(Stage):
    name = "act"
    input_topics = ("alerts",)

    def __init__(self, rt, *, responders: list | None = None, policies=None, retries: int = 3, **kw) -> None:
        super().__init__(rt, **kw)
        built = responders if responders is not None else rt.build("responder")
        self.responders = {r.name: r for r in built}
        self.retries = retries
        self._done: set[str] = set()
        self._actions_topic = rt.topic("actions")
        if policies is not None:
            self.check_policies(policies)

    def check_policies(self, policies) -> None:
        """Every route names a responder that exists (or can be built with defaults) and valid params."""
        for p in policies.policies:
            for i, route in enumerate(p.routes):
                r = self.responder(route["responder"], where=f"{p.source}.routes[{i}]")
                r.check_route(route.get("params") or {}, f"{p.source}.routes[{i}]")

    def responder(self, name: str, where: str = ""):
        r = self.responders.get(name)
        if r is None:
            try:
                r = registry.create("responder", name, {})
            except ConfigError as e:
                raise ConfigError(f"{where}: responder {name} is not configured and cannot be built "
                                  f"with defaults: {e}") from None
            self.responders[name] = r
        return r

    def handle(self, records: list[Record]) -> None:
        alerts: list[Alert] = []
        for rec in records:
            try:
                alerts.append(codec.decode(rec.value, "alert"))
            except DecodeError as e:
                self.rt.dead_letter("act", rec.value, str(e), rec.topic)
        if not alerts:
            return
        self.rt.store.upsert_alerts(alerts)
        self.rt.counters.inc("act.alerts_stored", len(alerts))
        actions: list[Action] = []
        for a in alerts:
            for route in a.routes:
                actions.extend(self._run_route(a, route))
        if actions:
            self.rt.store.put_actions(actions)
            for act in actions:
                self.rt.producer.send(self._actions_topic, codec.encode(act), act.alert_id.encode())

    def _run_route(self, alert: Alert, route: dict) -> list[Action]:
        try:
            r = self.responder(route["responder"], where=f"alert {alert.id}")
        except ConfigError as e:
            self.rt.dead_letter("act", codec.to_dict(alert), str(e), route.get("responder", ""))
            return []
        out = []
        for action in r.plan(alert, route):
            if action.id in self._done or self._seen_in_store(action):
                self.rt.counters.inc("act.dedup")
                continue
            self._done.add(action.id)
            missing = r.missing_fields(alert)
            if missing:
                action = dataclasses.replace(action, status="skipped",
                                             result={"reason": f"alert lacks field(s) {', '.join(missing)}"})
                self.rt.counters.inc("act.skipped")
            elif action.dry_run:
                self.rt.counters.inc("act.dry_run")
            else:
                action = self._execute(r, action, alert)
            out.append(action)
        return out

    def _seen_in_store(self, action: Action) -> bool:
        return any(a.id == action.id for a in self.rt.store.list_actions(action.alert_id, limit=1000))

    def _execute(self, r, action: Action, alert: Alert) -> Action:
        delay = 0.2
        for attempt in range(1, self.retries + 1):
            try:
                result = r.execute(action, alert)
                self.rt.counters.inc("act.done")
                return dataclasses.replace(action, status="done", result=result or {}, time=time.time())
            except ResponderError as e:
                if e.retryable and attempt < self.retries:
                    self.rt.counters.inc("act.retries")
                    time.sleep(delay)
                    delay *= 2
                    continue
                self.rt.counters.inc("act.failed")
                return dataclasses.replace(action, status="failed", time=time.time(),
                                           result={"error": str(e), "retryable": e.retryable, "attempts": attempt})
            except Exception as e:  # noqa: BLE001 - a responder bug is a failed action, not a crash
                log.exception("%s crashed", r.name)
                self.rt.counters.inc("act.failed")
                return dataclasses.replace(action, status="failed", time=time.time(),
                                           result={"error": f"{type(e).__name__}: {e}", "retryable": False})
        raise AssertionError("unreachable")

    def flush_sinks(self) -> None:
        self.rt.store.flush()
        super().flush_sinks()

    def close(self) -> None:
        super().close()
        for r in self.responders.values():
            r.close()
