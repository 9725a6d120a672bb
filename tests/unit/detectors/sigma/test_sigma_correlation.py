"""Sigma correlation rules: windows in event time, late events, consumption, snapshot/restore."""
from __future__ import annotations

import pytest

from core.snapshot import SnapshotError
from collectors.formats import parse_record
from detectors.sigma.detector import SigmaDetector
from detectors.sigma.engine import SigmaEngine

BASE = """title: Secret read
id: aaaaaaaa-0000-4000-8000-000000000001
name: secret_read
status: test
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventName: GetSecretValue}
    condition: selection
level: low
---
title: Denied
id: aaaaaaaa-0000-4000-8000-000000000002
name: denied
status: test
logsource: {product: aws, service: cloudtrail}
detection:
    selection: {eventName: ListSecrets, errorCode: AccessDenied}
    condition: selection
level: low
"""


def corr(typ: str, rules: str, cond: str, group: str = "userIdentity.arn", span: str = "10m") -> str:
    return BASE + f"""---
title: Correlated
id: cccccccc-0000-4000-8000-00000000000c
status: test
tags: [attack.t1555.006]
correlation:
    type: {typ}
    rules: [{rules}]
    group-by: [{group}]
    timespan: {span}
{cond}
level: high
"""


def ev(t: float, name="GetSecretValue", user="alice", secret="s1", err=None, eid=None):
    r = {"eventVersion": "1.08", "eventTime": t, "eventSource": "secretsmanager.amazonaws.com", "eventName": name,
         "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::1:user/{user}", "userName": user},
         "requestParameters": {"secretId": secret}, "eventID": eid or f"{name}-{user}-{t}-{secret}"}
    if err:
        r["errorCode"] = err
    return parse_record(r, "cloudtrail", "t")[0]


T0 = 1767600000.0


def fired(eng, events):
    return [f for f in eng.process(events) if f.rule == "cccccccc-0000-4000-8000-00000000000c"]


def test_event_count_fires_once_and_base_rule_silent():
    eng = SigmaEngine(lateness=60).load_text(corr("event_count", "secret_read", "    condition: {gte: 3}"))
    assert not eng.errors
    out = eng.process([ev(T0 + i) for i in range(2)])
    assert out == []                                   # generate: false -> base rule gives no findings
    (f,) = fired(eng, [ev(T0 + 5)])
    assert f.severity == "high" and len(f.event_ids) == 3 and f.evidence["measured"] == 3.0
    assert f.evidence["group_by"] == {"userIdentity.arn": "arn:aws:iam::1:user/alice"} and f.tags == ("attack.t1555.006",)
    assert fired(eng, [ev(T0 + 6)]) == []              # window consumed: needs 3 new events


@pytest.mark.parametrize("min_level, base_findings", [("informational", 3), ("medium", 0)])
def test_generate_keeps_the_base_rule_findings_at_its_level_unless_below_min_level(min_level, base_findings):
    text = corr("event_count", "secret_read", "    generate: true\n    condition: {gte: 3}")
    eng = SigmaEngine(lateness=60, min_level=min_level).load_text(text)
    out = eng.process([ev(T0 + i) for i in range(3)])
    base = [f for f in out if f.rule == "aaaaaaaa-0000-4000-8000-000000000001"]
    assert len(base) == base_findings and all(f.severity == "low" for f in base)
    assert len([f for f in out if f.rule.startswith("cccc")]) == 1         # the correlation fires either way


def test_event_count_respects_window_and_groups():
    eng = SigmaEngine(lateness=0).load_text(corr("event_count", "secret_read", "    condition: {gte: 3}", span="1m"))
    assert fired(eng, [ev(T0), ev(T0 + 50), ev(T0 + 120)]) == []
    assert fired(eng, [ev(T0 + 130, user="bob"), ev(T0 + 131, user="carol"), ev(T0 + 132, user="dave")]) == []


def test_value_count_distinct_values():
    eng = SigmaEngine().load_text(corr("value_count", "secret_read", "    condition: {gte: 3, field: requestParameters.secretId}"))
    assert fired(eng, [ev(T0 + i, secret="same") for i in range(5)]) == []
    (f,) = fired(eng, [ev(T0 + 10, secret="a"), ev(T0 + 11, secret="b"), ev(T0 + 12, secret="c")])
    assert f.evidence["values"] == ["a", "b", "c", "same"] or f.evidence["measured"] >= 3


def test_temporal_and_ordered():
    eng = SigmaEngine().load_text(corr("temporal", "secret_read, denied", ""))
    assert not eng.errors, eng.errors
    (f,) = fired(eng, [ev(T0, name="GetSecretValue"), ev(T0 + 30, name="ListSecrets", err="AccessDenied")])
    assert f.evidence["correlation"]["type"] == "temporal"
    eng = SigmaEngine().load_text(corr("temporal_ordered", "denied, secret_read", ""))
    assert fired(eng, [ev(T0, name="GetSecretValue"), ev(T0 + 30, name="ListSecrets", err="AccessDenied")]) == []
    assert len(fired(eng, [ev(T0 + 40, name="GetSecretValue")])) == 1


def test_late_events_within_lateness_still_count_and_too_late_are_counted():
    eng = SigmaEngine(lateness=300).load_text(corr("event_count", "secret_read", "    condition: {gte: 3}", span="1m"))
    assert fired(eng, [ev(T0 + 200), ev(T0 + 230)]) == []
    # arrives 4 minutes late but inside lateness and inside the window [T0+200-60, ...]
    assert len(fired(eng, [ev(T0 + 190)])) == 1
    eng.process([ev(T0 - 1000)])                      # far too late
    assert eng.stats()["late_events"] == 1


def test_lt_condition_evaluated_when_window_closes():
    eng = SigmaEngine(lateness=0).load_text(corr("event_count", "secret_read", "    condition: {lt: 3}", span="1m"))
    assert fired(eng, [ev(T0)]) == []
    assert len(fired(eng, [ev(T0 + 120, user="bob")])) == 1   # alice's window closed with 1 < 3 events


def test_unsupported_correlation_reported():
    eng = SigmaEngine().load_text(corr("value_sum", "secret_read", "    condition: {gte: 3, field: x}"))
    assert any("not supported" in r for _, r in eng.errors)
    eng = SigmaEngine().load_text(corr("event_count", "nosuchrule", "    condition: {gte: 3}"))
    assert any("unknown rule" in r for _, r in eng.errors)


def test_snapshot_restore_keeps_windows(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text(corr("event_count", "secret_read", "    condition: {gte: 3}"))
    d = SigmaDetector("a", rules=[str(p)], builtin_rules=False)
    d.process([ev(T0), ev(T0 + 1)])
    blob = d.snapshot()
    d2 = SigmaDetector("b", rules=[str(p)], builtin_rules=False)
    d2.restore(blob)
    assert len([f for f in d2.process([ev(T0 + 2)]) if f.rule.startswith("cccc")]) == 1
    per = d.snapshot("arn:aws:iam::1:user/alice")
    d3 = SigmaDetector("c", rules=[str(p)], builtin_rules=False)
    d3.restore(per, entity="arn:aws:iam::1:user/alice")
    assert "arn:aws:iam::1:user/alice" in d3.entities()
    with pytest.raises(SnapshotError):
        d3.restore(blob[:-3] + b"xyz")


def test_dirty_entities_are_those_whose_windows_changed(tmp_path):
    """A checkpoint snapshots the entities whose correlation state changed, not every entity holding
    state; an entity whose windows all expired is dirty too, so its stored snapshot is emptied."""
    p = tmp_path / "c.yml"
    p.write_text(corr("event_count", "secret_read", "    condition: {gte: 3}", span="1m"))
    d = SigmaDetector("a", rules=[str(p)], builtin_rules=False, lateness=0)
    arn = "arn:aws:iam::1:user/{}".format
    d.process([ev(T0, user="alice"), ev(T0, user="bob")])
    assert d.dirty_entities() == {arn("alice"), arn("bob")}
    d.mark_clean()
    d.process([ev(T0 + 10, user="carol")])
    assert d.dirty_entities() == {arn("carol")}          # alice's and bob's windows did not change
    d.mark_clean()
    d.process([ev(T0 + 30, name="DescribeSecret", user="erin")])   # matches no rule: nothing changes
    assert d.dirty_entities() == set()
    d.process([ev(T0 + 200, user="dave")])               # every earlier window is past span + lateness
    assert d.dirty_entities() == {arn(u) for u in ("alice", "bob", "carol", "dave")}
    assert set(d.entities()) == {arn("dave")}
    d2 = SigmaDetector("b", rules=[str(p)], builtin_rules=False, lateness=0)
    d2.restore(d.snapshot(arn("alice")), entity=arn("alice"))
    assert list(d2.entities()) == []


def test_expiry_waits_for_the_watermark_to_reach_the_earliest_window():
    eng = SigmaEngine(lateness=30).load_text(corr("event_count", "secret_read", "    condition: {lt: 2}", span="1m"))
    assert fired(eng, [ev(T0, user="alice")]) == []
    assert fired(eng, [ev(T0 + 89, user="bob")]) == []    # alice's window closes at T0 + 60 + 30 lateness
    (f,) = fired(eng, [ev(T0 + 90, user="carol")])
    assert f.evidence["group_by"] == {"userIdentity.arn": "arn:aws:iam::1:user/alice"}
    (f,) = fired(eng, [ev(T0 + 179, user="dave")])     # bob's closes at T0 + 179, carol's one second later
    assert f.evidence["group_by"]["userIdentity.arn"].endswith("bob")


def test_a_window_due_exactly_now_is_kept_until_it_is_past():
    """A window whose first hit is exactly span + lateness old is still whole (eviction is strict):
    it stays, counts, and the sweep visits it once per call instead of refiling it forever."""
    eng = SigmaEngine(lateness=0).load_text(corr("event_count", "secret_read", "    condition: {gte: 2}", span="1m"))
    assert fired(eng, [ev(T0, user="alice")]) == []
    assert fired(eng, [ev(T0 + 60, user="bob")]) == []
    (f,) = fired(eng, [ev(T0 + 60, user="alice")])
    assert f.evidence["measured"] == 2.0
