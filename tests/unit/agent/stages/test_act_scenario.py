"""The bundled scenario through the full pipeline (collect → detect → decide → act) with the
built-in policies: the expected alerts exactly once, the expected dry-run actions, a silence that
suppresses (stored + counted), redelivery without effect, and an action log that verifies."""
from __future__ import annotations

import pytest

from agent import codec
from agent.actions.log import ActionLog
from agent.config import parse
from agent.counters import Counters
from agent.lifecycle.counters_state import read_counters
from agent.lifecycle.silences import Silence, open_silences
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from agent.stores import AlertQuery

pytest.importorskip("collectors.scenario")
DETECTORS = {"sigma/default": {}, "gpu_memory_leak/default": {}, "straggler/default": {}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from agent import registry
    missing = [d for d in DETECTORS if d.split("/")[0] not in registry.all_of("detector")]
    if missing:
        pytest.skip(f"detectors not available yet: {missing}")
    data = tmp_path_factory.mktemp("scenario") / "w"
    cfg = parse({"data_dir": str(data), "collectors": {"scenario/demo": {"seed": 7, "hours": 6}},
                 "detectors": DETECTORS})
    silences = open_silences(cfg)
    silence = Silence.new(["alertname=training-straggler"], duration=3600, comment="known straggler")
    silences.add(silence)
    silences.close()
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), http=False)
    p.drain()
    yield p, cfg, silence
    p.close()


def test_expected_alerts_exactly_once(run):
    p, _, _ = run
    alerts = p.rt.store.list_alerts(AlertQuery(limit=1000))
    keys = [(a.rule, a.entity) for a in alerts]
    assert len(keys) == len(set(keys)) == len({a.id for a in alerts})
    got = set(keys)
    arn = "arn:aws:iam::123456789012:user/"
    for expected in [("gpu-memory-leak", "gpu-node-3"), ("training-straggler", "gpu-node-2"),
                     ("credential-abuse", arn + "alice")]:
        assert expected in got
    assert any(e.endswith("backup-svc") for _, e in got)                 # new-principal exfiltration
    assert not any(e in ("gpu-node-1", "gpu-node-4") for _, e in got)    # quiet nodes stay quiet


def test_expected_dry_run_actions(run):
    p, _, _ = run
    alerts = {a.id: a for a in p.rt.store.list_alerts(AlertQuery(limit=1000))}
    actions = p.rt.store.list_actions(limit=1000)
    assert actions and all(a.dry_run for a in actions) and {a.status for a in actions} <= {"planned"}
    by = {(a.responder, a.action, alerts[a.alert_id].rule) for a in actions}
    assert ("kubernetes/default", "cordon_node", "gpu-memory-leak") in by
    assert ("aws_iam/default", "deactivate_access_key", "credential-abuse") in by
    cordon = next(a for a in actions if a.action == "cordon_node")
    assert cordon.target == "node/gpu-node-3"
    key = next(a for a in actions if a.action == "deactivate_access_key")
    assert key.target == "iam:user/alice" and key.params["resource"]["account"] == "123456789012"
    ids = [a.id for a in actions]
    assert len(ids) == len(set(ids))


def test_silence_suppresses_and_is_counted(run):
    p, cfg, silence = run
    [a] = [x for x in p.rt.store.list_alerts(AlertQuery(limit=1000)) if x.rule == "training-straggler"]
    assert a.status in ("suppressed", "resolved") and a.labels["suppressed_by"] == f"silence:{silence.id}"
    assert not [x for x in p.rt.store.list_actions(a.id)]                     # no responder ran
    assert p.rt.counters.get("decide.silenced") >= 1
    counters, _ = read_counters(p.rt.state)
    assert counters["decide.silenced"] == p.rt.counters.get("decide.silenced")


def test_redelivered_alerts_change_nothing_and_the_log_verifies(run):
    p, cfg, _ = run
    act = next(s for s in p.stages if s.name == "act")
    before = sorted((a.id, a.status) for a in p.rt.store.list_actions(limit=1000))
    records = p.rt.bus.records(p.rt.topic("alerts"))
    act.handle(records)                                       # every alert again
    act.checkpoint()
    assert sorted((a.id, a.status) for a in p.rt.store.list_actions(limit=1000)) == before
    assert p.rt.counters.get("act.dedup") >= 1
    log = ActionLog.for_data_dir(cfg.data_dir)
    r = log.verify()
    assert r.ok and r.entries == len(before)
    assert {e["action"]["id"] for e in log.entries()} == {i for i, _ in before}
    assert all(codec.decode(rec.value, "alert") for rec in records)
