"""Remediate: plan, dedup, execute through the executor, schedule the auto-revert."""
from __future__ import annotations

from policy.safety import Safety
from agent.stages.act.dedup import ActionDedup
from agent.stages.act.executor import ActionExecutor
from agent.stages.act.remediate import Remediation
from agent.stages.act.reverts import RevertSchedule
from agent.stages.act.route import Route
from tests.unit.agent.stages.act.conftest import Isolator, alert


def remediation(rt, action_log, now=1000.0) -> Remediation:
    ex = ActionExecutor(action_log=action_log, safety=Safety(), state=rt.state, counters=rt.counters,
                        sleep=lambda s: None, clock=lambda: now)
    return Remediation(ex, ActionDedup(rt, action_log), RevertSchedule(rt, wall=lambda: now))


def test_a_firing_alert_is_remediated_once_and_its_revert_scheduled(rt, action_log):
    rem, r = remediation(rt, action_log), Isolator("isolator/t")
    route = Route.of({"responder": "isolator/t", "dry_run": False, "auto_revert": 600.0})
    [a] = rem.run(r, alert(), route)
    assert a.status == "done" and r.isolated == ["pod-a"] and a.result["revert_at"] == 1600.0
    assert list(rem.reverts.due_at) == [a.id]
    assert rem.run(r, alert(), route) == [] and r.isolated == ["pod-a"]          # redelivered: not again
    assert [e["phase"] for e in action_log.for_action(a.id)] == ["intent", "result"]


def test_a_dry_run_route_plans_without_touching_anything(rt, action_log):
    rem, r = remediation(rt, action_log), Isolator("isolator/t")
    [a] = rem.run(r, alert(), Route.of({"responder": "isolator/t"}))
    assert a.status == "planned" and a.dry_run and r.isolated == [] and len(rem.reverts) == 0


def test_resolved_alerts_are_not_remediated(rt, action_log):
    rem, r = remediation(rt, action_log), Isolator("isolator/t")
    assert rem.run(r, alert(status="resolved"), Route.of({"responder": "isolator/t", "dry_run": False})) == []
    assert r.isolated == []
