"""The contract every stateful unit of the act stage keeps with the checkpoint: what it writes in
`snapshot_items` a fresh unit reads back (`restore`) with the same content; an entry it drops is
deleted from the state; and reading the state twice changes nothing. One suite, every unit."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from core.event import Action
from agent.stages.act.buffers import DeliveryBuffers
from agent.stages.act.clock import WatermarkClock
from agent.stages.act.delivery import DeliveryEntry
from agent.stages.act.grouping import NotificationGroups
from agent.stages.act.responders import ResponderSet
from agent.stages.act.reverts import RevertSchedule
from tests.unit.agent.stages.act.conftest import ScriptedNotifier, alert


def done_action(aid: str, at: float) -> Action:
    return Action(id=aid, alert_id="a1", responder="isolator/t", action="isolate", target="pod-a", dry_run=False,
                  status="done", time=1.0, result={"revert_at": at})


@dataclass
class Unit:
    """How the suite drives one unit."""
    new: Callable[[Any], Any]                     # rt -> an empty unit
    fill: Callable[[Any], None]                   # put two entries in
    drop_one: Callable[[Any], None]               # remove one of them
    restore: Callable[[Any, Any], None]           # (unit, state)
    snapshot: Callable[[Any], list]               # unit -> items
    content: Callable[[Any], Any]                 # what must survive a restart


def _groups_content(g):
    return {k: (v["responder"], sorted(v["alerts"]), v["next_flush"]) for k, v in g.groups.items()}


def _buffers(rt):
    return DeliveryBuffers(rt, ResponderSet([ScriptedNotifier("scripted/t")], rt))


def _push(b, n: int) -> None:
    b.queue(b.responders.get("scripted/t")).push(DeliveryEntry(id=f"n{n}", responder="scripted/t", key=f"k{n}",
                                                              enqueued_at=float(n)))


def _pop_first(b) -> None:
    q = b.queues["scripted/t"]
    q.pop(q.head())


ROUTE = {"responder": "scripted/t", "dry_run": False, "notify": {"group_by": ["entity"], "group_wait": 5}}

UNITS = {
    "watermark clock": Unit(
        new=lambda rt: WatermarkClock(lambda: 0.0),
        fill=lambda c: c.advance(1234.5), drop_one=lambda c: None,
        restore=lambda c, st: c.restore(st), snapshot=lambda c: c.snapshot_items(),
        content=lambda c: c.watermark),
    "auto-revert schedule": Unit(
        new=lambda rt: RevertSchedule(rt, wall=lambda: 0.0),
        fill=lambda s: s.track([done_action("x1", 50.0), done_action("x2", 60.0)]),
        drop_one=lambda s: s._forget("x1"),
        restore=lambda s, st: s.restore(st), snapshot=lambda s: s.snapshot_items(),
        content=lambda s: {k: dataclasses.astuple(v) for k, v in s.due_at.items()}),
    "delivery buffers": Unit(
        new=_buffers, fill=lambda b: (_push(b, 1), _push(b, 2)), drop_one=_pop_first,
        restore=lambda b, st: b.restore(st), snapshot=lambda b: b.snapshot_items(),
        content=lambda b: {n: [(e.id, e.key, e.enqueued_at) for e in q.entries]
                           for n, q in b.queues.items() if len(q)}),
    "notification groups": Unit(
        new=lambda rt: NotificationGroups(),
        fill=lambda g: (g.add(alert("a1", "e1"), ROUTE, 0.0), g.add(alert("a2", "e2"), ROUTE, 0.0)),
        drop_one=lambda g: g.remove_alert("a1"),
        restore=lambda g, st: g.restore(st, "act:groups"), snapshot=lambda g: g.snapshot_items("act:groups"),
        content=_groups_content),
}


@pytest.fixture(params=sorted(UNITS))
def unit(request):
    return UNITS[request.param]


def _restart(unit: Unit, rt):
    fresh = unit.new(rt)
    unit.restore(fresh, rt.state)
    return fresh


def test_what_a_unit_writes_a_fresh_one_reads_back(unit, rt):
    empty = unit.content(unit.new(rt))
    u = unit.new(rt)
    unit.fill(u)
    rt.state.put_many(unit.snapshot(u))
    assert unit.content(u) != empty and unit.content(_restart(unit, rt)) == unit.content(u)


def test_an_entry_a_unit_drops_is_deleted_from_the_state(unit, rt):
    u = unit.new(rt)
    unit.fill(u)
    rt.state.put_many(unit.snapshot(u))
    unit.drop_one(u)
    rt.state.put_many(unit.snapshot(u))
    assert unit.content(_restart(unit, rt)) == unit.content(u)


def test_reading_the_state_twice_changes_nothing(unit, rt):
    u = unit.new(rt)
    unit.fill(u)
    rt.state.put_many(unit.snapshot(u))
    again = _restart(unit, rt)
    unit.restore(again, rt.state)
    assert unit.content(again) == unit.content(u)
