"""AI-platform detectors on synthetic GPU-cluster / serving scenarios (60 s samples)."""
import numpy as np
import pytest

from core import registry
from core.names import (GPU_MEMORY_USED, GPU_TEMPERATURE, GPU_UTILIZATION, GPU_XID_ERRORS,
                         HTTP_SERVER_DURATION, HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS,
                         TRAIN_STEP_DURATION)
from metric_streams import DAY, STEP, ev, interleave, seasonal, series_events

GB = 1e9


def det(typ, **kw):
    return registry.create("detector", f"{typ}/test", kw)


def first_flag_minute(findings, start):
    ts = [f.time for f in findings if f.time >= start * STEP]
    return (min(ts) / STEP - start) if ts else None


# --- GPU memory leak -------------------------------------------------------------------------
def test_gpu_leak_flags_a_slow_leak_and_not_seasonal_noise():
    rng = np.random.default_rng(0)
    n = DAY
    normal = seasonal(n, 30 * GB, 0.15, 0.02, rng)
    leak = normal.copy()
    start = n - 120
    leak[start:] += np.linspace(0, 30 * GB, 120)      # +30 GB over two hours (0.25 GB/min)
    attrs = {"gpu.index": 0, "gpu.memory.total": 80 * GB}
    d = det("gpu_memory_leak")
    assert d.process(series_events("node-1", GPU_MEMORY_USED, normal, attrs=attrs)) == []
    d = det("gpu_memory_leak")
    found = d.process(series_events("node-1", GPU_MEMORY_USED, leak, attrs=attrs))
    assert found and all(f.time >= start * STEP for f in found)
    assert first_flag_minute(found, start) <= 60
    e = found[0].evidence
    assert e["metric"] == GPU_MEMORY_USED and e["slope_per_hour"] > 2 * GB
    assert e["capacity"] == 80 * GB and 0 < e["hours_to_full"] < 24
    assert e["mann_kendall_z"] >= 4 and e["baseline"] < e["value"]
    assert found[0].severity == "high" and found[0].rule == GPU_MEMORY_USED


def test_gpu_leak_needs_a_material_rise():
    rng = np.random.default_rng(1)
    # a statistically clear but tiny trend: +0.5% over the window
    v = 40 * GB + np.linspace(0, 0.2 * GB, 300) + 0.01 * GB * rng.standard_normal(300)
    assert det("gpu_memory_leak").process(series_events("n", GPU_MEMORY_USED, v)) == []


# --- utilisation collapse ---------------------------------------------------------------------
def test_gpu_stall_flags_a_collapse_of_a_busy_gpu_only():
    rng = np.random.default_rng(2)
    busy = np.clip(0.9 + 0.03 * rng.standard_normal(100), 0, 1)
    v = np.r_[busy, np.full(10, 0.02), busy[:20]]
    d = det("gpu_stall")
    found = d.process(series_events("node-2", GPU_UTILIZATION, v, attrs={"gpu.index": 3}))
    mins = [int(f.time / STEP) for f in found]
    assert mins[0] == 104 and max(mins) == 109          # 5th collapsed sample on, until recovery
    e = found[0].evidence
    assert e["stalled_points"] == 5 and e["baseline"] > 0.8 and e["drop"] > 0.9
    idle = np.r_[np.full(100, 0.05), np.full(10, 0.0)]
    assert det("gpu_stall").process(series_events("n", GPU_UTILIZATION, idle)) == []
    pct = np.r_[busy * 100, np.full(10, 2.0)]            # percentages work the same
    assert len(det("gpu_stall").process(series_events("n", GPU_UTILIZATION, pct))) == 6


# --- thermal and XID ------------------------------------------------------------------------
def test_gpu_health_thermal_and_xid_bursts():
    temps = [70.0] * 30 + [88.0] * 4 + [70.0] * 5
    d = det("gpu_health")
    found = d.process(series_events("node-3", GPU_TEMPERATURE, temps))
    assert [int(f.time / STEP) for f in found] == [32, 33]
    assert found[0].evidence["rule"] == "thermal" and found[0].evidence["hot_points"] == 3

    xids = [0.0] * 20 + [1.0, 1.0, 1.0] + [0.0] * 20
    found = det("gpu_health").process(series_events("node-3", GPU_XID_ERRORS, xids))
    assert [int(f.time / STEP) for f in found] == [22]
    assert found[0].evidence["errors_in_window"] == 3 and found[0].rule == "xid"

    crit = [ev("node-4", GPU_XID_ERRORS, 60.0 * i, 1.0 if i == 5 else 0.0,
               {"gpu.xid.code": 79} if i == 5 else {}) for i in range(10)]
    found = det("gpu_health").process(crit)
    assert len(found) == 1 and found[0].severity == "critical" and found[0].evidence["xid_code"] == 79


# --- straggler ------------------------------------------------------------------------------
def test_straggler_is_judged_against_peers_of_the_same_job():
    rng = np.random.default_rng(3)
    streams = []
    for k in range(8):
        v = 1.0 + 0.05 * rng.standard_normal(60)
        if k == 3:
            v[40:] *= 2.0                                # node-3 becomes 2x slower
        streams.append(series_events(f"node-{k}", TRAIN_STEP_DURATION, v, attrs={"job.name": "llm-a"}))
    # a different job with slower steps must not count as peers
    streams.append(series_events("node-9", TRAIN_STEP_DURATION, np.full(60, 5.0), attrs={"job.name": "llm-b"}))
    streams.append(series_events("node-10", TRAIN_STEP_DURATION, np.full(60, 5.1), attrs={"job.name": "llm-b"}))
    streams.append(series_events("node-11", TRAIN_STEP_DURATION, np.full(60, 4.9), attrs={"job.name": "llm-b"}))
    found = det("straggler").process(interleave(*streams))
    assert found and {f.entity for f in found} == {"node-3"}
    assert min(f.time for f in found) / STEP <= 43
    e = found[0].evidence
    assert e["job"] == "llm-a" and e["peers"] == 7 and 1.5 <= e["ratio"] and abs(e["baseline"] - 1.0) < 0.1


def test_straggler_needs_peers():
    a = series_events("node-0", TRAIN_STEP_DURATION, [1.0] * 20, attrs={"job.name": "j"})
    b = series_events("node-1", TRAIN_STEP_DURATION, [3.0] * 20, attrs={"job.name": "j"})
    assert det("straggler").process(interleave(a, b)) == []   # one peer is not a majority


# --- SLO burn -------------------------------------------------------------------------------
def test_latency_slo_burn_pages_on_a_3x_regression_and_not_on_noise():
    rng = np.random.default_rng(4)
    n = 2 * DAY
    lat = seasonal(n, 0.2, 0.2, 0.1, rng, lognormal=True)
    d = det("slo_burn", latency_threshold=0.5)
    assert d.process(series_events("ep-chat", HTTP_SERVER_DURATION, lat)) == []
    start = n - 60
    lat = lat.copy()
    lat[start:] *= 3.0
    found = det("slo_burn", latency_threshold=0.5).process(series_events("ep-chat", HTTP_SERVER_DURATION, lat))
    assert found and all(f.time >= start * STEP for f in found)
    assert first_flag_minute(found, start) <= 15
    e = found[0].evidence
    assert e["sli"] == "latency" and found[0].severity == "critical"
    assert e["window"]["long_s"] == 3600 and e["window"]["burn_long"] >= 14.4


def test_error_rate_slo_burn():
    t = [60.0 * i for i in range(300)]
    req = [ev("ep", HTTP_SERVER_REQUESTS, x, 1000.0) for x in t]
    errs = [ev("ep", HTTP_SERVER_ERRORS, x, 1.0 if i < 240 else 250.0) for i, x in enumerate(t)]
    found = det("error_burst").process(interleave(req, errs))
    assert found and min(f.time for f in found) >= 240 * 60.0
    assert min(f.time for f in found) <= 245 * 60.0          # 25% errors: within five minutes
    assert found[0].evidence["sli"] == "errors" and found[0].rule == "slo_burn:errors"
    assert found[0].severity == "critical"
    both = det("slo_burn", metrics=[HTTP_SERVER_DURATION, HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS])
    assert both.process(interleave(req, errs))                # the 30-day SLO burns too


# --- GPU spend ------------------------------------------------------------------------------
def gpu_fleet(gpus: int, hours: float):
    out = []
    for g in range(gpus):
        out.append(series_events(f"node-{g // 8}", GPU_UTILIZATION, np.full(int(hours * 60), 0.8),
                                 attrs={"gpu.index": g % 8, "k8s.namespace.name": "team-a" if g < 4 else "team-b"}))
    return interleave(*out)


def test_gpu_spend_against_budget():
    assert det("gpu_spend").process(gpu_fleet(8, 7)) == []                  # 8 x 2.5 x 24 = 480/day
    found = det("gpu_spend").process(gpu_fleet(24, 7))                       # 1440/day
    assert found and {f.entity for f in found} == {"gpu-fleet"}
    e = found[-1].evidence
    assert abs(e["projected_daily_spend"] - 1440) < 30 and e["baseline"] == 1000
    by_team = det("gpu_spend", group_by="k8s.namespace.name", budget_per_day=500.0).process(gpu_fleet(24, 7))
    assert {f.entity for f in by_team} == {"team-b"}                        # 20 GPUs = 1200/day


@pytest.mark.parametrize("typ", ["gpu_memory_leak", "gpu_stall", "gpu_health", "straggler", "slo_burn", "error_burst", "gpu_spend"])
def test_platform_detectors_snapshot_roundtrip(typ):
    evs = interleave(gpu_fleet(4, 1), series_events("node-0", TRAIN_STEP_DURATION, [1.0] * 60, attrs={"job.name": "j"}),
                     series_events("ep", HTTP_SERVER_DURATION, [0.1] * 60),
                     series_events("node-0", GPU_MEMORY_USED, np.linspace(1, 2, 60) * GB),
                     series_events("node-0", GPU_TEMPERATURE, [60.0] * 60))
    a = det(typ)
    a.process(evs[: len(evs) // 2])
    b = det(typ)
    b.restore(a.snapshot())
    rest = evs[len(evs) // 2:]
    np.testing.assert_array_equal(a.score_many(rest), b.score_many(rest))
    assert [f.id for f in a.process(rest)] == [f.id for f in b.process(rest)]
    for e in list(a.entities()):
        c = det(typ)
        c.restore(a.snapshot(e), e)
        assert list(c.entities()) == [e]
