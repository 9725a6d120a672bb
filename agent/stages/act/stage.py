"""Act: store alerts (Elasticsearch or SQLite) and run the responders their policies route to.

The stage composes small units, each with its own state (agent/stages/act/):
store (intake) → route (route, responders) → remediate (remediate: plan, dedup, executor — safety,
execute, action log —, reverts) or notify (grouping → notify with dedup → buffers → deliver → the
actions recorded and published); backpressure and the watermark clock; the state of each unit is
written with the checkpoint in the order of agent.stages.base.

- Suppressed alerts (silenced / inhibited, see decide) are stored but no responder runs
  (`act.suppressed`).
- Notifying responders (log, webhook, slack) get alerts batched per group with Alertmanager's
  timers (agent.stages.act.grouping); the clock is the event-time watermark of the alerts, which
  also advances with wall time while the stage is idle.
- Other responders run per alert through agent.stages.act.executor: protected resources, dry-run,
  approval, blast radius, the hash-chained action log (intent before, result after), retries.
- Actions are idempotent: an action's id hashes (alert, responder, verb, target, alert status) —
  a notification's id hashes its group, sequence and alerts — so a redelivered alert never acts
  twice (`act.dedup`).
- Real actions whose route has `auto_revert` are undone when due (`act.auto_reverted`).
- Notification delivery (agent.stages.act.delivery, responders.delivery): a real notification goes
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

import time

from core import codec
from policy.action_log import ActionLog
from core.bus.base import Record
from core.errors import ConfigError
from core.event import Action, Alert
from core.counters_state import persist_counters
from agent.stages.act.backpressure import Backpressure
from agent.stages.act.buffers import NS as NS_DELIVERY
from agent.stages.act.buffers import DeliveryBuffers
from agent.stages.act.clock import WatermarkClock
from agent.stages.act.dedup import ActionDedup
from agent.stages.act.deliver import Deliverer
from agent.stages.act.executor import ActionExecutor
from agent.stages.act.grouping import NotificationGroups
from agent.stages.act.intake import store_alerts
from agent.stages.act.notify import NotificationPlanner
from agent.stages.act.remediate import Remediation
from agent.stages.act.responders import ResponderSet, check_routes
from agent.stages.act.reverts import NS as NS_REVERTS
from agent.stages.act.reverts import RevertSchedule
from agent.stages.act.route import Route
from agent.stages.base import Stage
from core.stores.workflow import all_quiet


class ActStage(Stage):
    name = "act"
    input_topics = ("alerts",)
    NS_GROUPS = "act:groups"
    NS_REVERTS = NS_REVERTS
    NS_DELIVERY = NS_DELIVERY

    def __init__(self, rt, *, responders: list | None = None, policies=None, retries: int = 3,
                 wall=time.time, sleep=time.sleep, **kw) -> None:
        super().__init__(rt, **kw)
        self._responders = ResponderSet(responders if responders is not None else rt.build("responder"), rt)
        self.responders = self._responders.by_name
        self.retries = retries
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
        self._sleep = sleep
        self.executor = ActionExecutor(action_log=ActionLog.for_data_dir(rt.cfg.data_dir), safety=policies.safety,
                                       state=rt.state, counters=rt.counters, retries=retries, sleep=sleep,
                                       clock=wall, responder_for=lambda n: self.responder(n, where="safety.page"))
        self._clock = WatermarkClock(self.monotonic)
        self.groups = NotificationGroups()
        self.buffers = DeliveryBuffers(rt, self._responders)
        self.backpressure = Backpressure(rt.counters)
        self.dedup = ActionDedup(rt, self.executor.log)
        self.reverts = RevertSchedule(rt, wall)
        self.remediation = Remediation(self.executor, self.dedup, self.reverts)
        self.planner = NotificationPlanner(rt, self._responders, self.dedup, self.buffers, self.executor.log, wall)
        self.deliverer = Deliverer(rt, self.buffers, self._responders, self.executor.log, wall)
        self._loaded = False

    def check_policies(self, policies) -> None:
        """Every route names a responder that exists (or can be built with defaults) and valid params."""
        check_routes(policies, self._responders)

    def responder(self, name: str, where: str = ""):
        return self._responders.get(name, where)

    # what the units hold, as the stage shows it --------------------------------------------------
    def clock(self) -> float:
        """Event-time watermark, advanced by the wall time spent since it last moved."""
        return self._clock.now()

    def _advance(self, t: float) -> None:
        self._clock.advance(t)

    @property
    def watermark(self) -> float:
        return self._clock.watermark

    @property
    def backpressured(self) -> bool:
        return self.backpressure.on

    @property
    def _last_scan(self) -> float:
        return self.reverts.last_scan

    @_last_scan.setter
    def _last_scan(self, t: float) -> None:
        self.reverts.last_scan = t

    def buffer_full(self) -> bool:
        return self.buffers.full()

    def buffered(self) -> int:
        return len(self.buffers)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        state = self.rt.state
        self.groups.restore(state, self.NS_GROUPS)
        self.reverts.restore(state)
        self._clock.restore(state)
        self.buffers.restore(state)

    # the stage ---------------------------------------------------------------------------------
    def handle(self, records: list[Record]) -> None:
        self._load()
        if self.backpressure.on and self.backpressure.rewind(self.consumer, records, self.buffers.describe_full):
            return
        alerts = store_alerts(self.rt, records)
        if not alerts:
            return
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
            if self.buffers.full():
                if not self._backpressure(True):     # a bus that cannot pause: do not poll at all
                    wait = self.buffers.retry_wait(timeout, self.wall())
                    if wait > 0:
                        self._sleep(wait)
                    self._publish(self._deliver())
                    self._request_checkpoint_if_delivery_changed()
                    if self.checkpoint_pending:        # like an empty poll: checkpoint what is handled
                        self.checkpoint()
                    return 0
                # paused partitions: the poll returns nothing but keeps the group membership (and
                # needs its full timeout to rejoin after a rebalance: no zero-timeout polls here)
            elif self.backpressure.on:
                self._backpressure(False)
            n = super().step(timeout)
        finally:
            self._in_step = False
        if n == 0 and self._loaded:
            acts = self.tick()
            if acts:
                self._publish(acts)
                self.request_checkpoint()   # the next idle step checkpoints the new state
            self._request_checkpoint_if_delivery_changed()
        return n

    def _request_checkpoint_if_delivery_changed(self) -> None:
        if self.buffers.changed:
            self.request_checkpoint()
            self.buffers.changed = False

    def _backpressure(self, on: bool) -> bool:
        return self.backpressure.set(on, self.consumer, self.buffers.describe_full)

    def _deliver(self) -> list[Action]:
        return self.deliverer.deliver()

    def _publish(self, actions: list[Action]) -> None:
        """Record: the actions go to the store and to the actions topic."""
        if not actions:
            return
        self.rt.store.put_actions(actions)
        for act in actions:
            self.rt.producer.send(self._actions_topic, codec.encode(act), act.alert_id.encode())

    def _route(self, alert: Alert, route: Route | dict) -> list[Action]:
        """Route: a notifier's alerts go to their group; other responders remediate."""
        route = Route.of(route)
        try:
            r = self._responders.get(route.responder, where=f"alert {alert.id}")
        except ConfigError as e:
            self.rt.dead_letter("act", codec.to_dict(alert), str(e), route.responder)
            return []
        if getattr(r, "notifies", False):
            stale = self.groups.stale
            self.groups.add(alert, route, self.clock())
            if self.groups.stale > stale:
                self.rt.counters.inc("act.dedup")    # a stale redelivery: counted, not notified
            return []
        return self.remediation.run(r, alert, route)

    # timers --------------------------------------------------------------------------------------
    def tick(self, force: bool = False) -> list[Action]:
        """Send the notifications whose group timers are due and run due auto-reverts."""
        out: list[Action] = []
        quieted = self.groups.quieted
        for n in self.groups.due(self.clock(), force=force, accept=self.buffers.accept(),
                                 quiet=lambda ids: all_quiet(self.rt.store, ids)):
            out.extend(self.planner.plan(n))
        if self.groups.quieted > quieted:
            self.rt.counters.inc("act.reminders_quieted", self.groups.quieted - quieted)
        out.extend(self._deliver())
        out.extend(self.reverts.run_due(self._undo))
        return out

    def _undo(self, action: Action) -> Action:
        r = self.responder(action.responder, where=f"auto-revert {action.id[:12]}")
        return self.executor.undo(r, action, reason="auto_revert")

    def flush_notifications(self) -> list[Action]:
        """Send every pending notification now (shutdown, tests, `warden demo`)."""
        self._load()
        acts = self.tick(force=True)
        self._publish(acts)
        return acts

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
        items += self.reverts.snapshot_items()
        items += self._clock.snapshot_items()
        items += self.buffers.snapshot_items()
        self.rt.state.put_many(items)
        persist_counters(self.rt)

    def close(self) -> None:
        if self.buffers.unsaved():
            if self.consumer is None:
                self.checkpoint()       # never polled (e.g. flush_notifications only): state still written
            else:
                self.request_checkpoint()  # the delivery buffer reaches the state before the consumer goes
        super().close()
        self._responders.close()
