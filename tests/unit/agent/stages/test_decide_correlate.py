"""Decide: findings of correlated policies fold into one alert per incident (policy.correlate)."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from policy.policies import PolicySet
from tests.unit.agent.lifecycle.harness import Harness, finding

POLICIES = """
correlate:
  - name: metric-explained
    policies: [gpu-leak, metric-anomaly]
    join_on: [[entity, evidence.metric]]
  - name: session
    policies: [cred-abuse, technique]
    join_on: [[entity], [evidence.event.source.ip], [principal_name], [evidence.event.user.target.name]]
policies:
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {title: "leak on {entity}", group_by: [entity], resolve_after: 30m}
    routes: [{responder: log/default, dry_run: true, notify: {group_wait: 0s}}]
  - id: cred-abuse
    match: {detector: ["sigma/*"], tags: [attack.credential-access]}
    alert: {title: "credential abuse by {entity}: {title}", group_by: [entity], resolve_after: 1h}
    routes: [{responder: log/default, dry_run: true}]
  - id: technique
    match: {detector: ["sigma/*"]}
    alert: {title: "{title}", group_by: [entity, rule], resolve_after: 1h}
    routes: [{responder: log/default, dry_run: true}]
  - id: metric-anomaly
    match: {detector: ["baseline/*"]}
    alert: {title: "{title}", group_by: [entity, rule], resolve_after: 30m}
    routes: [{responder: log/default, dry_run: true, notify: {group_wait: 0s}}]
"""
ARN = "arn:aws:iam::1:user/"


@pytest.fixture
def h(tmp_path):
    h = Harness(tmp_path, POLICIES)
    yield h
    h.close()


def metric(entity, t, detector, name="gpu.memory.used", n=0):
    return finding(entity, t, detector=detector, rule=name, evidence={"metric": name, "value": 7e10 + n}, n=n)


@pytest.mark.parametrize("order", ["anomaly first", "leak first"])
def test_a_metric_anomaly_and_the_detector_that_explains_it_are_one_alert(h, order):
    anomaly = [metric("n3", 1000 + 60 * i, "baseline/default", n=i) for i in range(3)]
    leak = [metric("n3", 1030 + 60 * i, "gpu_memory_leak/default", n=10 + i) for i in range(3)]
    first, second = (anomaly, leak) if order == "anomaly first" else (leak, anomaly)
    h.feed(*first)
    h.feed(*second, metric("n3", 1100, "baseline/default", name="gpu.utilization"),   # another metric: its own
           metric("n4", 1100, "baseline/default"))                                     # another node: its own
    by = {(a.entity, a.labels["rule"]): a for a in h.alerts()}
    assert len(by) == 3
    a = by[("n3", "gpu.memory.used")]
    # the explaining policy names the alert; title and headline evidence come from its finding
    assert a.rule == "gpu-leak" and a.title == "leak on n3" and a.count == 6
    assert a.detector == "gpu_memory_leak/default" and a.evidence["value"] >= 7e10 + 10
    # steps in timeline order (by first finding), whichever arrived first
    assert [(s["detector"], s["count"]) for s in a.steps] == [("baseline/default", 3), ("gpu_memory_leak/default", 3)]
    assert h.rt.counters.get("decide.alerts_opened") == 3


def sigma(entity, t, title, ip="203.0.113.77", tags=(), target=None, n=0):
    ev = {"action": title, "principal": entity}
    if ip:
        ev["source.ip"] = ip
    if target:
        ev["user.target.name"] = target
    return finding(entity, t, detector="sigma/default", rule=title.lower().replace(" ", "-"), severity="medium",
                   evidence={"rule": {"title": title}, "event": ev}, tags=tags, n=n)


def test_the_steps_of_one_attacker_session_are_one_alert_with_a_timeline(h):
    fails = [sigma(ARN + "alice", 1000 + i, "Console Login Failure", tags=("attack.credential-access",), n=i)
             for i in range(5)]
    create = sigma(ARN + "alice", 1500, "IAM User Created", target="backup-svc")
    exfil = sigma(ARN + "backup-svc", 1800, "Bulk Read Of Model Weights", ip=None)   # a correlation: no address
    other = sigma(ARN + "bob", 1900, "IAM User Created", ip="198.51.100.4", target="carol")
    h.feed(*fails, create, exfil, other)
    alerts = h.alerts()
    assert len(alerts) == 2, [(a.entity, a.title) for a in alerts]
    [a] = [x for x in alerts if x.entity == ARN + "alice"]
    assert a.rule == "cred-abuse" and a.count == 7
    assert [(s["rule"], s["entity"], s["count"]) for s in a.steps] == [
        ("console-login-failure", ARN + "alice", 5), ("iam-user-created", ARN + "alice", 1),
        ("bulk-read-of-model-weights", ARN + "backup-svc", 1)]


def test_two_episodes_of_one_incident_opened_out_of_order_merge_into_the_first(h):
    h.feed(sigma(ARN + "backup-svc", 1800, "Bulk Read Of Model Weights", ip=None))      # seen first
    h.feed(sigma(ARN + "alice", 1000, "Console Login Failure", tags=("attack.credential-access",)),
           sigma(ARN + "alice", 1500, "IAM User Created", target="backup-svc"))
    by = {a.entity: a for a in h.alerts()}
    gone, kept = by[ARN + "backup-svc"], by[ARN + "alice"]
    assert gone.status == "resolved" and gone.labels["merged_into"] == kept.id
    assert kept.status == "firing" and kept.count == 3 and kept.rule == "cred-abuse"
    assert {s["entity"] for s in kept.steps} == {ARN + "alice", ARN + "backup-svc"}
    assert h.rt.counters.get("decide.merged") == 1


def test_a_correlated_episode_ends_and_a_later_finding_opens_a_new_alert(h):
    h.feed(metric("n3", 1000, "baseline/default"), metric("n3", 1060, "gpu_memory_leak/default", n=1))
    h.feed(metric("n3", 1060 + 3600, "baseline/default", n=2))
    alerts = sorted(h.alerts(), key=lambda a: a.first_seen)
    assert [(a.rule, a.status, a.count) for a in alerts] == [("gpu-leak", "resolved", 2),
                                                             ("metric-anomaly", "firing", 1)]


@pytest.mark.parametrize("later", ["baseline/default", "gpu_memory_leak/default"])
def test_an_ended_correlated_episode_is_gone_from_the_state(h, later):
    from agent.stages.decide import DecideStage
    h.feed(metric("n3", 1000, "baseline/default"), metric("n3", 1060, "gpu_memory_leak/default", n=1))
    h.decide.checkpoint()
    h.feed(metric("n3", 1060 + 3600, later, n=2))         # after resolve_after: a new episode
    h.decide.checkpoint()
    h.decide.close()
    h.decide = DecideStage(h.rt, policies=h.policies)
    h.decide._load()
    assert [ep.count for ep in h.decide.open.values()] == [1]


def test_a_restarted_decide_stage_still_joins_the_open_episode(h):
    h.feed(metric("n3", 1000, "baseline/default"))
    h.decide.checkpoint()
    from agent.stages.decide import DecideStage
    h.decide.close()
    h.decide = DecideStage(h.rt, policies=h.policies)
    h.feed(metric("n3", 1060, "gpu_memory_leak/default", n=1))
    [a] = h.alerts()
    assert a.rule == "gpu-leak" and a.count == 2


@pytest.mark.parametrize("snippet, error", [
    ("correlate: [{policies: [nope], join_on: [[entity]]}]", "unknown policy 'nope'"),
    ("correlate: [{policies: [p], join_on: [entity]}]", "join_on"),
    ("correlate: [{policies: [p], join_on: [[entity]], window: 1h}]", "unknown key"),
    ("correlate: [{name: a, policies: [p], join_on: [[entity]]}, {name: b, policies: [p], join_on: [[rule]]}]",
     "in both a and b"),
])
def test_bad_correlation_rules_are_config_errors(tmp_path, snippet, error):
    f = tmp_path / "p.yaml"
    f.write_text(snippet + "\npolicies: [{id: p, routes: []}]\n")
    with pytest.raises(ConfigError, match=error):
        PolicySet.load([str(f)])


PROMPT_POLICY = """
policies:
  - id: prompt-injection
    match: {detector: ["prompt_guard/*"]}
    alert: {group_by: [entity, "evidence.end_user.id|evidence.session.id|evidence.client.id"], resolve_after: 30m}
    routes: [{responder: log/default, dry_run: true}]
"""


def test_prompt_injection_groups_per_end_user_else_session_else_client(tmp_path):
    h = Harness(tmp_path, PROMPT_POLICY)
    try:
        reqs = [({"client.id": "app", "end_user.id": "u1"}, 3), ({"client.id": "app", "end_user.id": "u2"}, 2),
                ({"client.id": "app", "session.id": "s9"}, 2), ({"client.id": "app"}, 4)]
        n = 0
        for ev, count in reqs:
            for _ in range(count):
                n += 1
                h.feed(finding("llm-chat", 1000 + n, detector="prompt_guard/default", rule="prompt_injection",
                               evidence={**ev, "decision": "deny"}, n=n))
        got = sorted((a.group_key.split("|", 1)[1], a.count) for a in h.alerts())
        assert got == [("evidence.client.id=app", 4), ("evidence.end_user.id=u1", 3), ("evidence.end_user.id=u2", 2),
                       ("evidence.session.id=s9", 2)]
    finally:
        h.close()


def test_steps_beyond_the_cap_are_counted_not_dropped_silently(h):
    from policy.steps import MAX_STEPS
    h.feed(*[sigma(ARN + "alice", 1000 + i, f"Rule {i}", tags=("attack.credential-access",), n=i)
             for i in range(MAX_STEPS + 2)])
    [a] = h.alerts()
    assert a.count == MAX_STEPS + 2 and len(a.steps) == MAX_STEPS
    assert h.rt.counters.get("decide.steps_omitted") == 2
