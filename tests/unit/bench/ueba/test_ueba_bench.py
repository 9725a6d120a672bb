"""The UEBA bench counts what a user receives and chooses parameters without the held-out fold."""
from __future__ import annotations

from core.event import Event, Finding
from bench.ueba.alerts import group_alerts, with_risk
from bench.ueba.background import Session, Stream
from bench.ueba.folds import FoldScore, Scored, leave_one_fold_out, score
from policy.policies import PolicySet

T0 = 1767600000.0
TAGS = ("attack.t1078", "attack.initial-access")


def finding(entity: str, t: float, *event_ids: str, rule: str = "session_novelty", tags=TAGS) -> Finding:
    return Finding.create(detector="ueba/bench", entity=entity, time=t, score=30.0, threshold=24.0,
                          severity="medium", title="unusual session", event_ids=event_ids, tags=tags, rule=rule)


def event(entity: str, t: float, name: str = "GetObject") -> Event:
    return Event.create(source="t", kind="audit", entity=entity, name=name, time=t)


def test_findings_of_one_principal_within_resolve_after_are_one_alert():
    policies = PolicySet.load()
    fs = [finding("alice", T0, "e1"), finding("alice", T0 + 600, "e2"), finding("bob", T0 + 700, "e3"),
          finding("alice", T0 + 600 + 3 * 3600, "e4")]            # quiet for 3 hours: a new alert
    alerts = group_alerts(reversed(fs), policies)
    assert [(a.entity, sorted(a.event_ids)) for a in alerts] == [("alice", ["e1", "e2"]), ("bob", ["e3"]),
                                                                 ("alice", ["e4"])]
    assert alerts[0].findings == 2 and alerts[0].rules == {"session_novelty"}


def test_score_counts_sessions_false_alerts_and_benign_principal_hours_per_fold():
    benign = [event("alice", T0), event("alice", T0 + 60), event("alice", T0 + 3600), event("bob", T0 + 10)]
    attack = [event("mallory", T0 + 100, "PutBucketPolicy"), event("mallory", T0 + 160, "DeleteTrail")]
    other = [event("carol", T0 + 5)]
    stream = Stream(sorted(benign + attack + other, key=lambda e: e.time),
                    [Session("s1", "aws", attack), Session("s2", "gcp", [event("eve", T0 + 9, "X")])],
                    {**{e.id: "aws" for e in benign}, **{e.id: "gcp" for e in other}})
    alerts = group_alerts([finding("mallory", T0 + 160, attack[1].id), finding("alice", T0 + 60, benign[1].id),
                           finding("alice", T0 + 99999, attack[0].id, benign[2].id)], PolicySet.load())
    r = score(stream, alerts)
    assert r.folds["aws"] == FoldScore(sessions=1, alerted=1, benign_hours=3, false_alerts=1)   # mixed alert: not false
    assert r.folds["gcp"] == FoldScore(sessions=1, alerted=0, benign_hours=1, false_alerts=0)
    assert r.missed == ["s2"] and r.false_rules == {"session_novelty": 1}
    assert r.total().false_per_1000h == 1000 / 4


def scored(**folds: tuple[int, int]) -> Scored:
    """folds: name -> (sessions alerted of 10, false alerts in 1,000 principal-hours)."""
    return Scored({f: FoldScore(10, hit, 1000, fa) for f, (hit, fa) in folds.items()}, [], {})


def test_parameters_are_chosen_on_the_training_folds_only():
    results = {"loose": scored(a=(10, 5), b=(10, 5), c=(10, 0)),        # best recall, over budget on a and b
               "tight": scored(a=(6, 0), b=(7, 1), c=(2, 0))}
    held = {h.fold: h for h in leave_one_fold_out(results, budget=1.0)}
    assert held["c"].params == "tight" and held["c"].test == FoldScore(10, 2, 1000, 0)   # "loose" is better on c
    assert held["c"].train == FoldScore(20, 13, 2000, 1)
    # held out a: trained on b (over budget for "loose") and c
    assert held["a"].params == "tight"
    assert {h.fold for h in held.values()} == {"a", "b", "c"}


def test_when_nothing_meets_the_budget_the_fewest_false_alerts_win():
    results = {"p": scored(a=(9, 9), b=(9, 9)), "q": scored(a=(1, 3), b=(1, 3))}
    assert all(h.params == "q" for h in leave_one_fold_out(results, budget=1.0))


def test_the_warmup_keeps_early_false_alerts_and_hours_out():
    early, late = event("alice", T0 + 60), event("alice", T0 + 3 * 86400)
    stream = Stream([early, late], [], {early.id: "aws", late.id: "aws"}, start=T0)
    alerts = group_alerts([finding("alice", early.time, early.id), finding("alice", late.time, late.id)],
                          PolicySet.load())
    assert score(stream, alerts).folds["aws"] == FoldScore(0, 0, 2, 2)
    assert score(stream, alerts, warmup=86400).folds["aws"] == FoldScore(0, 0, 1, 1)


def test_alerts_on_records_labelled_both_ways_are_counted_apart_not_as_false():
    twin, plain = event("alice", T0 + 3 * 86400), event("bob", T0 + 4 * 86400)
    stream = Stream([twin, plain], [], {twin.id: "aws", plain.id: "aws"}, start=T0, conflict=frozenset({twin.id}))
    alerts = group_alerts([finding("alice", twin.time, twin.id), finding("bob", plain.time, plain.id)],
                          PolicySet.load())
    r = score(stream, alerts)
    assert r.folds["aws"] == FoldScore(0, 0, 2, false_alerts=1, conflict_alerts=1)
    assert r.false_causes == {"a replayed development record": 1}


def test_findings_of_correlated_policies_on_one_principal_join_one_alert():
    # credential-abuse (tagged initial access) and attack-technique (any other rule) are one attacker-session
    other = ("attack.discovery",)
    fs = [finding("mallory", T0, "e1"), finding("mallory", T0 + 60, "e2", rule="some-rule-id", tags=other),
          finding("mallory", T0 + 3 * 3600, "e3", rule="some-rule-id", tags=other)]      # hours later: a new alert
    alerts = group_alerts(fs, PolicySet.load())
    assert [sorted(a.event_ids) for a in alerts] == [["e1", "e2"], ["e3"]]


def test_low_findings_alert_only_together_as_the_decide_stage_groups_them():
    # policy.risk: a low Sigma finding adds risk to its principal; two different rules open one alert
    policies = PolicySet.load()
    assert policies.risk is not None and policies.risk.distinct == 2

    def low(entity: str, t: float, ev: str, rule: str) -> Finding:
        return Finding.create(detector="sigma/default", entity=entity, time=t, score=1.0, threshold=1.0,
                              severity="low", title=rule, event_ids=(ev,), tags=("attack.discovery",), rule=rule)
    fs = [low("bob", T0, "e1", "r1"), low("bob", T0 + 60, "e2", "r1"), low("carol", T0, "e3", "r1"),
          low("carol", T0 + 600, "e4", "r2")]
    assert [(a.entity, sorted(a.event_ids)) for a in group_alerts(fs, policies)] == [("carol", ["e3", "e4"])]
    assert sorted(a.entity for a in group_alerts(fs, with_risk(policies, None))) == ["bob", "carol"]   # risk off


def test_a_session_alerted_only_inside_another_sessions_alert_is_not_alerted_alone():
    from bench.ueba.sessions import evaluate
    a, b = event("mallory", T0, "CreateUser"), event("mallory", T0 + 600, "RunInstances")
    stream = Stream([a, b], [Session("s1", "aws", [a]), Session("s2", "aws", [b])], {}, start=T0)
    low = Finding.create(detector="sigma/default", entity="mallory", time=b.time, score=1.0, threshold=1.0,
                         severity="low", title="low", event_ids=(b.id,), rule="low-rule")
    r = evaluate(stream, [finding("mallory", a.time, a.id), low])
    assert r.folds["aws"] == FoldScore(sessions=2, alerted=2, benign_hours=0, false_alerts=0, alerted_alone=1)
