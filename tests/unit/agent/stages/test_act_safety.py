"""Act: dry-run, protected resources, approval, blast radius (+ page), action log before the
action runs, retries, redelivery dedup and timed auto-revert."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from policy.action_log import ActionLog
from responders.base import Responder, ResponderError
from tests.unit.agent.lifecycle.harness import Harness, finding


class FakeResponder(Responder):
    """Not registered: passed to the act stage directly. Touches a pretend resource."""
    type = "fake"
    action = "isolate"
    reversible = True

    @dataclass
    class Config:
        fail_times: int = 0

    def __init__(self, *a, log: ActionLog | None = None, **kw) -> None:
        super().__init__(*a, **kw)
        self.calls, self.reverts, self.failures, self.log = [], [], 0, log

    def resource(self, alert, params):
        return {"kind": "pod", "namespace": alert.labels.get("namespace", "default"), "name": alert.entity}

    def execute(self, action, alert):
        # the action log already holds this action's intent when the responder runs
        assert self.log is not None and [e["phase"] for e in self.log.for_action(action.id)][-1:] == ["intent"]
        if self.failures < self.config.fail_times:
            self.failures += 1
            raise ResponderError("flaky", retryable=True)
        self.calls.append(action.target)
        return {"isolated": action.target}

    def revert(self, action):
        self.reverts.append(action.target)
        return {"released": action.target}


def policies(route: str, safety: str = "") -> str:
    return f"""
{safety}
policies:
  - id: p
    match: {{detector: ["gpu_memory_leak/*"]}}
    alert: {{group_by: [entity], labels: {{namespace: "{{evidence.ns}}"}}}}
    routes: [{route}]
"""


def make(tmp_path, route, safety="", fail_times=0, **kw):
    log = ActionLog.for_data_dir(tmp_path / "w")
    fake = FakeResponder("fake/t", log=log, fail_times=fail_times)
    return Harness(tmp_path, policies(route, safety), responders=[fake], **kw), fake, log


def test_dry_run_is_the_default_and_touches_nothing(tmp_path):
    h, fake, log = make(tmp_path, "{responder: fake/t}")
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    [a] = h.actions()
    assert a.dry_run and a.status == "planned" and fake.calls == []
    assert a.params["resource"] == {"kind": "pod", "namespace": "ml", "name": "pod-a"}
    assert [e["phase"] for e in log.entries()] == ["record"] and log.verify().ok
    h.close()


def test_real_action_is_logged_before_and_after_and_never_repeated(tmp_path):
    h, fake, log = make(tmp_path, "{responder: fake/t, dry_run: false}")
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    h.feed(finding("pod-a", t=1060, n=1, evidence={"ns": "ml"}))     # alert update: same action id
    alert = h.alerts()[0]
    h.send_alert(alert)                                                 # redelivered alert
    [a] = h.actions()
    assert a.status == "done" and a.result == {"isolated": "pod-a"} and fake.calls == ["pod-a"]
    assert [e["phase"] for e in log.for_action(a.id)] == ["intent", "result"]
    assert h.rt.counters.get("act.dedup") >= 2 and log.verify().ok
    h.close()


def test_protected_namespace_is_skipped_with_reason_and_counted(tmp_path):
    h, fake, _ = make(tmp_path, "{responder: fake/t, dry_run: false}",
                      "safety: {protected: {namespaces: [prod-*]}}")
    h.feed(finding("pod-a", evidence={"ns": "prod-payments"}), finding("pod-b", evidence={"ns": "kube-system"}))
    acts = {a.target: a for a in h.actions()}
    assert {a.status for a in acts.values()} == {"skipped"}
    assert "protected namespace prod-payments" in acts["pod-a"].result["reason"]
    assert "kube-system" in acts["pod-b"].result["reason"]                # protected by default
    assert fake.calls == [] and h.rt.counters.get("act.protected") == 2
    h.close()


def test_approval_keeps_the_action_pending(tmp_path):
    h, fake, _ = make(tmp_path, "{responder: fake/t, dry_run: false, approval: true}")
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    [a] = h.actions()
    assert a.status == "pending_approval" and fake.calls == [] and a.result["route"]["approval"] is True
    assert h.rt.counters.get("act.pending_approval") == 1
    h.close()


def test_blast_radius_blocks_and_pages_once(tmp_path, caplog):
    h, fake, log = make(tmp_path, "{responder: fake/t, dry_run: false}",
                        "safety: {blast_radius: {max_actions: 2, window: 10m}}")
    with caplog.at_level("WARNING", logger="warden.notify"):
        h.feed(*[finding(f"pod-{i}", evidence={"ns": "ml"}) for i in range(5)])
    acts = h.actions()
    by_status = {}
    for a in acts:
        by_status.setdefault(a.status, []).append(a)
    assert len(fake.calls) == 2
    assert len([a for a in by_status["done"] if a.responder == "fake/t"]) == 2
    assert len(by_status["blocked_by_blast_radius"]) == 3
    pages = [a for a in acts if a.action == "page"]
    assert len(pages) == 1 and pages[0].status == "done" and pages[0].responder == "log/default"
    assert any("blast-radius" in r.getMessage() and "critical" in r.getMessage() for r in caplog.records)
    assert h.rt.counters.get("act.blocked_by_blast_radius") == 3 and log.verify().ok
    h.close()


def test_retryable_failures_are_retried(tmp_path):
    h, fake, _ = make(tmp_path, "{responder: fake/t, dry_run: false}", fail_times=2)
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    [a] = h.actions()
    assert a.status == "done" and h.rt.counters.get("act.retries") == 2
    h.close()


def test_auto_revert_undoes_when_due(tmp_path):
    clock = {"t": 1_000_000.0}
    h, fake, log = make(tmp_path, "{responder: fake/t, dry_run: false, auto_revert: 10m}", wall=lambda: clock["t"])
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    [a] = h.actions()
    assert a.status == "done" and a.result["revert_at"] == pytest.approx(1_000_600.0)
    h.act.step(0)
    assert fake.reverts == []
    clock["t"] += 601
    h.act.step(0)
    [a] = h.actions()
    assert a.status == "undone" and fake.reverts == ["pod-a"] and a.result["undone_by"] == "auto_revert"
    assert [e["phase"] for e in log.for_action(a.id)] == ["intent", "result", "undo-intent", "undo-result"]
    assert h.rt.counters.get("act.auto_reverted") == 1
    h.close()


def test_auto_revert_of_an_action_approved_elsewhere_is_picked_up(tmp_path):
    clock = {"t": 1_000_000.0}
    h, fake, log = make(tmp_path, "{responder: fake/t, dry_run: false, approval: true, auto_revert: 1m}",
                        wall=lambda: clock["t"])
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    [pending] = h.actions()
    alert = h.alerts()[0]
    route = dict(pending.result["route"], dry_run=False)
    import dataclasses
    [done] = h.act.executor.run(fake, dataclasses.replace(pending, status="planned", result={}), alert, route,
                                approved=True)                       # what `warden actions approve` does
    h.rt.store.put_actions([done])
    assert done.status == "done" and done.result["revert_at"] == pytest.approx(1_000_060.0)
    clock["t"] += 61
    h.act._last_scan = -1e18
    h.act.step(0)
    [a] = h.actions()
    assert a.status == "undone" and fake.reverts == ["pod-a"]
    h.close()


def test_crash_after_the_action_ran_but_before_the_store_flush_does_not_run_it_twice(tmp_path):
    h, fake, log = make(tmp_path, "{responder: fake/t, dry_run: false}")
    h.act.flush_sinks = lambda: None                      # the store write never becomes durable...
    h.rt.store.put_actions = lambda actions: None
    h.feed(finding("pod-a", evidence={"ns": "ml"}))
    assert fake.calls == ["pod-a"] and h.actions() == []
    alert = h.alerts()[0]
    h.close()

    from tests.unit.agent.lifecycle.harness import Harness
    fake2 = FakeResponder("fake/t", log=log)
    h2 = Harness(tmp_path, policies("{responder: fake/t, dry_run: false}"), responders=[fake2])
    h2.send_alert(alert)                                  # ...the alert is redelivered after the restart
    assert fake2.calls == []                              # the log's result is reused, nothing runs again
    [a] = h2.actions()
    assert a.status == "done" and h2.rt.counters.get("act.recovered_from_log") == 1
    h2.close()
