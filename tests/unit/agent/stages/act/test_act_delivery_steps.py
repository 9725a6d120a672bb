"""Notify → buffer → deliver: a due group notification planned once, buffered, delivered with
retries, given up when rejected, expired or crashed; the buffers' room for due groups."""
from __future__ import annotations

import pytest

from agent.stages.act.buffers import DeliveryBuffers
from agent.stages.act.dedup import ActionDedup
from agent.stages.act.deliver import Deliverer
from agent.stages.act.grouping import NotificationGroups
from agent.stages.act.notify import NotificationPlanner
from agent.stages.act.responders import ResponderSet
from agent.stages.act.route import Route
from tests.unit.agent.stages.act.conftest import ScriptedNotifier, alert


class Steps:
    """group → notify (dedup) → buffer → deliver, on one scripted notifier, on a settable clock."""

    def __init__(self, rt, action_log, script=(), dry_run=False) -> None:
        self.now = {"t": 1000.0}
        wall = lambda: self.now["t"]          # noqa: E731
        self.rt, self.log = rt, action_log
        self.notifier = ScriptedNotifier("scripted/t", script=list(script))
        self.responders = ResponderSet([self.notifier], rt)
        self.buffers = DeliveryBuffers(rt, self.responders)
        self.planner = NotificationPlanner(rt, self.responders, ActionDedup(rt, action_log), self.buffers,
                                           action_log, wall)
        self.deliverer = Deliverer(rt, self.buffers, self.responders, action_log, wall)
        self.groups = NotificationGroups()
        self.route = {"responder": "scripted/t", "dry_run": dry_run, "notify": {"group_by": ["entity"],
                                                                                "group_wait": 0}}

    def notify(self, *alerts):
        for a in alerts:
            self.groups.add(a, self.route, 0.0)
        out = []
        for n in self.groups.due(1.0, accept=self.buffers.accept()):
            out += self.planner.plan(n)
        return out

    def later(self, s: float):
        self.now["t"] += s
        return self.deliverer.deliver()


def test_a_dry_run_notification_is_recorded_not_buffered(rt, action_log):
    s = Steps(rt, action_log, dry_run=True)
    [a] = s.notify(alert("a1"))
    assert a.dry_run and a.status == "planned" and len(s.buffers) == 0 and s.notifier.calls == []
    assert [e["phase"] for e in action_log.for_action(a.id)] == ["record"]


def test_a_notification_is_retried_with_backoff_then_delivered_with_the_same_key(rt, action_log):
    s = Steps(rt, action_log, script=["down", "down", "ok"])
    assert s.notify(alert("a1")) == [] and len(s.buffers) == 1 and s.buffers.changed
    assert s.later(0) == []                                            # attempt 1: down, next in 1 s
    assert s.later(0.5) == [] and len(s.notifier.calls) == 1          # not due yet
    assert s.later(0.5) == []                                          # attempt 2: down, next in 2 s
    entry = s.buffers.queues["scripted/t"].head()
    assert entry.attempts == 2 and entry.last_error == "receiver down"
    assert s.buffers.retry_wait(10.0, s.now["t"]) == 2.0
    [a] = s.later(2.0)
    assert a.status == "done" and a.result["attempts"] == 3 and a.result["idempotency_key"] == entry.key
    assert len(s.buffers) == 0 and [c[0] for c in s.notifier.calls] == ["down", "down", "ok"]
    c = rt.counters
    assert (c.get("act.notify_retries"), c.get("act.notify_buffered"), c.get("act.notify_delivered")) == (2, 1, 1)


@pytest.mark.parametrize("answers, wait, why", [(["reject"], 0, "rejected"), (["crash"], 0, "crashed"),
                                                (["down"] * 9, 101, "expired")])
def test_a_notification_is_given_up_as_a_failed_action(rt, action_log, answers, wait, why):
    s = Steps(rt, action_log, script=answers)
    s.notify(alert("a1"))
    out = s.later(0)
    if wait:
        out = s.later(wait)
    [a] = out
    assert a.status == "failed" and a.result["given_up"] == why and len(s.buffers) == 0
    assert rt.counters.get(f"act.notify_given_up.{why}") == 1


def test_a_replayed_notification_still_buffered_is_not_buffered_twice(rt, action_log):
    s = Steps(rt, action_log, script=["down"])
    s.notify(alert("a1"))
    g = NotificationGroups()                   # groups read back from an older checkpoint
    g.add(alert("a1"), s.route, 0.0)
    [replay] = g.due(1.0)
    s.planner.dedup.planned.clear()            # a restarted process: only the buffer knows
    assert s.planner.plan(replay) == [] and len(s.buffers) == 1 and rt.counters.get("act.dedup") == 1


def test_due_groups_take_only_the_room_their_notifier_has(rt, action_log):
    s = Steps(rt, action_log, script=["down"] * 9)
    assert s.notify(*(alert(f"a{i}", f"e{i}") for i in range(3))) == []
    assert len(s.buffers) == 2 and s.buffers.full() and s.groups.pending() == 1       # max_buffer 2
    assert rt.counters.get("act.notify_deferred") == 1 and "scripted/t=2" in s.buffers.describe_full()
    accept = s.buffers.accept()
    assert accept("scripted/t", Route.of({"responder": "scripted/t"}))                 # dry-run: no room needed


def test_a_buffer_of_a_notifier_no_longer_configured_is_dead_lettered(rt, action_log):
    s = Steps(rt, action_log, script=["down"])
    s.notify(alert("a1"))
    rt.state.put_many(s.buffers.snapshot_items())
    again = DeliveryBuffers(rt, ResponderSet([], rt))          # scripted/t is gone from the config
    again.restore(rt.state)
    assert len(again) == 0 and rt.counters.get("act.notify_dropped") == 1
    assert len(rt.bus.read(rt.topic("deadletter"))) == 1
    rt.state.put_many(again.snapshot_items())                   # and deleted from the state
    assert not any(rt.state.get("act:delivery", k) for k in rt.state.keys("act:delivery"))
