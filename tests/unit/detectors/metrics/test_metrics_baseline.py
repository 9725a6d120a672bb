import math

import numpy as np
import pytest

from core import registry
from core.errors import ConfigError
from core.snapshot import SnapshotError
from detectors.base import Detector
from detectors.metrics.baseline import BaselineDetector

from metric_streams import DAY, STEP, ev, interleave, seasonal, series_events

MEM, LAT, UTIL = "gpu.memory.used", "http.server.request.duration", "gpu.utilization"


def normal_streams(seed: int, n: int):
    rng = np.random.default_rng(seed)
    mem = seasonal(n, 30e9, 0.15, 0.02, rng)
    lat = seasonal(n, 0.2, 0.3, 0.15, rng, lognormal=True)
    util = np.clip(seasonal(n, 0.8, 0.1, 0.05, rng), 0, 1)
    return mem, lat, util


def test_registered_and_config_validated():
    assert registry.get("detector", "baseline") is BaselineDetector
    with pytest.raises(ConfigError):
        BaselineDetector(threshold=-1.0)
    with pytest.raises(ConfigError):
        BaselineDetector(direction="sideways")
    with pytest.raises(ConfigError):
        BaselineDetector(warmup=1)
    d = BaselineDetector("gpu", threshold=5.0)
    assert d.name == "baseline/gpu" and d.threshold == 5.0


def test_catches_gpu_memory_leak_and_latency_regression_without_false_alerts():
    n = 2 * DAY
    mem, lat, util = normal_streams(3, n)
    m, k = n - 120, 120
    mem = mem.copy()
    mem[m:] += np.linspace(0, 45e9, k)        # leak: +45 GB over two hours
    lat = lat.copy()
    lat[m:] *= 3                               # latency regression x3 that stays
    d = BaselineDetector()
    evs = interleave(series_events("node-1", MEM, mem), series_events("ep-a", LAT, lat),
                     series_events("node-1", UTIL, util))
    found = d.process(evs)
    before = [f for f in found if f.time < m * STEP]
    assert before == []                        # no false alerts on 1.9 days of noisy seasonal data
    first = {}
    for f in found:
        first.setdefault((f.entity, f.rule), f)
    leak = first[("node-1", MEM)]
    assert (leak.time - m * STEP) / STEP <= 45  # within 45 minutes of the leak starting
    assert leak.evidence["direction"] == "up" and leak.evidence["value"] > leak.evidence["baseline"]
    reg = first[("ep-a", LAT)]
    assert reg.time == m * STEP                 # the first regressed sample
    ev_ = reg.evidence
    assert ev_["metric"] == LAT and ev_["zscore"] >= d.threshold
    assert set(ev_) >= {"metric", "value", "baseline", "scale", "deviation", "zscore", "direction", "window"}
    assert ("node-1", UTIL) not in first


def test_process_matches_default_detector_semantics():
    rng = np.random.default_rng(0)
    vals = list(10 + rng.standard_normal(300))
    vals[100] = 40.0
    vals[200:210] = [25.0] * 10
    vals[150] = math.nan
    evs = interleave(series_events("a", "m", vals), series_events("b", "m", np.array(vals) * 2))
    fast = BaselineDetector(relearn_after=0)
    ref = BaselineDetector(relearn_after=0)
    got = fast.process(evs)
    want = Detector.process(ref, evs)          # the base class's event-at-a-time loop
    assert [f.id for f in got] == [f.id for f in want]
    assert [round(f.score, 9) for f in got] == [round(f.score, 9) for f in want]
    assert len(got) == 22
    assert fast.stats() == ref.stats()


def test_score_many_does_not_learn_and_is_vectorised_equal():
    d = BaselineDetector(warmup=5)
    d.process(series_events("a", "m", [1.0, 2.0, 3.0, 2.0, 1.0, 2.0]))
    before = d.snapshot()
    batch = [ev("a", "m", 1000, 9.0), ev("a", "m", 1060, 2.0), ev("zz", "m", 0, 5.0)]
    s = d.score_many(batch)
    assert d.snapshot() == before
    assert s[0] > s[1] >= 0 and s[2] == 0.0     # unknown series scores 0
    assert d.score_one(batch[0]) == pytest.approx(s[0])
    r = d.run(batch[:1])
    assert r.scores[0] == pytest.approx(s[0])


def test_nan_and_none_are_skipped_and_counted():
    d = BaselineDetector(warmup=3)
    vals = [1.0, None, 1.1, math.nan, 0.9, 1.0, math.inf]
    r = d.run(series_events("a", "m", vals))
    assert r.scores[1] == 0 and r.scores[3] == 0 and r.scores[6] == 0
    st = d.stats()[("a", "m")]
    assert st["nan"] == 3 and st["learned"] == 4 and st["warm"]


def test_out_of_order_points_are_scored_but_not_learned():
    d = BaselineDetector(warmup=5, relearn_after=0)
    d.process(series_events("a", "m", [10, 11, 9, 10, 11, 10, 9]))
    st0 = d.stats()[("a", "m")]
    late_ok = ev("a", "m", 60.0, 10.0)
    late_bad = ev("a", "m", 120.0, 1000.0)
    found = d.process([late_ok, late_bad])
    st1 = d.stats()[("a", "m")]
    assert st1["late"] == 2 and st1["learned"] == st0["learned"]
    assert st1["center"] == st0["center"]
    assert [f.evidence["value"] for f in found] == [1000.0]   # a late outlier still alerts


def test_constant_series_uses_scale_floor_then_flags_change():
    d = BaselineDetector(warmup=10)
    r = d.run(series_events("a", "m", [5.0] * 50 + [5.01, 6.0]))
    assert np.all(np.isfinite(r.scores))
    assert r.scores[49] == 0.0
    assert r.scores[50] < d.threshold           # within the floor (1% of 5)
    assert r.flags[51] and r.scale[51] == pytest.approx(0.05, rel=1e-3)
    z = BaselineDetector(warmup=10, min_rel_scale=0.0)
    rz = z.run(series_events("a", "m", [0.0] * 30 + [1e-3]))
    assert np.isfinite(rz.scores).all() and rz.flags[30]


def test_series_starting_mid_incident_relearns_the_new_level():
    vals = [100.0 + (i % 3) for i in range(40)] + [10.0 + (i % 3) * 0.1 for i in range(200)]
    d = BaselineDetector(warmup=20, relearn_after=30)
    r = d.run(series_events("a", "m", vals))
    assert r.flags[40:70].all()                 # recovery looks anomalous to the incident baseline
    assert not r.flags[75:].any()               # then the new level is accepted
    st = d.stats()[("a", "m")]
    assert st["relearns"] == 1 and abs(st["center"] - 10.1) < 0.5
    keep = BaselineDetector(warmup=20, relearn_after=0)
    assert keep.run(series_events("a", "m", vals)).flags[40:].all()


def test_long_gap_restarts_warmup():
    d = BaselineDetector(warmup=5, max_gap=3600.0)
    d.process(series_events("a", "m", [1.0, 1.1, 0.9, 1.0, 1.05, 1.0]))
    r = d.run([ev("a", "m", 360 + 7200, 50.0)])
    assert r.scores[0] == 0.0 and not d.stats()[("a", "m")]["warm"]
    d2 = BaselineDetector(warmup=5)               # max_gap 0: gaps do not matter
    d2.process(series_events("a", "m", [1.0, 1.1, 0.9, 1.0, 1.05, 1.0]))
    assert d2.run([ev("a", "m", 360 + 7200, 50.0)]).flags[0]


def test_direction_up_ignores_drops():
    d = BaselineDetector(warmup=10, direction="up")
    r = d.run(series_events("a", "m", [10.0, 10.5, 9.5] * 10 + [0.0, 30.0]))
    assert r.scores[30] == 0.0 and r.flags[31]


def test_snapshot_restore_whole_and_per_entity_and_forget():
    rng = np.random.default_rng(1)
    a = series_events("a", "m", 5 + rng.standard_normal(100))
    b = series_events("b", "m", 50 + rng.standard_normal(100))
    d = BaselineDetector()
    d.process(interleave(a, b))
    assert sorted(d.entities()) == ["a", "b"] and d.dirty_entities() == {"a", "b"}
    whole, only_a = d.snapshot(), d.snapshot("a")
    probe = [ev("a", "m", 1e6, 9.0), ev("b", "m", 1e6, 55.0)]
    want = d.score_many(probe)

    d2 = BaselineDetector()
    d2.restore(whole)
    assert np.allclose(d2.score_many(probe), want)

    d3 = BaselineDetector()
    d3.restore(only_a, "a")
    got = d3.score_many(probe)
    assert got[0] == pytest.approx(want[0]) and got[1] == 0.0
    with pytest.raises(ValueError):
        d3.restore(only_a, "b")

    d.forget("a")
    assert list(d.entities()) == ["b"]
    assert d.score_many(probe)[0] == 0.0 and d.score_many(probe)[1] == pytest.approx(want[1])
    d.restore(only_a, "a")
    assert np.allclose(d.score_many(probe), want)

    bad = bytearray(whole)
    bad[-3] ^= 0xFF
    with pytest.raises(SnapshotError):
        BaselineDetector().restore(bytes(bad))
    with pytest.raises(ValueError):
        BaselineDetector(warmup=500).restore(whole)  # buffer shape differs from this config


def test_ignores_other_kinds_and_filters_metric_names():
    from core.event import Event
    log = Event(id="l", time=0.0, kind="log", source="s/x", entity="a", name="m", value=None)
    d = BaselineDetector(warmup=3, metrics=["m"])
    assert not d.accepts(log) and d.accepts(ev("a", "m", 0, 1.0)) and not d.accepts(ev("a", "x", 0, 1.0))
    r = d.run([log] + series_events("a", "x", [1, 2, 3, 4]) + series_events("a", "m", [1, 2, 3, 40]))
    assert list(d.stats()) == [("a", "m")]
    assert r.scores[:5].sum() == 0.0
