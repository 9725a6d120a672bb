"""Rank CUSUM (detectors.drift.cusum) and its use in the sequential drift test and the detector."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.drift.cusum import RankCusum, siegmund_arl, threshold_for_arl
from detectors.drift.stream import SequentialDrift


def test_threshold_reaches_the_requested_run_length():
    hs = [threshold_for_arl(a) for a in (1e3, 1e5, 1e7)]
    assert hs[0] < hs[1] < hs[2]
    for a, h in zip((1e3, 1e5, 1e7), hs):
        assert siegmund_arl(h) == pytest.approx(a, rel=1e-6)


def test_percentile_is_a_mid_rank_in_the_reference():
    c = RankCusum(np.array([1.0, 2.0, 2.0, 3.0]), arl=1e4)
    assert [c.percentile(x) for x in (0.0, 2.0, 5.0)] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("change,kind,direction", [
    (lambda x: x + 0.6, "location", "up"),
    (lambda x: x - 0.6, "location", "down"),
    (lambda x: x * 2.5, "spread", "wider"),
    (lambda x: x * 0.3, "spread", "narrower"),
])
def test_each_kind_of_shift_alarms_soon_after_it_and_never_before(change, kind, direction):
    rng = np.random.default_rng(11)
    c = RankCusum(np.sort(rng.normal(size=2000)), arl=1e6)
    x = rng.normal(size=3000)
    x[2000:] = change(x[2000:])
    alarms = [(i, a) for i, v in enumerate(x) if (a := c.update(float(v), i)) is not None]
    assert alarms and alarms[0][0] >= 2000
    i, a = alarms[0]
    assert i - 2000 <= 300 and (a["kind"], a["direction"]) == (kind, direction)
    assert abs(a["change_point"] - 2000) <= 60


def test_sequential_cusum_alarm_carries_the_change_point_and_the_state_survives():
    rng = np.random.default_rng(5)
    ref = {f"f{j}": rng.normal(size=1000).tolist() for j in range(3)}
    rows = [{f"f{j}": float(v) for j, v in enumerate(r)} for r in rng.normal(size=(2500, 3))]
    for r in rows[1500:]:
        r["f1"] += 0.6
    a = SequentialDrift(ref, window=500, step=50, alpha=0.01)
    a.update_many(rows[:1400])
    b = SequentialDrift.from_state(a.to_state())
    got = a.update_many(rows[1400:])
    assert got == b.update_many(rows[1400:])
    first = got[0]
    assert first["features"] == ["f1"] and first["results"]["f1"]["test"] == "rank-cusum"
    assert 1500 <= first["row"] <= 1700 and abs(first["change_point"] - 1500) <= 60
    assert first["results"]["f1"]["p_adjusted"] <= first["level"]
    off = SequentialDrift(ref, window=500, step=50, alpha=0.01, cusum_arl=0)
    assert off.cusums == {} and all(x["results"]["f1"]["test"] == "ks" for x in off.update_many(rows))


def test_a_version_1_state_loads_without_cusums():
    rng = np.random.default_rng(1)
    st = SequentialDrift({"a": rng.normal(size=100).tolist()}).to_state()
    st["v"] = 1
    del st["cusum_arl"], st["cusums"]
    assert SequentialDrift.from_state(st).cusums == {}


def test_calendar_features_are_left_out_by_default():
    from core.event import Event
    from core.registry import create
    det = create("detector", "drift/cal", {})
    ev = Event.create(source="t/t", kind="inference", entity="m", name="inference.request", time=1.0,
                      attributes={"feature.hour": 3, "feature.amount": 12.5}, raw="x")
    assert set(det.row_of(ev)) >= {"amount"} and "hour" not in det.row_of(ev)
    assert "hour" in create("detector", "drift/all", {"exclude": []}).row_of(ev)


def test_the_scenario_feature_drift_is_found_once_on_its_endpoint_in_time():
    scenario = pytest.importorskip("collectors.scenario")
    from agent.config import DEFAULT_DETECTORS
    from core.registry import create
    from collectors.formats import parse_record
    g = next(x for x in scenario.ground_truth() if x["id"] == "feature-drift")
    events = [e for fmt, rec in scenario.iter_records() if fmt == g["format"]
              for e in parse_record(rec, fmt, "scenario/test")]
    det = create("detector", "drift/scenario", DEFAULT_DETECTORS["drift/default"])
    found = det.process([e for e in events if det.accepts(e)])
    hits = [f for f in found if f.entity == g["entity"]]
    assert len(hits) == 1 and g["feature"] in hits[0].evidence["drifting_features"]
    assert g["start"] <= hits[0].time <= g["start"] + 30 * 60
    assert hits[0].evidence["model"]["name"] == g["entity"]
    # the only other drift is the one the prompt-injection incident causes on llm-chat
    pi = next(x for x in scenario.ground_truth() if x["id"] == "prompt-injection")
    assert all(f.entity == pi["also"][0]["entity"] and pi["start"] <= f.time <= pi["end"]
               for f in found if f.entity != g["entity"])
