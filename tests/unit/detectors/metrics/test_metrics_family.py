"""Every registered metric detector: causal scores, bad input, snapshots; plus family specifics."""
import math

import numpy as np
import pytest

from core import registry
from core.snapshot import SnapshotError
from detectors.metrics.common import MetricDetector
from metric_streams import STEP, ev, interleave, series_events

# small configs so that every detector is warm and (re)fitted inside short test streams
FAST = {
    "pyod_window": {"fit_after": 32, "refit_every": 64, "max_train": 128, "window": 4},
    "forecast": {"fit_after": 64, "fit_epochs": 2, "window": 8, "hidden": 8, "warmup": 5},
    "novelty": {"warmup": 100, "memory": 200},
    "discord": {"warmup": 50, "memory": 200, "window": 8, "segments": 4},
    "ensemble": {"member_options": {"novelty": {"warmup": 100, "memory": 200}}},
    "seasonal": {"period": 3600.0, "bins": 4, "warmup": 5},
}


def metric_detector_types():
    return sorted(t for t, c in registry.all_of("detector").items() if issubclass(c, MetricDetector))


def make(typ, **kw):
    return registry.create("detector", f"{typ}/t", {**FAST.get(typ, {}), **kw})


def stream(n=300, seed=0):
    """Two series with noise, a spike, a level shift and some NaNs, interleaved."""
    rng = np.random.default_rng(seed)
    a = 10 + rng.standard_normal(n)
    a[n // 2] = 40
    a[2 * n // 3:] += 6
    a[n // 3] = math.nan
    b = 100 + 5 * np.sin(np.arange(n) / 10) + rng.standard_normal(n)
    names = {"a": "gpu.utilization", "b": "http.server.request.duration"}
    return interleave(series_events("node-a", names["a"], a, attrs={"job.name": "j", "gpu.index": 0}),
                      series_events("node-b", names["b"], b, attrs={"job.name": "j", "gpu.index": 0}))


def test_the_family_is_registered():
    types = set(metric_detector_types())
    assert {"baseline", "seasonal", "changepoint", "novelty", "pyod_window", "forecast", "ensemble",
            "gpu_memory_leak", "gpu_stall", "gpu_health", "straggler", "slo_burn", "error_burst",
            "gpu_spend"} <= types


@pytest.mark.parametrize("typ", metric_detector_types())
def test_scores_are_causal(typ):
    """Scoring a prefix gives the same scores as the prefix of the full run."""
    evs = stream()
    full = make(typ).run(evs)
    for cut in (97, 201):
        part = make(typ).run(evs[:cut])
        np.testing.assert_allclose(part.scores, full.scores[:cut], rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(part.flags, full.flags[:cut])
    # and a batch split anywhere gives the same stream as one batch
    d = make(typ)
    s1 = d.run(evs[:150]).scores
    s2 = d.run(evs[150:]).scores
    np.testing.assert_allclose(np.r_[s1, s2], full.scores, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("typ", metric_detector_types())
def test_bad_input_does_not_crash_and_scores_stay_finite(typ):
    d = make(typ)
    evs = stream(200)
    d.run(evs)
    odd = [ev("node-a", "gpu.utilization", 1e9, math.nan), ev("node-a", "gpu.utilization", 1e9 + 60, None),
           ev("node-a", "gpu.utilization", 0.0, 11.0),              # far out of order
           ev("node-a", "gpu.utilization", 1e9 + 120, math.inf),
           ev("node-c", "gpu.utilization", 1e9, 5.0)]               # unseen series
    r = d.run(odd)
    assert np.all(np.isfinite(r.scores)) and r.scores[0] == 0 and r.scores[1] == 0
    flat = make(typ).run(series_events("node-z", "gpu.utilization", [3.0] * 150))
    assert np.all(np.isfinite(flat.scores)) and not flat.flags.any()
    assert make(typ).process([]) == []


@pytest.mark.parametrize("typ", metric_detector_types())
def test_snapshot_restore_per_entity_and_whole(typ):
    evs = stream(240)
    a = make(typ)
    a.run(evs[:300])
    b, c = make(typ), make(typ)
    b.restore(a.snapshot())
    for e in a.entities():
        c.restore(a.snapshot(e), e)
    rest = evs[300:]
    ra = a.run(rest).scores
    np.testing.assert_allclose(b.run(rest).scores, ra, rtol=1e-6, atol=1e-9)
    if typ != "forecast":       # the forecaster's pre-training pool is only in whole snapshots
        np.testing.assert_allclose(c.run(rest).scores, ra, rtol=1e-6, atol=1e-9)
    blob = bytearray(a.snapshot())
    blob[-1] ^= 0x55
    with pytest.raises(SnapshotError):
        make(typ).restore(bytes(blob))


def spike_and_shift(seed):
    rng = np.random.default_rng(seed)
    v = 10 + rng.standard_normal(3000)
    v[2000] = 30.0                                   # a spike
    v[2500:] += 15.0                                  # a new level
    return v


def test_novelty_flags_new_values_once_and_adapts():
    d = registry.create("detector", "novelty/t", {})
    r = d.run(series_events("n", "m", spike_and_shift(5)))
    idx = set(np.flatnonzero(r.flags))
    assert {2000, 2500} <= idx
    assert not idx & set(range(2001, 2500)) and not idx & set(range(2501, 3000))  # reported once, then learned
    assert len(idx) <= 10                            # new extremes of the noise early on are novel too
    f = d.process([ev("n", "m", 1e6, 60.0)])[0]
    assert f.evidence["nearest_seen"] >= 24 and f.evidence["range"][1] >= 24 and f.evidence["value"] == 60.0


def test_discord_flags_a_shape_change_of_values_already_seen_and_novelty_does_not():
    rng = np.random.default_rng(3)
    t = np.arange(4000)
    v = np.sin(2 * np.pi * t / 144) + 0.02 * rng.standard_normal(len(t))
    v[3000:3144] = np.sin(2 * np.pi * t[3000:3144] / 36)     # one "day" four times as fast, same values
    shape = registry.create("detector", "discord/t", {}).run(series_events("s", "m", v))
    value = registry.create("detector", "novelty/t", {}).run(series_events("s", "m", v))
    flagged = np.flatnonzero(shape.flags[1000:]) + 1000      # once a few periods are known
    assert len(flagged) and all(3000 <= i < 3144 + 64 for i in flagged)
    assert not value.flags[2900:3300].any()


def test_discord_scale_leaves_out_the_shapes_that_overlap_the_current_one():
    # a square "day" (low, then high) whose high half comes one day at a lower level: the shape
    # change grows as the window slides into it; the distances of those overlapping shapes must not
    # raise the normal scale it is measured against (the excursion cannot normalise itself)
    rng = np.random.default_rng(4)
    t = np.arange(3000)
    v = np.where(t % 144 < 72, 20.0, 80.0) + 3.0 * rng.standard_normal(len(t))
    day = slice(144 * 17 + 72, 144 * 18)
    v[day] -= 30.0
    r = registry.create("detector", "discord/t", {}).run(series_events("s", "m", v))
    flagged = np.flatnonzero(r.flags[1000:]) + 1000
    assert len(flagged) and all(day.start <= i < day.stop + 64 for i in flagged)


def test_changepoint_flags_a_shift_not_a_spike():
    rng = np.random.default_rng(6)
    v = 5 + rng.standard_normal(800)
    v[300] = 30.0
    v[600:] += 2.5
    d = make("changepoint")
    r = d.run(series_events("n", "m", v))
    idx = np.flatnonzero(r.flags)
    assert len(idx) == 1 and 600 <= idx[0] <= 620
    assert d.stats()[("n", "m")]["changes"] == 1


def test_seasonal_compares_with_the_same_phase():
    t = np.arange(48 * 60)                           # two days of minutes, hourly phases
    v = 100 + 50 * ((t // 60) % 24 >= 12) + np.random.default_rng(7).standard_normal(len(t))
    v = v.copy()
    v[47 * 60 + 30] = 100.0                          # a night value in the afternoon
    d = make("seasonal", period=86400.0, bins=24, warmup=20)
    r = d.run(series_events("n", "m", v))
    assert list(np.flatnonzero(r.flags)) == [47 * 60 + 30]
    # a plain baseline cries wolf at the daily switch instead
    assert make("baseline").run(series_events("n", "m", v)).flags[12 * 60:12 * 60 + 10].all()


@pytest.mark.parametrize("model", ["knn", "lof"])
def test_pyod_window_model(model):
    rng = np.random.default_rng(8)
    v = np.sin(np.arange(400) / 5) + 0.05 * rng.standard_normal(400)
    v[350] = 4.0
    d = make("pyod_window", model=model)
    r = d.run(series_events("n", "m", v))
    assert r.flags[350] and set(np.flatnonzero(r.flags)) <= {350, 351, 352, 353}   # windows holding the spike
    st = d.stats()[("n", "m")]
    assert st["fits"] >= 5 and st["train"] <= 128 + 64


def test_ensemble_combines_calibrated_members():
    d = registry.create("detector", "ensemble/t", {})
    fs = d.process(series_events("n", "m", spike_and_shift(5)))
    by_t = {int(f.time / STEP): f for f in fs}
    assert 2000 in by_t and 2500 in by_t
    e = by_t[2000].evidence
    assert e["member"].startswith("novelty/") and set(e["members"]) == {"novelty", "changepoint"}
    assert by_t[2000].score == pytest.approx(max(e["members"].values()))
    assert all(f.score >= 1.0 for f in fs)
    with pytest.raises(Exception):
        make("ensemble", members=["ensemble"])
    mean = registry.create("detector", "ensemble/m", {"combine": "mean", "weights": [1.0, 1.0]})
    r = mean.run(series_events("n", "m", spike_and_shift(5)))
    assert r.scores[2000] > 1.0 and r.scores[2000] < by_t[2000].score


def test_novelty_rate_calibration_damps_a_series_that_keeps_flagging():
    """A bursty series whose values keep being new flags less with the flag-rate calibration;
    a quiet series with one spike keeps its full score."""
    burst = np.where(np.random.default_rng(11).random(4000) < 0.03, np.random.default_rng(12).exponential(50, 4000), 0)
    burst = burst + np.random.default_rng(13).standard_normal(4000)
    on = registry.create("detector", "novelty/on", {}).run(series_events("w", "m", burst))
    off = registry.create("detector", "novelty/off", {"rate_target": 0.0}).run(series_events("w", "m", burst))
    assert off.flags.sum() >= 15 and on.flags.sum() <= 0.7 * off.flags.sum()
    quiet = spike_and_shift(5)[:2200]
    a = registry.create("detector", "novelty/a", {}).run(series_events("q", "m", quiet))
    b = registry.create("detector", "novelty/b", {"rate_target": 0.0}).run(series_events("q", "m", quiet))
    assert a.scores[2000] == pytest.approx(b.scores[2000]) and a.flags[2000]
