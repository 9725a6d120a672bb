import math
import statistics
from datetime import datetime

import orjson
import pytest

from core import codec, names, registry
from core.errors import ConfigError
from collectors import scenario
from collectors.base import ListEmitter

T0 = scenario.parse_start(scenario.DEFAULT_START)
WARM = T0 + 2 * 3600
INJECTION_MARKERS = ("ignore all previous instructions", "do anything now", "disregard the above",
                     "developer mode", "without any guidelines", "forget everything", "override:")


def rec_time(fmt, r):
    if fmt == "event":
        return r["time"]
    s = {"cloudtrail": r.get("eventTime"), "k8s-audit": r.get("requestReceivedTimestamp")}.get(fmt, r.get("time"))
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def recs():
    return scenario.generate()


@pytest.fixture(scope="module")
def gt():
    return {g["id"]: g for g in scenario.ground_truth()}


def series(recs, entity, name):
    return [(r["time"], r["value"]) for f, r in recs
            if f == "event" and r["entity"] == entity and r["name"] == name]


def in_window(pts, a, b):
    return [v for t, v in pts if a <= t < b]


def test_deterministic_byte_identical(recs):
    again = scenario.generate()
    assert orjson.dumps(again) == orjson.dumps(recs)
    other = scenario.generate(seed=8)
    assert orjson.dumps(other) != orjson.dumps(recs)
    ids = [r["id"] for f, r in recs if f == "event"]
    assert len(ids) == len(set(ids))  # stable and unique metric event ids


#: sha256 of orjson.dumps(generate()) - pins the bundled scenario byte for byte across machines and
#: Python versions. A deliberate change of the scenario updates it (and says so in the commit).
GOLDEN_SHA256 = "a7cc0d683adf7332da6f0188e5d82ec5c97bb81fc8f6933f0022f058ca038978"   # drift incident + end users on injection records


def test_golden_digest(recs):
    import hashlib
    assert hashlib.sha256(orjson.dumps(recs)).hexdigest() == GOLDEN_SHA256


def test_shape_and_time_order(recs):
    fmts = {f for f, _ in recs}
    assert fmts == {"event", "cloudtrail", "k8s-audit", "warden-inference"}
    times = [rec_time(f, r) for f, r in recs]
    assert times == sorted(times)
    assert T0 <= times[0] and times[-1] < T0 + 6 * 3600
    n_steps = 6 * 60
    assert sum(f == "event" for f, _ in recs) == n_steps * (4 * 5 + 2 * 3)
    entities = {r["entity"] for f, r in recs if f == "event"}
    assert entities == {"gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4", "llm-chat", "fraud-scorer"}
    ev = next(codec.from_dict(r) for f, r in recs if f == "event")
    assert ev.source == "scenario/demo" and ev.observed_time == ev.time and ev.kind == "metric"
    ct = [r for f, r in recs if f == "cloudtrail"]
    for r in ct:
        for k in ("eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
                  "userAgent", "userIdentity", "eventID", "recipientAccountId"):
            assert k in r
    k8s = [r for f, r in recs if f == "k8s-audit"]
    assert all(r["apiVersion"] == "audit.k8s.io/v1" and r["kind"] == "Event" for r in k8s)


def test_step_and_hours_options():
    short = scenario.generate(hours=1, step_seconds=300)
    assert sum(f == "event" for f, _ in short) == 12 * 26
    with pytest.raises(ValueError):
        scenario.generate(hours=0)
    with pytest.raises(ValueError):
        scenario.generate(step_seconds=0)


def test_incidents_off_keeps_the_background(recs):
    quiet = scenario.generate(incidents=False)
    assert scenario.ground_truth(incidents=False) == []
    early = [p for p in recs if rec_time(*p) < WARM]
    assert orjson.dumps([p for p in quiet if rec_time(*p) < WARM]) == orjson.dumps(early)
    assert not any(r.get("client_id") == scenario.INJECTION_CLIENT and "previous instructions" in r.get("prompt", "")
                   for f, r in quiet if f == "warden-inference")
    assert not any(r.get("sourceIPAddress") == scenario.ATTACKER_IP for f, r in quiet if f == "cloudtrail")


def test_ground_truth_schedule(gt):
    assert set(gt) == {"gpu-memory-leak", "console-bruteforce", "new-principal-exfiltration",
                       "training-straggler", "prompt-injection", "latency-regression", "feature-drift"}
    for g in gt.values():
        assert WARM <= g["start"] < g["end"] <= T0 + 6 * 3600
        assert g["family"] in ("metrics", "sigma", "guard", "drift")
    assert gt["gpu-memory-leak"]["end"] - gt["gpu-memory-leak"]["start"] == 90 * 60


def test_first_two_hours_are_normal(recs):
    early = [(f, r) for f, r in recs if rec_time(f, r) < WARM]
    keys = {(r["entity"], r["name"]) for f, r in early if f == "event"}
    for ent, name in keys:
        vals = [r["value"] for f, r in early if f == "event" and r["entity"] == ent and r["name"] == name]
        assert len(vals) == 120
        if name == names.GPU_XID_ERRORS:
            assert set(vals) == {0.0}
            continue
        med = statistics.median(vals)
        mad = statistics.median(abs(v - med) for v in vals) * 1.4826
        scale = max(mad, 0.01 * abs(med), 1e-9)
        worst = max(abs(v - med) / scale for v in vals)
        assert worst < 6, (ent, name, worst)
        if name in (names.GPU_MEMORY_USED, names.TRAIN_STEP_DURATION, names.GPU_UTILIZATION):
            assert mad / med < 0.02
    for f, r in early:
        if f == "cloudtrail":
            assert "errorCode" not in r and "errorMessage" not in r
            assert r["sourceIPAddress"] != scenario.ATTACKER_IP
            assert r["userIdentity"].get("userName") != scenario.NEW_PRINCIPAL
        elif f == "k8s-audit":
            assert r["verb"] in ("get", "list", "watch") and r["responseStatus"]["code"] == 200
        elif f == "warden-inference" and "prompt" in r:
            assert not any(m in r["prompt"].lower() for m in INJECTION_MARKERS)
    # memory per node is stable and nodes differ a little
    mems = {n: statistics.median(in_window(series(recs, n, names.GPU_MEMORY_USED), T0, WARM)) for n in scenario.NODES}
    assert 55 * scenario.GIB < min(mems.values()) and max(mems.values()) < 70 * scenario.GIB


def test_memory_leak(recs, gt):
    g = gt["gpu-memory-leak"]
    s = series(recs, g["entity"], names.GPU_MEMORY_USED)
    before = statistics.median(in_window(s, g["start"] - 1800, g["start"]))
    late = statistics.median(in_window(s, g["end"] - 600, g["end"]))
    after = statistics.median(in_window(s, g["end"], g["end"] + 1800))
    assert 1.18 < late / before < 1.26       # ~+2.5 %/10 min for 90 min
    assert abs(after / before - 1) < 0.01     # restarted
    mid = in_window(s, g["start"], g["end"])
    assert statistics.median(mid[-10:]) > statistics.median(mid[:10]) * 1.15
    other = series(recs, "gpu-node-1", names.GPU_MEMORY_USED)
    assert abs(statistics.median(in_window(other, g["end"] - 600, g["end"])) /
               statistics.median(in_window(other, T0, g["start"])) - 1) < 0.01


def test_straggler(recs, gt):
    g = gt["training-straggler"]
    strag = series(recs, g["entity"], names.TRAIN_STEP_DURATION)
    peers = [v for p in g["peers"] for v in in_window(series(recs, p, names.TRAIN_STEP_DURATION), g["start"], g["end"])]
    ratio = statistics.median(in_window(strag, g["start"], g["end"])) / statistics.median(peers)
    assert 1.5 < ratio < 1.7
    peers_before = [v for p in g["peers"] for v in in_window(series(recs, p, names.TRAIN_STEP_DURATION), T0, g["start"])]
    assert abs(statistics.median(in_window(strag, T0, g["start"])) / statistics.median(peers_before) - 1) < 0.03
    assert abs(statistics.median(in_window(strag, g["end"], math.inf)) / statistics.median(peers_before) - 1) < 0.03


def test_latency_regression(recs, gt):
    g = gt["latency-regression"]
    s = series(recs, g["entity"], names.HTTP_SERVER_DURATION)
    ratio = statistics.median(in_window(s, g["start"], g["end"])) / statistics.median(in_window(s, g["start"] - 3600, g["start"]))
    assert 2.6 < ratio < 3.4
    chat = series(recs, "llm-chat", names.HTTP_SERVER_DURATION)
    assert statistics.median(in_window(chat, g["start"], g["end"])) < 1.2 * statistics.median(in_window(chat, T0, WARM))


def test_bruteforce_then_new_principal_exfiltration(recs, gt):
    bf, ex = gt["console-bruteforce"], gt["new-principal-exfiltration"]
    ct = [r for f, r in recs if f == "cloudtrail"]
    logins = [r for r in ct if r["eventName"] == "ConsoleLogin" and r["sourceIPAddress"] == bf["source_ip"]]
    failed = [r for r in logins if r["responseElements"] == {"ConsoleLogin": "Failure"}]
    assert len(failed) == bf["failures"] == 24
    assert all(r["errorMessage"] == "Failed authentication" for r in failed)
    assert all(bf["start"] <= rec_time("cloudtrail", r) < bf["end"] for r in logins)
    assert logins[-1]["responseElements"] == {"ConsoleLogin": "Success"}
    assert all(r["userIdentity"]["arn"] == bf["entity"] for r in logins)
    assert not [r for r in ct if r["eventName"] == "ConsoleLogin" and r["sourceIPAddress"] != bf["source_ip"]
                and "errorMessage" in r]
    new = [r for r in ct if r["userIdentity"].get("arn") == ex["entity"]]
    assert new and all(ex["start"] <= rec_time("cloudtrail", r) < ex["end"] for r in new)
    assert min(rec_time("cloudtrail", r) for r in new) >= bf["end"]
    assert [r["eventName"] for r in new][:3] == ["CreateAccessKey", "ListBuckets", "ListObjects"]
    gets = [r for r in new if r["eventName"] == "GetObject"]
    assert len(gets) >= 100
    assert all(r["requestParameters"]["bucketName"] == "acme-model-weights" for r in gets)
    assert any(r["requestParameters"]["key"].endswith("model-00001-of-00004.safetensors") for r in gets)
    assert all(r["sourceIPAddress"] == ex["source_ip"] for r in new)
    assert any(r["eventName"] == "CreateUser" and r["requestParameters"] == {"userName": "backup-svc"} for r in ct)


def test_prompt_injection(recs, gt):
    g = gt["prompt-injection"]
    inf = [r for f, r in recs if f == "warden-inference" and r["model"] == "llm-chat"]
    bad = [r for r in inf if any(m in r["prompt"].lower() for m in INJECTION_MARKERS)]
    assert len(bad) >= 15
    assert {r["client_id"] for r in bad} == {g["client_id"]}
    assert all(g["start"] <= rec_time("warden-inference", r) < g["end"] for r in bad)
    assert any("ignore all previous instructions" in r["prompt"].lower() for r in bad)


def test_collector_emits_everything_once():
    assert registry.get("collector", "scenario") is scenario.ScenarioCollector
    c = scenario.ScenarioCollector("demo", hours=1.0)
    assert c.bounded and c.name == "scenario/demo" and c.hours == 1.0
    em = ListEmitter()
    c.bind(em)
    n = c.run_once()
    recs = list(c.records())
    assert n == len(recs)
    # every record either became events or a reasoned dead letter
    n_events = sum(f == "event" for f, _ in recs)
    metric = [e for e in em.events if e.kind == "metric"]
    assert len(metric) == n_events
    assert all(e.source == "scenario/demo" for e in metric)
    assert all(reason for _, reason, _ in em.dead)
    assert len({f for f, _ in recs}) >= 3
    assert c.run_once() == 0


def test_collector_dead_letters_unknown_formats(monkeypatch):
    c = scenario.ScenarioCollector("x", hours=0.1)
    good = scenario.generate(hours=0.1)[:3]
    monkeypatch.setattr(c, "records", lambda: good + [("no-such-format", {"a": 1})])
    em = ListEmitter()
    c.bind(em)
    assert c.run_once() == 4
    assert em.dead and em.dead[-1][0] == {"a": 1} and "unknown format 'no-such-format'" in em.dead[-1][1]


def test_config_validation():
    with pytest.raises(ConfigError):
        scenario.ScenarioCollector(hours=0)
    with pytest.raises(ConfigError):
        scenario.ScenarioCollector(start_time="not a time")
    with pytest.raises(ConfigError):
        scenario.ScenarioCollector(step_seconds=0)
    c = registry.create("collector", "scenario/s", {"seed": 3, "incidents": False})
    assert c.ground_truth() == []


def test_baseline_detector_finds_metric_incidents_without_false_alarms(recs, gt):
    baseline = pytest.importorskip("detectors.metrics.baseline")
    evs = [codec.from_dict(r) for f, r in recs if f == "event"]
    found = baseline.BaselineDetector().process(evs)
    metric_gt = [g for g in gt.values() if g["family"] == "metrics"]

    def explained(f):
        return any(g["entity"] == f.entity and g["metric"] == f.rule and g["start"] <= f.time <= g["end"] + 600
                   for g in metric_gt)
    assert [f for f in found if not explained(f)] == []
    for g in metric_gt:
        hits = [f for f in found if f.entity == g["entity"] and f.rule == g["metric"]]
        assert hits and min(f.time for f in hits) - g["start"] <= 45 * 60, g["id"]


def test_iter_records_is_lazy_and_matches_generate():
    import itertools
    import time
    t = time.monotonic()
    first = list(itertools.islice(scenario.iter_records(hours=scenario.MAX_HOURS), 200))
    assert time.monotonic() - t < 2.0          # a month-long run starts streaming at once
    assert first == scenario.generate(hours=1)[:200]
    short = scenario.generate(hours=0.5, seed=5)
    assert list(scenario.iter_records(hours=0.5, seed=5)) == short
