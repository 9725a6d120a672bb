"""UEBA baselines: learning periods, first-seen/rare explanations, spikes, bursts, state."""
from __future__ import annotations

import pytest

from agent.errors import ConfigError
from agent.registry import create
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
    base = dict(learning_events=20, learning_seconds=600, global_learning_seconds=600)
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
    assert d.process([ev(41, ip="10.0.0.2")]) == []
    assert "10.0.0.2" in d.profiles["arn:aws:iam::1:user/alice"].seen["source_ip"]


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
