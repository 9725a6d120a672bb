"""UEBA baselines: learning periods, first-seen/rare explanations, spikes, bursts, state."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.registry import create
from collectors.formats import parse_record
from detectors.ueba.detector import UebaDetector

T0 = 1767600000.0


def ev(i, t=None, name="GetObject", ip="10.0.0.1", region="us-east-1", ua="aws-cli/2.0 Python/3", err=None,
       user="alice", bucket="data"):
    r = {"eventVersion": "1.08", "eventTime": T0 + i * 60 if t is None else t, "eventSource": "s3.amazonaws.com",
         "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua, "eventID": f"{user}-{i}-{name}",
         "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::1:user/{user}", "userName": user},
         "requestParameters": {"bucketName": bucket}}
    if err:
        r["errorCode"] = err
    return parse_record(r, "cloudtrail", "t")[0]


def det(**kw):
    base = dict(learning_events=20, global_learning_events=20, threshold=12.0, allowance=2.0, event_cap=10.0)
    base.update(kw)
    return UebaDetector("t", **base)


def odd(i, user="alice", **kw):
    """A call unlike alice's habits: new action, address, region and client."""
    kw = {"name": f"PutBucketPolicy{i}", "ip": f"203.0.{i % 250}.5", "region": "eu-north-1", "ua": "python-requests/2.3", **kw}
    return ev(i, user=user, **kw)


def test_registered_and_validated():
    assert isinstance(create("detector", "ueba/x", {}), UebaDetector)
    with pytest.raises(ConfigError):
        create("detector", "ueba/x", {"ewma_alpha": 2.0})
    with pytest.raises(ConfigError):
        create("detector", "ueba/x", {"allowance": 0})


def test_nothing_is_scored_while_the_account_is_learning():
    d = det(global_learning_events=100)
    assert d.process([ev(i) for i in range(10)] + [odd(11), odd(12), odd(13)]) == []


def test_one_rare_event_does_not_alert_a_session_of_them_does():
    d = det()
    d.process([ev(i) for i in range(60)])
    assert d.process([odd(100)]) == []                      # capped at event_cap < threshold
    assert d.process([ev(101 + i) for i in range(20)]) == []  # ordinary calls drain the evidence
    (f,) = d.process([odd(200), odd(201), odd(202)])                  # 2 x (10 - 2) bits reach 12 at the second
    assert f.rule == "session_novelty" and f.score >= f.threshold and f.evidence["baseline"] == "principal"
    assert [s["event_id"] for s in f.evidence["steps"]] == [odd(i).id for i in (200, 201)]
    assert set(f.event_ids) == {odd(200).id, odd(201).id} and f.time == odd(201).time
    top = {r["field"] for r in f.evidence["steps"][0]["reasons"]}
    assert {"action", "source_ip", "region", "user_agent"} <= top


def test_session_gap_resets_the_evidence():
    d = det(session_gap=600)
    d.process([ev(i) for i in range(60)])
    far = [odd(300 + i, t=T0 + 10_000 + 3600 * i) for i in range(3)]   # an hour apart: three sessions
    assert d.process(far) == []


def test_alerted_session_is_held_back_then_learned_after_the_quarantine():
    d = det(quarantine=3600)
    d.process([ev(i) for i in range(60)])
    actions = d.profiles["arn:aws:iam::1:user/alice"].seen["action"]
    assert len(d.process([odd(200 + i) for i in range(3)])) == 1
    assert not any("PutBucketPolicy" in a for a in actions)                  # not learned (no poisoning)
    d.process([ev(5000, t=T0 + 202 * 60 + 1800)])                           # next session, still in quarantine
    assert not any("PutBucketPolicy" in a for a in actions)
    d.process([ev(5001, t=T0 + 202 * 60 + 7200)])                           # quarantine over
    assert sorted(a for a in actions if "PutBucketPolicy" in a) == [f"s3.amazonaws.com:PutBucketPolicy{i}"
                                                                      for i in (200, 201, 202)]


def test_a_value_repeated_in_a_session_is_one_surprise():
    d = det()
    d.process([ev(i) for i in range(60)])
    same = [ev(100 + i, ip="203.0.113.5", ua="curl/8") for i in range(10)]  # new address and client, ten calls
    assert d.process(same) == []
    assert len(d.process([odd(300), odd(301)])) == 1                       # two different new calls do alert


def test_calibrated_rarity_depends_on_the_principal_variety():
    """A new call costs more bits for a principal that always does the same than for one that never does."""
    d = det(global_learning_events=1)
    d.process([ev(i, user="steady") for i in range(100)])
    d.process([ev(i, user="varied", name=f"Call{i}") for i in range(100)])
    steady, _, _ = d.surprise(ev(500, user="steady", name="NeverSeen"))
    varied, _, _ = d.surprise(ev(500, user="varied", name="NeverSeen"))
    bits = {s.field: s.bits for s in steady}, {s.field: s.bits for s in varied}
    assert bits[0]["action"] > bits[1]["action"] + 3
    assert bits[0]["source_ip"] < 0.1 and bits[1]["source_ip"] < 0.1       # habitual address: no surprise


def test_score_many_is_bits_above_what_the_principal_usually_costs():
    d = det()
    d.process([ev(i) for i in range(60)])
    usual, rare = d.score_many([ev(61), odd(62)])
    assert abs(usual) < 1.0 and rare > 10
def test_single_new_ip_is_learned_once_the_evidence_drains():
    d = det()
    d.process([ev(i) for i in range(40)])
    assert d.process([ev(41, ip="198.51.100.7")]) == []
    seen = d.profiles["arn:aws:iam::1:user/alice"].seen["source_ip"]
    assert "198.51.100.0/24" not in seen                 # surprising: waits while the session's evidence is up
    assert d.process([ev(42 + i) for i in range(10)]) == []
    assert seen["198.51.100.0/24"] == 1


@pytest.mark.parametrize("ip,network", [("10.3.4.5", "internal"), ("172.20.0.1", "internal"), ("100.64.1.1", "internal"),
                                        ("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48"),
                                        ("AWS Internal", "aws-service"), ("athena.amazonaws.com", "aws-service")])
def test_source_addresses_count_by_network(ip, network):
    from detectors.ueba.profile import network_of
    assert network_of(ip) == network


def test_access_denied_burst():
    d = det(denied_burst=5, denied_window=120)
    out = d.process([ev(0, t=T0 + i, err="AccessDenied") for i in range(7)])
    bursts = [f for f in out if f.rule == "access_denied_burst"]
    assert len(bursts) == 1 and bursts[0].evidence["value"] == 5


def test_volume_spike():
    d = det(spike_min_hours=5, spike_min_count=30, spike_k=3.0)
    evs = [ev(h * 100 + k, t=T0 + h * 3600 + k * 300) for h in range(8) for k in range(10)]   # 10/hour
    assert [f for f in d.process(evs) if f.rule == "volume_spike"] == []
    burst = [ev(10000 + k, t=T0 + 9 * 3600 + k) for k in range(80)]
    spikes = [f for f in d.process(burst) if f.rule == "volume_spike"]
    assert len(spikes) == 1 and spikes[0].evidence["baseline"]["ewma_mean"] > 5


def test_snapshot_restore_whole_and_per_entity():
    d = det()
    d.process([ev(i) for i in range(30)] + [ev(i, user="bob") for i in range(3)])
    d2 = det()
    d2.restore(d.snapshot())
    assert d2.profiles.keys() == d.profiles.keys()
    assert d2.profiles["arn:aws:iam::1:user/alice"].events == 30
    d3 = det()
    d3.restore(d.snapshot("arn:aws:iam::1:user/bob"), entity="arn:aws:iam::1:user/bob")
    assert list(d3.entities()) == ["arn:aws:iam::1:user/bob"]
    with pytest.raises(Exception):
        d3.restore(d.snapshot("arn:aws:iam::1:user/bob"), entity="arn:aws:iam::1:user/alice")
    assert d.dirty_entities() >= {"arn:aws:iam::1:user/alice", "arn:aws:iam::1:user/bob"}


def role_ev(i, session, name="GetObject", ip="10.0.0.1", ua="Boto3/1.34 Python/3.11", role="trainer", bucket="data"):
    r = {"eventVersion": "1.08", "eventTime": T0 + i * 60, "eventSource": "s3.amazonaws.com", "eventName": name,
         "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": ua, "eventID": f"{session}-{i}-{name}",
         "userIdentity": {"type": "AssumedRole", "arn": f"arn:aws:sts::1:assumed-role/{role}/{session}",
                          "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::1:role/{role}"}}},
         "requestParameters": {"bucketName": bucket}}
    return parse_record(r, "cloudtrail", "t")[0]


def role_odd(i, session, role="trainer"):
    return role_ev(i, session, name=f"PutBucketPolicy{i}", ip=f"203.0.{i % 250}.5", ua="python-requests/2.3", role=role)


def test_new_principal_is_compared_with_its_peers_from_its_first_event():
    d = det(learning_events=50, peer_learning_events=30, global_learning_events=30)
    d.process([role_ev(i, f"s{i % 3}") for i in range(60)])          # three sessions of one role
    d.process([ev(100 + i, user=f"u{i % 4}", name="ListBuckets", ua="Mozilla/5.0") for i in range(60)])
    assert d.process([role_ev(200 + i, "s-new") for i in range(5)]) == []   # a new session doing what its peers do
    assert d.score_many([role_ev(210, "s-new3")])[0] < 1.0
    (f,) = d.process([role_odd(300 + i, "s-new2") for i in range(3)])
    assert f.evidence["baseline"] == "peers:aws:role:arn:aws:iam::1:role/trainer" and "for its peers" in f.title
    assert {"action", "source_ip", "user_agent"} <= {r["field"] for r in f.evidence["steps"][0]["reasons"]}


def test_principal_of_an_unseen_kind_is_compared_with_the_account():
    d = det(learning_events=50, global_learning_events=40)
    d.process([ev(i, user=f"u{i % 4}") for i in range(60)])
    (f,) = d.process([role_odd(61 + i, "s1", role="other") for i in range(3)])
    assert f.evidence["baseline"] == "account"
    assert all(r["account_count"] == 0 for r in f.evidence["steps"][0]["reasons"] if r["field"] == "action")


def test_learning_is_counted_in_events_not_time():
    d = det(learning_events=10, global_learning_events=10)
    d.process([ev(i, t=T0 + i) for i in range(12)])                   # twelve events in twelve seconds
    (f,) = d.process([odd(13 + i, t=T0 + 13 + i) for i in range(3)])
    assert f.evidence["baseline"] == "principal"


def test_peer_state_survives_snapshot():
    d = det(learning_events=50, peer_learning_events=30, global_learning_events=1000)
    d.process([role_ev(i, f"s{i % 3}") for i in range(60)])
    d2 = det(learning_events=50, peer_learning_events=30, global_learning_events=1000)
    d2.restore(d.snapshot())
    assert d2.chain(role_ev(61, "s-new"))[1] == "peers:aws:role:arn:aws:iam::1:role/trainer"
    assert d2.account.totals == d.account.totals and d2.account.events == 60


def test_a_version_2_snapshot_is_read():
    from core import snapshot as snap
    alice = {"first": T0, "last": T0 + 600, "events": 30, "seen": {"action": {"s3.amazonaws.com:GetObject": 30}},
             "volume": [1, 3, 2.0, 0.5, 4], "errors": [-1, 0, 0.0, 0.0, 0], "denied": [], "reported": {},
             "burst_until": 0.0}
    blob = snap.pack("detector/ueba", 2, {
        "global": {"seen": {"action": {"s3.amazonaws.com:GetObject": 30}}, "first": T0, "events": 30, "last": T0 + 600},
        "peers": {"groups": {"aws:IAMUser": alice}, "members": {"aws:IAMUser": {"alice": 30}}},
        "profiles": {"arn:aws:iam::1:user/alice": alice}})
    d = det()
    d.restore(blob)
    assert d.account.events == 30 and d.account.totals["action"] == 30
    assert d.profiles["arn:aws:iam::1:user/alice"].totals["action"] == 30
    assert d.score_many([ev(31)])[0] < 1.0 and len(d.process([odd(40 + i) for i in range(3)])) == 1
