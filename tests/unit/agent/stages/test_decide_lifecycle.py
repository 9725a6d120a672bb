"""Decide: labels, dedup, silences and inhibition — muted alerts are stored as suppressed and counted."""
from __future__ import annotations

import pytest

from core.counters_state import read_counters
from policy.silences import Silence, open_silences
from tests.unit.agent.lifecycle.harness import Harness, finding

POLICIES = """
inhibit_rules:
  - {source: {alertname: node-down}, target: {alertname: "=~gpu-.*"}, equal: [node]}
policies:
  - id: node-down
    match: {rule: [node.down]}
    alert: {severity: critical, labels: {node: "{entity}"}}
    routes: [{responder: log/default, dry_run: true, notify: {group_wait: 0s}}]
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    alert:
      title: "leak on {entity}"
      group_by: [entity]
      labels: {node: "{entity}", gpu: "{evidence.gpu.index}", missing: "{evidence.nope}"}
    routes: [{responder: log/default, dry_run: true, notify: {group_wait: 0s}}]
"""


@pytest.fixture
def h(tmp_path):
    h = Harness(tmp_path, POLICIES)
    yield h
    h.close()


def test_alert_labels_and_dedup(h):
    f = finding(evidence={"gpu.index": 0})
    h.feed(f, f, finding(t=1060, n=1))
    [a] = h.alerts()
    assert a.count == 2 and a.status == "firing"
    assert a.labels == {"alertname": "gpu-leak", "severity": "high", "entity": "n1", "rule": "gpu.memory.used",
                        "detector": "gpu_memory_leak/default", "detector_type": "gpu_memory_leak",
                        "node": "n1", "gpu": "0"}
    assert h.rt.counters.get("decide.dedup") == 1 and h.rt.counters.get("decide.folded") == 1
    [act] = h.actions()
    assert act.responder == "log/default" and act.dry_run and act.status == "planned"


def test_silence_suppresses_is_counted_and_stored_then_fires_after_expiry(h):
    store = open_silences(h.cfg)
    s = Silence.new(["alertname=gpu-leak", "node=~n[12]"], duration=3600, comment="maintenance")
    store.add(s)
    h.feed(finding("n1", 1000), finding("n1", 1060, n=1), finding("n3", 1000))
    by_entity = {a.entity: a for a in h.alerts()}
    muted = by_entity["n1"]
    assert muted.status == "suppressed" and muted.labels["suppressed_by"] == f"silence:{s.id}"
    assert muted.count == 2                                  # still stored, still counting
    assert by_entity["n3"].status == "firing"
    assert h.rt.counters.get("decide.suppressed") == 2 and h.rt.counters.get("decide.silenced") == 2
    assert h.rt.counters.get("act.suppressed") >= 1
    assert {x.alert_id for x in h.actions()} == {by_entity["n3"].id}     # no responder for the muted one
    h.decide.checkpoint()
    counters, _ = read_counters(h.rt.state)                  # persisted for `warden status`
    assert counters["decide.silenced"] == 2

    store.expire(s.id)
    h.decide.silences.refresh(force=True)
    h.feed(finding("n1", 1120, n=2))
    a = next(x for x in h.alerts() if x.entity == "n1")
    assert a.status == "firing" and "suppressed_by" not in a.labels and a.count == 3
    assert h.rt.counters.get("decide.silenced") == 2          # the new finding was not muted
    assert a.id not in {x.alert_id for x in h.actions()}      # its group was notified < group_interval ago
    h.act.flush_notifications()
    assert a.id in {x.alert_id for x in h.actions()}


def test_node_down_inhibits_gpu_alerts_on_the_same_node_only(h):
    h.feed(finding("n1", 1000, detector="k8s/default", rule="node.down"),
           finding("n1", 1000), finding("n2", 1000))
    by = {(a.rule, a.entity): a for a in h.alerts()}
    assert by[("node-down", "n1")].status == "firing"
    inhibited = by[("gpu-leak", "n1")]
    assert inhibited.status == "suppressed"
    assert inhibited.labels["suppressed_by"] == f"inhibit:inhibit[0]:{by[('node-down', 'n1')].id}"
    assert by[("gpu-leak", "n2")].status == "firing"
    assert h.rt.counters.get("decide.inhibited") == 1


def test_replayed_findings_give_the_same_alert_ids(tmp_path):
    fs = [finding("n1", 1000 + 60 * i, n=i) for i in range(5)]
    a, b = Harness(tmp_path / "a", POLICIES), Harness(tmp_path / "b", POLICIES)
    a.feed(*fs)
    b.feed(*fs)
    assert [x.id for x in a.alerts()] == [x.id for x in b.alerts()]
    a.close()
    b.close()


def test_episode_opened_and_cleared_within_one_batch_still_fires(h):
    # one batch holding two episodes of the same key (a replay): the first one must fire, then resolve
    h.feed(finding("n1", 1000), finding("n1", 1000 + 4000, n=1))     # resolve_after default 30m
    states = [(a.status, a.first_seen) for a in sorted(h.alerts(), key=lambda a: a.first_seen)]
    assert states == [("resolved", 1000), ("firing", 5000)]
    assert h.rt.counters.get("decide.alerts_firing") == 2
    notified = {(x.alert_id) for x in h.actions()}
    assert len(notified) == 2


def test_silence_expiry_unmutes_without_new_findings(h):
    store = open_silences(h.cfg)
    s = Silence.new(["alertname=gpu-leak"], duration=3600)
    store.add(s)
    h.feed(finding("n1", 1000))
    assert h.alerts()[0].status == "suppressed"
    store.expire(s.id)
    h.decide._last_recheck = -1e18            # RECHECK_S has passed
    h.drain()                                  # idle steps only: no new finding
    a = h.alerts()[0]
    assert a.status == "firing" and "suppressed_by" not in a.labels
    h.act.flush_notifications()
    assert [x.alert_id for x in h.actions()] == [a.id]
