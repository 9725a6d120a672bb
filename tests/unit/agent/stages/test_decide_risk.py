"""Decide: risk-based alerting (policy.risk) — low and informational Sigma findings add risk to their
principal and open an alert only together."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from policy.policies import PolicySet
from tests.unit.agent.lifecycle.harness import Harness, finding

RISK = """
risk:
  detectors: ["sigma/*"]
  alert_min_level: medium
  risk_min_level: low
  window: 24h
  distinct: 2
"""
POLICIES = RISK + """
correlate:
  - name: session
    policies: [cred-abuse, technique]
    join_on: [[entity]]
policies:
  - id: cred-abuse
    match: {detector: ["sigma/*"], tags: [attack.credential-access], severity: medium}
    alert: {title: "credential abuse by {entity}: {title}", group_by: [entity], resolve_after: 1h}
    routes: [{responder: log/default, dry_run: true}]
  - id: technique
    match: {detector: ["sigma/*", "ueba/*"]}
    alert: {title: "{title}", group_by: [entity, rule], resolve_after: 1h}
    routes: [{responder: log/default, dry_run: true}]
  - id: other
    alert: {title: "{title}", group_by: [entity, rule], resolve_after: 1h}
    routes: [{responder: log/default, dry_run: true}]
"""
BOB = "arn:aws:iam::1:user/bob"


@pytest.fixture
def h(tmp_path):
    h = Harness(tmp_path, POLICIES)
    yield h
    h.close()


def sigma(rule, t, severity="low", entity=BOB, tags=("attack.discovery",), n=0):
    return finding(entity, t, detector="sigma/default", rule=rule, severity=severity, tags=tags, n=n)


def test_one_low_finding_opens_no_alert_and_is_counted(h):
    h.feed(sigma("ec2-launched-by-human", 1000), sigma("ec2-launched-by-human", 1100, n=1))   # one rule twice
    assert h.alerts() == []
    assert h.rt.counters.get("decide.risk_held") == 2 and h.rt.counters.get("decide.alerts_opened") == 0


def test_two_different_low_rules_of_one_principal_open_one_alert_holding_both(h):
    h.feed(sigma("ec2-launched-by-human", 1000), sigma("k8s-denied-from-public", 1000 + 3600))
    [a] = h.alerts()
    assert a.count == 2 and a.entity == BOB and a.status == "firing"
    assert sorted(s["rule"] for s in a.steps) == ["ec2-launched-by-human", "k8s-denied-from-public"]
    assert h.rt.counters.get("decide.risk_alerts") == 1 and h.rt.counters.get("decide.risk_held") == 1


def test_low_rules_of_different_principals_or_outside_the_window_do_not_add_up(h):
    h.feed(sigma("ec2-launched-by-human", 1000), sigma("k8s-denied-from-public", 1100, entity="alice"),
           sigma("k8s-denied-from-public", 1000 + 86400 + 1))
    assert h.alerts() == []


def test_informational_findings_are_context_never_risk(h):
    h.feed(sigma("bucket-listed", 1000, severity="info"), sigma("secret-read", 1010, severity="info"),
           sigma("ec2-launched-by-human", 1020))
    assert h.alerts() == []
    h.feed(sigma("k8s-denied-from-public", 1030))
    [a] = h.alerts()
    assert a.count == 4          # the context came along with the two low findings


def test_a_low_finding_joins_an_alert_already_open_for_its_principal(h):
    h.feed(sigma("console-login-failure", 1000, severity="medium", tags=("attack.credential-access",)))
    h.feed(sigma("ec2-launched-by-human", 1200))
    [a] = h.alerts()
    assert a.count == 2 and h.rt.counters.get("decide.risk_held") == 0


def test_held_findings_join_an_alert_that_opens_for_their_principal_later(h):
    h.feed(sigma("ec2-launched-by-human", 1000), sigma("ec2-launched-by-human", 1000, entity="alice"))
    h.feed(finding(BOB, 1500, detector="ueba/default", rule="session_novelty", severity="medium"))
    [a] = h.alerts()
    assert a.count == 2 and sorted(s["rule"] for s in a.steps) == ["ec2-launched-by-human", "session_novelty"]
    assert h.rt.counters.get("decide.risk_attached") == 1      # alice's stays held: no alert of hers is open


def test_findings_of_other_detectors_are_not_building_blocks(h):
    h.feed(finding("n1", 1000, detector="baseline/default", rule="gpu.memory.used", severity="low"))
    [a] = h.alerts()
    assert a.rule == "other"


def test_the_ledger_survives_a_restart(h):
    from agent.stages.decide import DecideStage
    h.feed(sigma("ec2-launched-by-human", 1000))
    h.decide.checkpoint()
    h.decide.close()
    h.decide = DecideStage(h.rt, policies=h.policies)
    h.feed(sigma("k8s-denied-from-public", 1100))
    [a] = h.alerts()
    assert a.count == 2


def test_without_a_risk_section_every_finding_may_alert(tmp_path):
    h = Harness(tmp_path, POLICIES.replace(RISK, ""))
    try:
        h.feed(sigma("ec2-launched-by-human", 1000))
        assert len(h.alerts()) == 1
    finally:
        h.close()


@pytest.mark.parametrize("snippet, error", [
    ("risk: {distinct: 0}", "distinct"),
    ("risk: {alert_min_level: loud}", "alert_min_level"),
    ("risk: {alert_min_level: low, risk_min_level: medium}", "above alert_min_level"),
    ("risk: {windows: 1h}", "unknown key"),
    ("risk: {window: 0s}", "positive"),
])
def test_a_bad_risk_section_is_a_config_error_naming_it(tmp_path, snippet, error):
    p = tmp_path / "p.yaml"
    p.write_text(snippet + "\npolicies: [{id: x}]\n")
    with pytest.raises(ConfigError, match=error):
        PolicySet.load([str(p)])


def test_risk_is_one_section_over_all_policy_files(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(f"risk: {{distinct: 2}}\npolicies: [{{id: {name[0]}}}]\n")
    with pytest.raises(ConfigError, match="second risk section"):
        PolicySet.load([str(tmp_path)])
    (tmp_path / "b.yaml").write_text("policies: [{id: b}]\n")
    assert PolicySet.load([str(tmp_path)]).risk.distinct == 2


def test_sigma_levels_name_the_thresholds():
    from policy.risk import parse_risk
    assert parse_risk({"alert_min_level": "low", "risk_min_level": "informational"}, "r").risk_min_level == "info"
