"""Act: store alerts (Elasticsearch or SQLite) and run the responders their policies route to.

- Suppressed alerts (silenced / inhibited, see decide) are stored but no responder runs
  (`act.suppressed`).
- Notifying responders (log, webhook, slack) get alerts batched per group with Alertmanager's
  timers (agent.lifecycle.grouping); the clock is the event-time watermark of the alerts, which
  also advances with wall time while the stage is idle.
- Other responders run per alert through agent.actions.executor: protected resources, dry-run,
  approval, blast radius, the hash-chained action log (intent before, result after), retries.
- Actions are idempotent: an action's id hashes (alert, responder, verb, target, alert status) —
  a notification's id hashes its group, sequence and alerts — so a redelivered alert never acts
  twice (`act.dedup`).
- Real actions whose route has `auto_revert` are undone when due (`act.auto_reverted`).
"""
from __future__ import annotations

import dataclasses
import logging
import time

import orjson

from agent import codec, registry
from agent.actions.executor import ActionExecutor
from agent.actions.log import ActionLog
from agent.bus.base import Record
from agent.codec import DecodeError
from agent.errors import ConfigError
from agent.event import Action, Alert, stable_id
from agent.lifecycle.counters_state import persist_counters
from agent.lifecycle.grouping import Notification, NotificationGroups
from agent.stages.base import Stage
from responders.base import ResponderError

log = logging.getLogger("warden.act")


class ActStage(Stage):
    name = "act"
    input_topics = ("alerts",)
    NS_GROUPS = "act:groups"
    NS_REVERTS = "act:reverts"

    def __init__(self, rt, *, responders: list | None = None, policies=None, retries: int = 3,
                 wall=time.time, sleep=time.sleep, **kw) -> None:
        super().__init__(rt, **kw)
        built = responders if responders is not None else rt.build("responder")
        self.responders = {r.name: r for r in built}
        for r in built:
            self._bind(r)
        self.retries = retries
        self._done: set[str] = set()
        self._actions_topic = rt.topic("actions")
        if policies is not None:
            self.check_policies(policies)
        else:
            from rules.policy import PolicySet
            try:
                policies = PolicySet.load(rt.cfg.policies or None)
            except ConfigError:
                policies = PolicySet([])
        self.policies = policies
        self.wall = wall
        self.executor = ActionExecutor(action_log=ActionLog.for_data_dir(rt.cfg.data_dir), safety=policies.safety,
                                       state=rt.state, counters=rt.counters, retries=retries, sleep=sleep,
                                       clock=wall, responder_for=lambda n: self.responder(n, where="safety.page"))
        self.groups = NotificationGroups()
        self.reverts: dict[str, dict] = {}
        self._reverts_dirty: set[str] = set()
        self._loaded = False
        self.watermark = 0.0
        self._wm_mono = time.monotonic()

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
            self._bind(r)
            self.responders[name] = r
        return r

    def _bind(self, r) -> None:
        bind = getattr(r, "bind_runtime", None)
        rt = getattr(self, "rt", None)   # `warden config check` builds routes without a runtime
        if bind is not None and rt is not None:
            bind(rt)

    # clock -------------------------------------------------------------------------------------
    def clock(self) -> float:
        """Event-time watermark, advanced by the wall time spent since it last moved."""
        return self.watermark + (time.monotonic() - self._wm_mono)

    def _advance(self, t: float) -> None:
        if t > self.clock():
            self.watermark = t
            self._wm_mono = time.monotonic()

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        self.groups.restore(self.rt.state, self.NS_GROUPS)
        for k in self.rt.state.keys(self.NS_REVERTS):
            blob = self.rt.state.get(self.NS_REVERTS, k)
            if blob:
                self.reverts[k] = orjson.loads(blob)
        wm = self.rt.state.get("act", "watermark")
        if wm:
            self._advance(float(wm))

    # the stage ---------------------------------------------------------------------------------
    def handle(self, records: list[Record]) -> None:
        self._load()
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
            self._advance(max(a.updated, a.last_seen))
            if a.status == "suppressed":
                self.rt.counters.inc("act.suppressed")
                self.groups.remove_alert(a.id)
                continue
            for route in a.routes:
                actions.extend(self._route(a, route))
        actions.extend(self.tick())
        self._publish(actions)

    _in_step = False

    def step(self, timeout: float = 0.1) -> int:
        self._in_step = True
        try:
            n = super().step(timeout)
        finally:
            self._in_step = False
        if n == 0 and self._loaded:
            acts = self.tick()
            if acts:
                self._publish(acts)
                self._uncommitted += 1   # make the next idle step checkpoint the new state
        return n

    def _publish(self, actions: list[Action]) -> None:
        if not actions:
            return
        self.rt.store.put_actions(actions)
        for act in actions:
            self.rt.producer.send(self._actions_topic, codec.encode(act), act.alert_id.encode())

    def _route(self, alert: Alert, route: dict) -> list[Action]:
        try:
            r = self.responder(route["responder"], where=f"alert {alert.id}")
        except ConfigError as e:
            self.rt.dead_letter("act", codec.to_dict(alert), str(e), route.get("responder", ""))
            return []
        if getattr(r, "notifies", False):
            stale = self.groups.stale
            self.groups.add(alert, route, self.clock())
            if self.groups.stale > stale:
                self.rt.counters.inc("act.dedup")    # a stale redelivery: counted, not notified
            return []
        if alert.status != "firing":
            return []   # remediation acts on firing alerts only; resolution is for notifications
        out = []
        for action in r.plan(alert, route):
            if self._seen(action):
                continue
            out.extend(self.executor.run(r, action, alert, route))
            self._track_revert(out)
        return out

    _log_index: dict | None = None

    def _seen(self, action: Action) -> bool:
        if action.id in self._done or any(a.id == action.id for a in self.rt.store.list_actions(action.alert_id, limit=1000)):
            self.rt.counters.inc("act.dedup")
            return True
        self._done.add(action.id)
        # crash after the action ran but before the store was flushed: the action log knows
        if self._log_index is None:
            self._log_index = self.executor.log.last_by_action()
        last = self._log_index.get(action.id)
        if last is not None and last.get("phase") in ("result", "record", "undo-result"):
            self.rt.store.put_actions([codec.from_dict(last["action"], "action")])
            self.rt.counters.inc("act.recovered_from_log")
            self.rt.counters.inc("act.dedup")
            return True
        if last is not None and last.get("phase") == "intent":
            self.rt.counters.inc("act.resumed")   # interrupted mid-run: run it again (responders are idempotent)
        return False

    # timers --------------------------------------------------------------------------------------
    def tick(self, force: bool = False) -> list[Action]:
        """Send the notifications whose group timers are due and run due auto-reverts."""
        out: list[Action] = []
        for n in self.groups.due(self.clock(), force=force):
            out.extend(self._notify(n))
        out.extend(self._due_reverts())
        return out

    def flush_notifications(self) -> list[Action]:
        """Send every pending notification now (shutdown, tests, `warden demo`)."""
        self._load()
        acts = self.tick(force=True)
        self._publish(acts)
        return acts

    def _notify(self, n: Notification) -> list[Action]:
        try:
            r = self.responder(n.responder, where=f"notification {n.id[:12]}")
        except ConfigError as e:
            self.rt.dead_letter("act", {"notification": n.id, "group": n.group_labels}, str(e), n.responder)
            return []
        dry = bool(n.route.get("dry_run", True))
        params = dict(n.route.get("params") or {})
        actions = []
        for a in n.alerts:
            act = Action(id=stable_id("notify", n.id, a.id, a.status), alert_id=a.id, responder=r.name,
                         action=r.action, target=r.target(a, params), dry_run=dry, status="planned",
                         time=self.wall(), params={**params, "notification": n.id, "group": n.group_labels,
                                                   "group_size": len(n.alerts), "seq": n.seq})
            if not self._seen(act):
                actions.append(act)
        if not actions:
            return []
        self.rt.counters.inc("act.notifications")
        if dry:
            self.rt.counters.inc("act.dry_run", len(actions))
            for act in actions:
                self.executor.log.append("record", codec.to_dict(act))
            return actions
        self.executor.log.append("intent", {"notification": n.id, "responder": r.name,
                                            "actions": [a.id for a in actions]})
        status, result = "failed", {}
        delay = 0.2
        for attempt in range(1, self.retries + 1):
            try:
                result = dict(r.notify(n.alerts, n.group_labels, actions[0]) or {})
                status = "done"
                break
            except ResponderError as e:
                if e.retryable and attempt < self.retries:
                    self.rt.counters.inc("act.retries")
                    self.executor.sleep(delay)
                    delay *= 2
                    continue
                result = {"error": str(e), "retryable": e.retryable, "attempts": attempt}
                break
            except Exception as e:  # noqa: BLE001 - a responder bug is a failed action, not a crash
                log.exception("%s crashed", r.name)
                result = {"error": f"{type(e).__name__}: {e}", "retryable": False}
                break
        self.rt.counters.inc("act.done" if status == "done" else "act.failed", len(actions))
        done = [dataclasses.replace(a, status=status, result=result, time=self.wall()) for a in actions]
        for a in done:
            self.executor.log.append("result", codec.to_dict(a))
        return done

    def _track_revert(self, actions: list[Action]) -> None:
        for a in actions:
            at = a.result.get("revert_at") if a.status == "done" else None
            if at and a.id not in self.reverts:
                self.reverts[a.id] = {"at": at, "action": codec.to_dict(a)}
                self._reverts_dirty.add(a.id)

    SCAN_REVERTS_S = 30.0
    _last_scan = -1e18

    def _scan_reverts(self) -> None:
        """Pick up auto-reverts of actions run elsewhere (`warden actions approve`) or before a restart."""
        mono = time.monotonic()
        if mono - self._last_scan < self.SCAN_REVERTS_S:
            return
        self._last_scan = mono
        try:
            recent = self.rt.store.list_actions(limit=1000)
        except Exception:  # noqa: BLE001 - the store is checked again next time
            return
        self._track_revert([a for a in recent if a.status == "done" and a.result.get("revert_at")])

    def _due_reverts(self) -> list[Action]:
        self._scan_reverts()
        now = self.wall()
        out = []
        for aid, item in sorted(self.reverts.items(), key=lambda kv: kv[1]["at"]):
            if item["at"] > now:
                continue
            action = codec.from_dict(item["action"], "action")
            current = [a for a in self.rt.store.list_actions(action.alert_id, limit=1000) if a.id == aid]
            if current and current[0].status != "done":   # undone by hand already
                del self.reverts[aid]
                self._reverts_dirty.add(aid)
                continue
            try:
                r = self.responder(action.responder, where=f"auto-revert {aid[:12]}")
                out.append(self.executor.undo(r, action, reason="auto_revert"))
                self.rt.counters.inc("act.auto_reverted")
            except Exception as e:  # noqa: BLE001 - keep it scheduled? no: record and page via counters
                log.error("auto-revert of %s failed: %s", aid[:12], e)
                self.rt.counters.inc("act.auto_revert_failed")
                out.append(dataclasses.replace(action, result={**action.result, "auto_revert_error": str(e)}))
            del self.reverts[aid]
            self._reverts_dirty.add(aid)
        return out

    # checkpoint --------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """A checkpoint from outside the poll loop (end of a drain, partition hand-over, close)
        first sends every pending notification, so stopping never loses one."""
        if not self._in_step and self._loaded and self.groups.pending():
            self._publish(self.tick(force=True))
        super().checkpoint()

    def flush_sinks(self) -> None:
        self.rt.store.flush()
        super().flush_sinks()

    def snapshot_state(self) -> None:
        items = self.groups.snapshot_items(self.NS_GROUPS)
        items += [(self.NS_REVERTS, k, orjson.dumps(self.reverts[k]) if k in self.reverts else b"")
                  for k in self._reverts_dirty]
        items.append(("act", "watermark", str(self.watermark).encode()))
        self._reverts_dirty.clear()
        self.rt.state.put_many(items)
        persist_counters(self.rt)

    def close(self) -> None:
        super().close()
        for r in self.responders.values():
            r.close()
