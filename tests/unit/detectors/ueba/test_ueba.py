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
    base = dict(learning_events=20, learning_seconds=600, global_learning_seconds=600, global_learning_events=20)
    base.update(kw)
    return UebaDetector("t", **base)


def test_registered_and_validated():
    assert isinstance(create("detector", "ueba/x", {}), UebaDetector)
    with pytest.raises(ConfigError):
        create("detector", "ueba/x", {"ewma_alpha": 2.0})


def test_learning_period_then_first_seen_explained():
    d = det()
    assert d.process([ev(i) for i in range(5)] + [ev(6, region="ap-east-1")]) == []   # still learning
    assert d.process([ev(i) for i in range(7, 40)]) == []
    (f,) = d.process([ev(41, name="PutBucketPolicy", ip="203.0.113.5", region="eu-north-1", ua="python-requests/2.3")])
    fields = {r["field"]: r for r in f.evidence["reasons"]}
    assert set(fields) == {"action", "source_ip", "region", "user_agent"}
    assert fields["region"]["value"] == "eu-north-1" and fields["region"]["baseline"]["top"]["us-east-1"] >= 30
    assert fields["action"]["globally_new"] is True and f.score >= f.threshold and f.rule == "novelty"
    # flagged values are not learned (no poisoning) and not re-reported during the cooldown
    assert d.profiles[f.entity].seen["region"].get("eu-north-1") is None
    assert d.process([ev(42, name="PutBucketPolicy", ip="203.0.113.5", region="eu-north-1", ua="python-requests/2.3")]) == []


def test_single_new_ip_below_threshold_is_learned():
    d = det()
    d.process([ev(i) for i in range(40)])
    assert d.process([ev(41, ip="198.51.100.7")]) == []
    assert "198.51.100.0/24" in d.profiles["arn:aws:iam::1:user/alice"].seen["source_ip"]


@pytest.mark.parametrize("ip,network", [("10.3.4.5", "internal"), ("172.20.0.1", "internal"), ("100.64.1.1", "internal"),
                                        ("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48"),
                                        ("AWS Internal", "aws-service"), ("athena.amazonaws.com", "aws-service")])
def test_source_addresses_count_by_network(ip, network):
    from detectors.ueba.profile import network_of
    assert network_of(ip) == network


def test_rare_action():
    d = det(rare_min_events=100, rare_ratio=0.02, threshold=0.3)
    d.process([ev(0, name="DeleteObject")] + [ev(i) for i in range(1, 150)])
    (f,) = d.process([ev(151, name="DeleteObject")])
    (r,) = f.evidence["reasons"]
    assert r["check"] == "rare" and r["baseline"]["count"] == 1 and r["baseline"]["events"] == 150


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


def test_new_principal_is_compared_with_its_peers_from_its_first_event():
    d = det(learning_events=50, peer_learning_events=30, global_learning_events=1000)
    d.process([role_ev(i, f"s{i % 3}") for i in range(60)])          # three sessions of one role
    assert d.process([role_ev(61, "s-new")]) == []                    # a new session doing what its peers do
    (f,) = d.process([role_ev(62, "s-new2", name="PutBucketPolicy", ip="203.0.113.5", ua="python-requests/2.3")])
    assert f.evidence["baseline"] == "peers:aws:role:arn:aws:iam::1:role/trainer"
    assert {r["field"] for r in f.evidence["reasons"]} == {"action", "source_ip", "user_agent"}
    assert "for its peers" in f.title


def test_principal_of_an_unseen_kind_is_compared_with_the_account():
    d = det(learning_events=50, global_learning_events=40)
    d.process([ev(i, user=f"u{i % 4}") for i in range(60)])
    (f,) = d.process([role_ev(61, "s1", name="DeleteBucket", ip="203.0.113.9", ua="curl/8", role="other")])
    assert f.evidence["baseline"] == "account" and all(r["globally_new"] for r in f.evidence["reasons"])


def test_learning_is_counted_in_events_not_time():
    d = det(learning_events=10, learning_seconds=0, global_learning_events=10, global_learning_seconds=0)
    d.process([ev(i, t=T0 + i) for i in range(12)])                   # twelve events in twelve seconds
    (f,) = d.process([ev(13, t=T0 + 13, name="PutBucketPolicy", ip="203.0.113.5", ua="curl/8")])
    assert f.evidence["baseline"] == "principal"


def test_peer_state_survives_snapshot():
    d = det(learning_events=50, peer_learning_events=30, global_learning_events=1000)
    d.process([role_ev(i, f"s{i % 3}") for i in range(60)])
    d2 = det(learning_events=50, peer_learning_events=30, global_learning_events=1000)
    d2.restore(d.snapshot())
    assert d2.baseline(role_ev(61, "s-new"))[1] == "peers:aws:role:arn:aws:iam::1:role/trainer"
