"""Policy files: labels, notify timers, routes (dry_run default, approval, auto_revert), inhibit
rules and safety — validated at load with errors naming the file and the policy; built-in
policies load and every route passes the act stage's check."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.event import Finding
from policy.policies import PolicySet, render
from core.lookup import lookup


def load(tmp_path, text, name="p.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return PolicySet.load([str(f)])


OK = """
defaults: {notify: {group_wait: 10s}}
inhibit_rules:
  - {source: {alertname: node-down}, target: 'alertname=~"gpu-.*"', equal: [node]}
safety:
  protected: {namespaces: [prod-*], arns: ["arn:aws:iam::*:role/admin"], labels: {tier: critical}}
  blast_radius: {max_actions: 3, window: 5m}
policies:
  - id: leak
    match: {detector: ["gpu_memory_leak/*"], severity: medium}
    alert: {labels: {node: "{entity}"}}
    notify: {group_by: [node], repeat_interval: 1h}
    routes:
      - {responder: log/default}
      - {responder: kubernetes/default, dry_run: false, approval: true, auto_revert: 2h,
         params: {operation: cordon_node}}
"""


def test_full_policy_file_is_parsed(tmp_path):
    ps = load(tmp_path, OK)
    [p] = ps.policies
    log, k8s = p.routes
    assert log["dry_run"] is True and log["approval"] is False                 # dry-run by default
    assert log["notify"] == {"group_by": ["node"], "group_wait": 10.0, "group_interval": 300.0, "repeat_interval": 3600.0}
    assert k8s["dry_run"] is False and k8s["approval"] is True and k8s["auto_revert"] == 7200.0
    assert k8s["policy"] == "leak"
    [rule] = ps.inhibit_rules
    assert rule.equal == ("node",) and rule.inhibits({"alertname": "node-down", "node": "a"},
                                                     {"alertname": "gpu-leak", "node": "a"})
    assert "prod-*" in ps.safety.protected.namespaces and "kube-system" in ps.safety.protected.namespaces
    assert ps.safety.protected.reason({"namespace": "prod-x"}) and ps.safety.protected.reason({"labels": {"tier": "critical"}})
    assert ps.safety.protected.reason({"arn": "arn:aws:iam::1:role/admin"})
    assert ps.safety.protected.reason({"namespace": "ml"}) is None
    assert (ps.safety.blast_radius.max_actions, ps.safety.blast_radius.window) == (3, 300.0)


@pytest.mark.parametrize("bad, msg", [
    ("policies: [{id: a, routes: [{responder: log/default, dry_run: maybe}]}]", "dry_run must be true/false"),
    ("policies: [{id: a, routes: [{responder: log/default, approval: 1}]}]", "approval must be true/false"),
    ("policies: [{id: a, routes: [{responder: log/default, auto_revert: soon}]}]", "invalid duration"),
    ("policies: [{id: a, routes: [{responder: log/default, auto_revert: 0}]}]", "positive duration"),
    ("policies: [{id: a, notify: {group_wait: 1s, wait: 2}}]", "unknown notify key"),
    ("policies: [{id: a, alert: {labels: [x]}}]", "alert.labels must be a mapping"),
    ("policies: []\ninhibit_rules: [{source: {a: b}}]", "needs both source and target"),
    ("policies: []\ninhibit_rules: [{source: 'a=~(', target: {b: c}}]", "invalid regex"),
    ("policies: []\nsafety: {protected: {pods: [x]}}", "unknown key"),
    ("policies: []\nsafety: {blast_radius: {max_actions: -1}}", "max_actions must be an integer"),
    ("policies: []\nsilences: []", "unknown top-level key"),
])
def test_invalid_files_fail_with_a_clear_error(tmp_path, bad, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        load(tmp_path, bad)
    assert "p.yaml" in str(e.value)


def test_builtin_policies_load_and_every_route_checks():
    from agent.stages.act.responders import check_routes
    ps = PolicySet.load()
    ids = [p.id for p in ps.policies]
    for pid in ("gpu-memory-leak", "training-straggler", "latency-slo-burn", "credential-abuse",
                "k8s-exec-into-inference-pod", "prompt-injection", "model-drift", "default"):
        assert pid in ids
    assert ids[-1] == "default"                                   # the catch-all stays last
    check_routes(ps)                                              # no route needs unconfigured options
    assert all(r["dry_run"] for p in ps.policies for r in p.routes)
    routes = {(p.id, r["responder"], (r.get("params") or {}).get("operation")) for p in ps.policies for r in p.routes}
    assert ("credential-abuse", "aws_iam/default", "deactivate_access_key") in routes
    assert ("k8s-exec-into-inference-pod", "kubernetes/default", "quarantine_pod") in routes
    assert ("prompt-injection", "blocklist/default", None) in routes
    assert ("model-drift", "retrain/default", None) in routes


def test_route_to_a_responder_needing_config_is_refused(tmp_path):
    from agent.stages.act.responders import check_routes
    ps = load(tmp_path, "policies: [{id: a, routes: [{responder: webhook/oncall}]}]")
    with pytest.raises(ConfigError, match="webhook/oncall is not configured"):
        check_routes(ps)
    ps = load(tmp_path, "policies: [{id: a, routes: [{responder: aws_iam/default, params: {operation: nuke}}]}]")
    with pytest.raises(ConfigError, match="operation must be one of"):
        check_routes(ps)


def test_matching_on_built_in_policies():
    ps = PolicySet.load()

    def first(**kw):
        base = dict(detector="sigma/default", entity="arn:aws:iam::1:user/a", time=0.0, score=1.0, threshold=1.0,
                    severity="high", title="t", rule="r")
        base.update(kw)
        return ps.match(Finding.create(**base))[0].id
    assert first(tags=("attack.credential-access",)) == "credential-abuse"
    assert first(tags=("attack.t1609", "attack.execution")) == "k8s-exec-into-inference-pod"
    assert first(tags=("attack.discovery",)) == "attack-technique"
    assert first(detector="gpu_memory_leak/default") == "gpu-memory-leak"
    assert first(detector="drift/default") == "model-drift"
    assert first(detector="prompt_guard/default") == "prompt-injection"
    assert first(detector="something/else") == "default"


def test_lookup_handles_dotted_ecs_keys_and_render_keeps_zero():
    f = Finding.create(detector="d/x", entity="e", time=0, score=1, threshold=1, severity="low", title="t",
                       evidence={"event": {"orchestrator.namespace": "ml"}, "gpu.index": 0})
    assert lookup(f, "evidence.event.orchestrator.namespace") == "ml"
    assert render("{evidence.gpu.index}/{evidence.event.orchestrator.namespace}/{evidence.nope}", f) == "0/ml/{evidence.nope}"


@pytest.mark.parametrize("evidence, template, title, label", [
    ({"metric": "gpu.memory.used", "value": 71600000000.0}, "{evidence.value}", "66.7 GiB", "71600000000.0"),
    ({"metric": "http.server.request.duration", "value": 0.1232}, "{evidence.value}", "123.2 ms", "0.1232"),
    ({"ratio": 0.8734512}, "x {evidence.ratio}", "x 0.8735", "x 0.8734512"),
    ({"count": 7}, "{evidence.count} calls", "7 calls", "7 calls"),             # integers as they are
])
def test_floats_in_a_policy_title_are_written_for_people_and_labels_keep_them(evidence, template, title, label):
    """A policy title `{evidence.value}` printed 71600000000.0 / 0.8734512."""
    f = Finding.create(detector="d/x", entity="e", time=0, score=1, threshold=1, severity="low", title="t",
                       evidence=evidence)
    assert render(template, f, for_people=True) == title
    assert render(template, f) == label
