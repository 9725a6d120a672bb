"""Model-extraction detector: PRADA, rate, coverage, abuse; bad input; snapshot / restore."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from core.event import Event
from core.registry import create


def _ev(i, client, x=None, t=None, endpoint="fraud", prompt=None, name="inference.request", **extra):
    attrs = {"model.name": endpoint, "client.id": client}
    if x is not None:
        attrs.update({f"feature.f{j}": float(v) for j, v in enumerate(x)})
    if prompt is not None:
        attrs["gen_ai.prompt"] = prompt
    attrs.update(extra)
    return Event.create(source="t/t", kind="inference", entity=endpoint, name=name,
                        time=float(i if t is None else t), attributes=attrs, raw=f"{client}:{i}:{name}")


def _traffic(seed=0, attacker=True):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, 6)) * 3
    seeds = rng.normal(size=(15, 6)) * 3
    att = []
    for s in seeds:  # JBDA-style: seed samples and small steps from them
        x = s.copy()
        att.append(x.copy())
        for _ in range(12):
            x = x + 0.1 * np.sign(rng.normal(size=6))
            att.append(x.copy())
    evs, ai = [], 0
    for i in range(1600):
        evs.append(_ev(i, f"benign{i % 6}", centers[rng.integers(5)] + rng.normal(size=6), t=i * 0.5))
        if attacker and i >= 600 and ai < len(att):
            evs.append(_ev(10_000 + ai, "attacker", att[ai], t=i * 0.5))
            ai += 1
    return evs


def test_prada_flags_synthetic_queries_not_benign_clients():
    det = create("detector", "extraction/t", {})
    fs = det.process(_traffic())
    prada = [f for f in fs if f.rule == "prada"]
    assert [f.entity for f in prada] == ["attacker"]
    f = prada[0]
    assert f.evidence["shapiro_w"] < 0.8 and f.evidence["endpoint"] == "fraud"
    assert f.evidence["model"]["name"] == "fraud" and f.score == pytest.approx(1 - f.evidence["shapiro_w"])
    clean = create("detector", "extraction/c", {})
    assert [f for f in clean.process(_traffic(attacker=False)) if f.rule == "prada"] == []
    # benign clients' W stays high
    ep = clean._eps["fraud"]
    assert min(c.last["prada_w"] for c in ep.clients.values()) > 0.8


def test_rate_signal():
    det = create("detector", "extraction/r", {"max_rate": 100, "rate_window_s": 10.0})
    evs = [_ev(i, "fast", [i % 7, 1.0], t=1000 + i * 0.05) for i in range(300)]
    fs = [f for f in det.process(evs) if f.rule == "rate"]
    assert len(fs) == 1 and fs[0].entity == "fast" and fs[0].evidence["queries_in_window"] > 100


def test_coverage_signal_for_out_of_distribution_sweep():
    det = create("detector", "extraction/cov", {"min_queries": 50})
    rng = np.random.default_rng(1)
    evs = [_ev(i, f"b{i % 4}", rng.normal(size=4), t=i) for i in range(800)]
    evs += [_ev(5000 + i, "sweeper", rng.uniform(-12, 12, size=4), t=800 + i) for i in range(200)]
    fs = [f for f in det.process(evs) if f.rule == "coverage"]
    assert [f.entity for f in fs] == ["sweeper"] and fs[0].evidence["out_of_range_share"] > 0.2


def test_abuse_rate_per_key():
    det = create("detector", "extraction/a", {"abuse_min": 5, "abuse_rate": 0.3})
    evs = []
    for i in range(40):
        evs.append(_ev(i, "k1", [1.0, 2.0], t=i))
        if i % 2 == 0:
            evs.append(_ev(i, "k1", t=i, name="guard.decision", **{"guard.decision": "deny"}))
        evs.append(_ev(i, "k2", [1.0, 2.0], t=i, **({"http.response.status_code": 500} if i == 3 else {})))
    fs = [f for f in det.process(evs) if f.rule == "abuse"]
    assert [f.entity for f in fs] == ["k1"]


def test_text_endpoint_and_bad_inputs_do_not_crash():
    det = create("detector", "extraction/x", {"min_queries": 20, "check_every": 5})
    evs = [_ev(i, "u1", endpoint="chat", prompt=f"what is the weather in city {i}") for i in range(40)]
    evs += [_ev(100 + i, "u2", endpoint="chat", prompt="translate: " + "x" * (i % 3)) for i in range(40)]
    evs += [Event.create(source="t/t", kind="inference", entity="fraud", name="inference.request", time=1.0,
                         attributes={"feature.f0": "str", "feature.f1": None, "client.id": "c"}, raw=f"w{i}")
            for i in range(5)]
    evs += [_ev(200 + i, "c", [np.nan, 1e308], endpoint="fraud2") for i in range(5)]
    evs += [Event.create(source="t/t", kind="inference", entity="anon", name="inference.request", time=1.0,
                         attributes={"feature.f0": 1.0}, raw=f"anon{i}") for i in range(5)]
    det.process(evs)
    assert "anon" not in det.entities()  # unattributable traffic is skipped
    assert det.score_many(evs[:2]).shape == (2,)


def test_snapshot_restore_replays_identically():
    evs = _traffic(seed=3)
    a = create("detector", "extraction/s", {})
    a.process(evs[:700])
    blob = a.snapshot()
    b = create("detector", "extraction/s", {})
    b.restore(blob)
    fa = a.process(evs[700:])
    fb = b.process(evs[700:])
    assert [f.id for f in fa] == [f.id for f in fb] and fa
    one = a.snapshot("fraud")
    c = create("detector", "extraction/s2", {})
    c.restore(one, "fraud")
    assert c.entities() == ["fraud"]
    with pytest.raises(ValueError):
        c.restore(blob[:-3])


def test_config_validation():
    for bad in ({"prada_threshold": 1.5}, {"min_queries": 600, "max_distances": 500}, {"abuse_rate": 0},
                {"severity": "huge"}, {"history": 1}):
        with pytest.raises(ConfigError):
            create("detector", "extraction/bad", bad)


def test_abuse_tracked_per_api_key_across_clients():
    det = create("detector", "extraction/ak", {"abuse_min": 6, "abuse_rate": 0.3})
    evs = []
    for i in range(30):
        cl = f"c{i % 3}"  # three clients share one key; each alone stays under abuse_min
        evs.append(_ev(i, cl, [1.0, float(i)], t=i, **{"api_key.id": "k-shared"}))
        if i % 2 == 0:
            evs.append(_ev(i, cl, t=i, name="guard.decision", **{"guard.decision": "deny", "api_key.id": "k-shared"}))
    fs = [f for f in det.process(evs) if f.rule == "abuse"]
    assert [f.entity for f in fs] == ["k-shared"]
    b = create("detector", "extraction/ak2", {})
    b.restore(det.snapshot())
    assert "k-shared" in b._eps["fraud"].keys
