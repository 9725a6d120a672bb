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
- Notification delivery (agent.lifecycle.delivery, responders.delivery): a real notification goes
  through its notifier's bounded FIFO buffer. A retryable failure (receiver down, timeout, 5xx,
  429) keeps it there for a retry with exponential backoff / Retry-After (`act.notify_retries`);
  a 4xx or `give_up_after_s` of failures gives it up (`act.notify_given_up[.rejected|.expired]`,
  a failed action). The buffer is written with the state snapshot before offsets are committed, so
  a committed alert's notification survives a crash. When a buffer is full, due groups for that
  notifier stay pending (`act.notify_deferred`) and the stage stops consuming alerts — its
  partitions are paused (the bus consumer's pause / resume / seek, on either Kafka client and the
  embedded bus), so the consumer keeps its group membership — until a retry drains it
  (`act.backpressure`, gauges `warden_notify_buffer`, `warden_act_backpressure`). Nothing is
  dropped for lack of room; `act.notify_dropped` counts only buffered notifications whose notifier
  is no longer configured (dead-lettered).
"""
from __future__ import annotations

import dataclasses
import logging
import time

import orjson

from core import codec, registry
from agent.actions.executor import ActionExecutor
from policy.action_log import ActionLog
from core.bus.base import NotSupported, Record
from core.codec import DecodeError
from core.errors import ConfigError
from core.event import Action, Alert, stable_id
from core.counters_state import persist_counters
from agent.lifecycle.delivery import DeliveryPolicy, DeliveryQueue, restore_entries
from agent.lifecycle.grouping import Notification, NotificationGroups
from core.stores.workflow import all_quiet
from core.observability import metrics as _metrics
from agent.stages.base import Stage
from responders.base import ResponderError
from responders.delivery import idempotency_key

log = logging.getLogger("warden.act")


class ActStage(Stage):
    name = "act"
    input_topics = ("alerts",)
    NS_GROUPS = "act:groups"
    NS_REVERTS = "act:reverts"
    NS_DELIVERY = "act:delivery"

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
            from policy.policies import PolicySet
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
        self.delivery: dict[str, DeliveryQueue] = {}
        self._delivery_dropped: list[str] = []
        self._delivery_changed = False
        self.backpressured = False
        self._bp_since = 0.0
        self._sleep = sleep
        self.reverts: dict[str, dict] = {}
        self._reverts_dirty: set[str] = set()
        self._loaded = False
        self.watermark = 0.0
        self._wm_mono = self.monotonic()

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
        return self.watermark + (self.monotonic() - self._wm_mono)

    def _advance(self, t: float) -> None:
        if t > self.clock():
            self.watermark = t
            self._wm_mono = self.monotonic()

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
        for name, entries in restore_entries(self.rt.state, self.NS_DELIVERY).items():
            try:
                q = self._queue(self.responder(name, where="delivery buffer"))
            except ConfigError as e:
                for ent in entries:
                    self.rt.dead_letter("act", {"notification": ent["id"], "group": ent.get("group")}, str(e), name)
                    self._delivery_dropped.append(f"{name}|{ent['id']}")
                self.rt.counters.inc("act.notify_dropped", len(entries))
                continue
            for ent in entries:
                if ent["id"] not in q:
                    q.push(ent)
        self._gauges()

    # the stage ---------------------------------------------------------------------------------
    def handle(self, records: list[Record]) -> None:
        self._load()
        if self.backpressured and self._rewind(records):
            return
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
        self._load()
        if self.consumer is None:
            self.start()
        self._in_step = True
        try:
            self._publish(self._deliver())
            if self.buffer_full():
                if not self._backpressure(True):     # a bus that cannot pause: do not poll at all
                    wait = self._retry_wait(timeout)
                    if wait > 0:
                        self._sleep(wait)
                    self._publish(self._deliver())
                    if self._delivery_changed:
                        self._uncommitted += 1
                        self._delivery_changed = False
                    if self._uncommitted:        # like an empty poll: checkpoint what is handled
                        self.checkpoint()
                    return 0
                # paused partitions: the poll returns nothing but keeps the group membership (and
                # needs its full timeout to rejoin after a rebalance: no zero-timeout polls here)
            elif self.backpressured:
                self._backpressure(False)
            n = super().step(timeout)
        finally:
            self._in_step = False
        if n == 0 and self._loaded:
            acts = self.tick()
            if acts:
                self._publish(acts)
            if acts or self._delivery_changed:
                self._uncommitted += 1   # make the next idle step checkpoint the new state
                self._delivery_changed = False
        return n

    # delivery ----------------------------------------------------------------------------------
    def _queue(self, r) -> DeliveryQueue:
        q = self.delivery.get(r.name)
        if q is None:
            q = self.delivery[r.name] = DeliveryQueue(r.name, DeliveryPolicy.of(r))
        return q

    def buffer_full(self) -> bool:
        return any(q.full() for q in self.delivery.values())

    def buffered(self) -> int:
        return sum(len(q) for q in self.delivery.values())

    def _retry_wait(self, timeout: float) -> float:
        nxt = [q.next_at() for q in self.delivery.values() if len(q)]
        if not nxt:
            return 0.0
        return max(0.0, min(timeout, min(nxt) - self.wall()))

    def _backpressure(self, on: bool) -> bool:
        """Enter / leave backpressure: pause / resume fetching on the consumer's assigned
        partitions. Returns whether the stage may go on polling: True when its partitions are
        paused or it holds none (a member must keep polling — the group's rebalances are served
        inside the poll, and a member that stops polling stalls them for every member; records a
        partition assigned inside that poll delivers are rewound); False when the bus cannot
        pause — then the stage does not poll until the buffer has room."""
        if on and not self.backpressured:
            self.backpressured = True
            self._bp_since = time.monotonic()
            self.rt.counters.inc("act.backpressure")
            log.warning("notification buffer full (%s): act stops consuming alerts until deliveries drain",
                        ", ".join(f"{n}={len(q)}" for n, q in sorted(self.delivery.items()) if q.full()))
        elif not on and self.backpressured:
            self.backpressured = False
            self.rt.counters.inc("act.backpressure_seconds", time.monotonic() - self._bp_since)
            log.info("notification buffers drained: act consumes again")
        _metrics.GAUGES.set("warden_act_backpressure", 1.0 if self.backpressured else 0.0,
                            "1 while a full notification buffer stops the act stage from consuming")
        if self.consumer is None:
            return False
        try:
            if on:
                # re-paused every step: a rebalance assigns unpaused partitions
                self.consumer.pause()
                return True
            self.consumer.resume()
        except NotSupported:
            return False
        except Exception as e:  # noqa: BLE001 - e.g. a partition revoked meanwhile: try again next step
            log.debug("pause/resume: %s", e)
        return True

    def _rewind(self, records: list[Record]) -> bool:
        """Records that reached a backpressured stage anyway (a partition assigned by a rebalance
        inside the poll, before it could be paused) are not handled: the consumer seeks back to
        them, so they are neither consumed nor committed now. False when the bus cannot seek."""
        if self.consumer is None:
            return False
        first: dict[tuple[str, int], int] = {}
        for r in records:
            k = (r.topic, r.partition)
            first[k] = min(first.get(k, r.offset), r.offset)
        try:
            for (t, p), off in first.items():
                self.consumer.seek(t, p, off)
        except NotSupported:
            return False
        except Exception as e:  # noqa: BLE001 - cannot seek (revoked meanwhile): handle them after all
            log.debug("rewind: %s", e)
            return False
        self.rt.counters.inc("act.backpressure_rewound", len(records))
        self._backpressure(True)     # pause what is assigned now
        return True

    def _accept(self):
        """For NotificationGroups.due: take a real notification only while its notifier's buffer has room."""
        room: dict[str, int] = {}

        def accept(name: str, route: dict) -> bool:
            if bool(route.get("dry_run", True)):
                return True
            try:
                q = self._queue(self.responder(name))
            except ConfigError:
                return True      # _notify dead-letters it
            left = room.get(name, q.policy.max_buffer - len(q))
            if left <= 0:
                self.rt.counters.inc("act.notify_deferred")
                return False
            room[name] = left - 1
            return True
        return accept

    #: wall seconds one delivery pass may spend draining buffers (the rest goes next step)
    DELIVER_BUDGET_S = 5.0

    def _deliver(self) -> list[Action]:
        """Attempt every notifier's head notification that is due; drain while deliveries succeed."""
        out: list[Action] = []
        until = time.monotonic() + self.DELIVER_BUDGET_S
        for name in sorted(self.delivery):
            q = self.delivery[name]
            while time.monotonic() < until:
                e = q.due(self.wall())
                if e is None:
                    break
                out.extend(self._attempt(self.responders[name], q, e))
                self._delivery_changed = True
                if q.head() is e:      # still undelivered: retry later
                    break
        if self.delivery:
            self._gauges()
        return out

    def _gauges(self) -> None:
        for name, q in self.delivery.items():
            _metrics.GAUGES.set("warden_notify_buffer", float(len(q)),
                                "Undelivered notifications waiting for a retry, per notifier", responder=name)

    def _attempt(self, r, q: DeliveryQueue, e: dict) -> list[Action]:
        alerts = [codec.from_dict(a, "alert") for a in e["alerts"]]
        actions = [codec.from_dict(a, "action") for a in e["actions"]]
        q.attempted(e, self.wall())
        try:
            result = dict(r.notify(alerts, e["group"], actions[0]) or {})
        except ResponderError as err:
            now = self.wall()
            if err.retryable and not q.expired(e, now):
                delay = q.retry_later(e, now, str(err), getattr(err, "retry_after", None))
                self.rt.counters.inc("act.retries")
                self.rt.counters.inc("act.notify_retries")
                if e["attempts"] == 1:
                    self.rt.counters.inc("act.notify_buffered")
                log.warning("%s: notification %s not delivered (%s), attempt %d, next in %.1fs (%d buffered)",
                            r.name, e["id"][:12], err, e["attempts"], delay, len(q))
                return []
            why = "expired" if err.retryable else "rejected"
            return self._finish(q, e, actions, "failed", {"error": str(err), "retryable": err.retryable,
                                                           "attempts": e["attempts"], "given_up": why})
        except Exception as err:  # noqa: BLE001 - a responder bug is a failed action, not a crash
            log.exception("%s crashed", r.name)
            return self._finish(q, e, actions, "failed", {"error": f"{type(err).__name__}: {err}",
                                                           "retryable": False, "attempts": e["attempts"],
                                                           "given_up": "crashed"})
        return self._finish(q, e, actions, "done", {**result, "attempts": e["attempts"]})

    def _finish(self, q: DeliveryQueue, e: dict, actions: list[Action], status: str, result: dict) -> list[Action]:
        q.pop(e)
        if status == "done":
            self.rt.counters.inc("act.notify_delivered")
        else:
            log.error("%s: notification %s given up (%s): %s", q.responder, e["id"][:12], result["given_up"],
                      result["error"])
            self.rt.counters.inc("act.notify_given_up")
            self.rt.counters.inc(f"act.notify_given_up.{result['given_up']}")
        self.rt.counters.inc("act.done" if status == "done" else "act.failed", len(actions))
        result = {**result, "idempotency_key": e.get("key", "")}
        done = [dataclasses.replace(a, status=status, result=result, time=self.wall()) for a in actions]
        for a in done:
            self.executor.log.append("result", codec.to_dict(a))
        return done

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
        quieted = self.groups.quieted
        for n in self.groups.due(self.clock(), force=force, accept=self._accept(),
                                 quiet=lambda ids: all_quiet(self.rt.store, ids)):
            out.extend(self._notify(n))
        if self.groups.quieted > quieted:
            self.rt.counters.inc("act.reminders_quieted", self.groups.quieted - quieted)
        out.extend(self._deliver())
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
        q = self._queue(r)
        if n.id in q:                       # replayed while still buffered
            self.rt.counters.inc("act.dedup")
            return []
        self.executor.log.append("intent", {"notification": n.id, "responder": r.name,
                                            "actions": [a.id for a in actions]})
        q.push({"id": n.id, "responder": r.name, "key": idempotency_key(n.alerts), "group": dict(n.group_labels),
                "alerts": [codec.to_dict(a) for a in n.alerts], "actions": [codec.to_dict(a) for a in actions],
                "enqueued_at": self.wall(), "next_at": 0.0})
        self._delivery_changed = True
        return []     # tick() delivers it (or keeps it for a retry)

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
        for q in self.delivery.values():
            items += q.snapshot_items(self.NS_DELIVERY)
        items += [(self.NS_DELIVERY, k, b"") for k in self._delivery_dropped]
        self._delivery_dropped.clear()
        self._reverts_dirty.clear()
        self.rt.state.put_many(items)
        persist_counters(self.rt)

    def close(self) -> None:
        if self._delivery_changed or any(q.dirty or q.removed for q in self.delivery.values()):
            if self.consumer is None:
                self.checkpoint()       # never polled (e.g. flush_notifications only): state still written
            else:
                self._uncommitted += 1  # the delivery buffer reaches the state before the consumer goes
        super().close()
        for r in self.responders.values():
            r.close()
