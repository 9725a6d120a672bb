"""The auto-revert schedule: due actions undone once, by-hand undos respected, failures recorded,
actions run elsewhere picked up from the store."""
from __future__ import annotations

import dataclasses

from core.event import Action
from agent.stages.act.reverts import Revert, RevertSchedule


def done(aid: str, at: float | None, status: str = "done") -> Action:
    return Action(id=aid, alert_id="a1", responder="isolator/t", action="isolate", target=f"pod-{aid}",
                  dry_run=False, status=status, time=1.0, result={"revert_at": at} if at else {})


def undone(a: Action) -> Action:
    return dataclasses.replace(a, status="undone")


def test_only_executed_actions_with_a_revert_time_are_scheduled():
    assert Revert.of(done("x", 10.0)) == Revert(10.0, done("x", 10.0))
    assert Revert.of(done("x", None)) is None and Revert.of(done("x", 10.0, status="failed")) is None


def test_due_actions_are_undone_earliest_first_and_once(rt):
    now = {"t": 0.0}
    s = RevertSchedule(rt, wall=lambda: now["t"])
    s.last_scan = 1e18                        # no store scan in this test
    s.track([done("late", 20.0), done("early", 10.0), done("never", None)])
    s.track([done("early", 99.0)])            # already scheduled: kept as it was
    assert s.run_due(undone) == [] and len(s) == 2
    now["t"] = 25.0
    assert [a.id for a in s.run_due(undone)] == ["early", "late"] and len(s) == 0
    assert rt.counters.get("act.auto_reverted") == 2 and s.run_due(undone) == []


def test_an_action_undone_by_hand_is_not_undone_again(rt):
    s = RevertSchedule(rt, wall=lambda: 100.0)
    s.last_scan = 1e18
    s.track([done("x", 10.0)])
    rt.store.put_actions([undone(done("x", 10.0))])
    rt.store.flush()
    assert s.run_due(undone) == [] and len(s) == 0 and rt.counters.get("act.auto_reverted") == 0


def test_a_failed_revert_is_recorded_on_the_action_and_counted(rt):
    s = RevertSchedule(rt, wall=lambda: 100.0)
    s.last_scan = 1e18
    s.track([done("x", 10.0)])

    def refuse(a):
        raise RuntimeError("cannot release")
    [a] = s.run_due(refuse)
    assert a.status == "done" and a.result["auto_revert_error"] == "cannot release" and len(s) == 0
    assert rt.counters.get("act.auto_revert_failed") == 1


def test_actions_run_elsewhere_are_picked_up_from_the_store_at_most_every_scan_interval(rt):
    s = RevertSchedule(rt, wall=lambda: 100.0)
    rt.store.put_actions([done("approved", 50.0)])
    rt.store.flush()
    s.scan()
    assert list(s.due_at) == ["approved"]
    rt.store.put_actions([done("later", 60.0)])
    rt.store.flush()
    s.scan()                                   # within SCAN_S of the last look
    assert list(s.due_at) == ["approved"]
    s.last_scan = -1e18
    s.scan()
    assert sorted(s.due_at) == ["approved", "later"]
