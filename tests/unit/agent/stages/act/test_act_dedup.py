"""Dedup of actions: planned here already, in the store, or ended in the action log."""
from __future__ import annotations

from core import codec
from core.event import Action
from agent.stages.act.dedup import ActionDedup


def action(aid: str = "x1", status: str = "planned") -> Action:
    return Action(id=aid, alert_id="a1", responder="isolator/t", action="isolate", target="pod-a", dry_run=False,
                  status=status, time=1.0)


def test_an_action_planned_once_is_seen_the_second_time(rt, action_log):
    d = ActionDedup(rt, action_log)
    assert not d.seen(action()) and d.seen(action())
    assert rt.counters.get("act.dedup") == 1


def test_an_action_in_the_store_is_seen(rt, action_log):
    rt.store.put_actions([action(status="done")])
    rt.store.flush()
    assert ActionDedup(rt, action_log).seen(action()) and rt.counters.get("act.dedup") == 1


def test_an_action_the_log_ended_is_stored_again_and_seen(rt, action_log):
    action_log.append("intent", codec.to_dict(action()))
    action_log.append("result", codec.to_dict(action(status="done")))
    assert ActionDedup(rt, action_log).seen(action())
    rt.store.flush()
    assert [a.status for a in rt.store.list_actions("a1")] == ["done"]
    assert rt.counters.get("act.recovered_from_log") == 1 and rt.counters.get("act.dedup") == 1


def test_an_action_interrupted_after_its_intent_runs_again(rt, action_log):
    action_log.append("intent", codec.to_dict(action()))
    assert not ActionDedup(rt, action_log).seen(action())
    assert rt.counters.get("act.resumed") == 1 and rt.counters.get("act.dedup") == 0
