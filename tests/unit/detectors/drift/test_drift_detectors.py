"""Drift: statistics, corrections, MMD, sequential detection, detector, CLI helpers."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from core.errors import ConfigError
from core.event import Event
from detectors.drift import stats as S
from detectors.drift.mmd import mmd_test
from detectors.drift.stream import SequentialDrift, spend


def test_ks_matches_scipy_asymptotic():
    from scipy import stats
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=400), rng.normal(0.3, 1, size=300)
    d, p = S.ks_2samp(np.sort(a), b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert d == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue, rel=0.3)


def test_corrections():
    p = [0.01, 0.04, 0.03, 0.5]
    h = S.holm(p)
    assert h.tolist() == pytest.approx([0.04, 0.09, 0.09, 0.5])
    bh = S.benjamini_hochberg(p)
    assert bh.tolist() == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5][:1] + [0.0533333, 0.0533333, 0.5], rel=1e-4)
    assert (S.correct(p, "bonferroni") == np.minimum(np.array(p) * 4, 1)).all()
    with pytest.raises(ValueError):
        S.correct(p, "magic")


def test_psi_js_bounds():
    a = np.array([10.0, 10, 10, 10])
    assert S.psi(a, a) == pytest.approx(0) and S.js_distance(a, a) == pytest.approx(0)
    b = np.array([0.0, 0, 0, 40])
    assert S.psi(a, b) > 1 and 0.5 < S.js_distance(a, b) <= 1


def test_feature_report_numeric_categorical_missing_and_types():
    rng = np.random.default_rng(1)
    ref = {"x": rng.normal(size=500).tolist(), "y": rng.normal(size=500).tolist(),
           "c": rng.choice(["a", "b", "c"], 500).tolist(), "gone": [1.0] * 500,
           "t": rng.normal(size=500).tolist()}
    cur = {"x": rng.normal(size=400).tolist(), "y": (rng.normal(size=400) + 0.6).tolist(),
           "c": rng.choice(["a", "b", "c"], 400, p=[0.7, 0.2, 0.1]).tolist(),
           "t": ["oops"] * 200 + [None] * 200}
    rep = S.feature_report(ref, cur, alpha=0.05)
    f = rep["features"]
    assert f["y"]["drift"] and f["y"]["test"] == "ks" and f["y"]["psi"] > 0.1 and "cvm_p_value" in f["y"]
    assert not f["x"]["drift"] and f["x"]["p_adjusted"] >= f["x"]["p_value"]
    assert f["c"]["drift"] and f["c"]["test"] == "chi2" and f["c"]["top_shifts"][0]["category"] == "a"
    assert f["gone"]["status"] == "missing" and f["gone"]["drift"]
    assert f["t"]["status"] == "type_changed" and f["t"]["drift"]  # strings where numbers were
    assert f["t"]["wrong_type_rate_current"] == 0.5
    assert set(rep["drifted_features"]) == {"y", "c", "gone", "t"}


def test_mmd_permutation_test():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    same = mmd_test(X, rng.normal(size=(300, 4)), permutations=100, device="cpu")
    Y = rng.normal(size=(300, 4))
    Y[:, 1] += 0.8
    diff = mmd_test(X, Y, permutations=100, device="cpu")
    assert diff["p_value"] < 0.05 < same["p_value"] and diff["mmd2"] > same["mmd2"]
    rff = mmd_test(X, Y, permutations=100, device="cpu", approx_features=512)
    assert rff["p_value"] < 0.05
    with pytest.raises(ValueError):
        mmd_test(X, np.full((10, 4), np.nan), permutations=10)
    with pytest.raises(ValueError):
        mmd_test(X, rng.normal(size=(10, 3)), permutations=10)


def _stream(seed, n=3000, change=None, shift=0.8, feats=3):
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=(1000, feats))
    s = rng.normal(size=(n, feats))
    if change is not None:
        s[change:, 0] += shift
    return ({f"f{j}": ref[:, j].tolist() for j in range(feats)},
            [{f"f{j}": float(v) for j, v in enumerate(r)} for r in s])


def test_sequential_detects_change_and_locates_it():
    ref, rows = _stream(3, change=1500)
    det = SequentialDrift(ref, window=300, step=50, alpha=0.01)
    alarms = det.update_many(rows)
    assert alarms and alarms[0]["features"] == ["f0"]
    assert 1500 <= alarms[0]["row"] <= 2100
    assert abs(alarms[0]["change_point"] - 1500) <= 100
    assert len(alarms) == 1  # a drifting feature does not alarm again


def test_sequential_no_alarm_without_change_and_spending():
    assert sum(spend(0.05, k) for k in range(1, 100000)) < 0.05
    fa = 0
    for seed in range(5):
        ref, rows = _stream(seed, n=2000)
        fa += bool(SequentialDrift(ref, window=300, step=50, alpha=0.01).update_many(rows))
    assert fa == 0


def test_sequential_state_roundtrip_and_bad_values():
    ref, rows = _stream(4, change=800, n=1600)
    a = SequentialDrift(ref, window=300, step=50)
    a.update_many(rows[:700])
    b = SequentialDrift.from_state(a.to_state())
    rows[750]["f1"] = "garbage"
    rows[760].pop("f2")
    assert a.update_many(rows[700:]) == b.update_many(rows[700:])
    with pytest.raises(ValueError):
        SequentialDrift({"x": [None, None]})


def _ev(i, x, model="fraud", version="7", **extra):
    attrs = {"model.name": model, "model.version": version, "feature.a": x[0], "feature.b": x[1],
             "feature.kind": "p" if x[2] > 0 else "q", "inference.probability": abs(math.tanh(x[1]))}
    attrs.update(extra)
    return Event.create(source="t/t", kind="inference", entity=model, name="inference.request",
                        time=1000.0 + i, attributes=attrs, raw=f"{model}:{i}")


def test_drift_detector_finding_report_and_snapshot():
    from core.registry import create
    det = create("detector", "drift/test", {"reference_size": 400, "window": 300, "step": 50,
                                            "mmd_permutations": 50})
    rng = np.random.default_rng(7)
    evs = []
    for i in range(2000):
        x = rng.normal(size=3)
        if i >= 1200:
            x[0] += 1.0
        evs.append(_ev(i, x.tolist()))
    assert det.process(evs[:1000]) == []
    blob = det.snapshot()
    fs = det.process(evs[1000:])
    assert len(fs) == 1
    f = fs[0]
    ev = f.evidence
    assert ev["model"] == {"name": "fraud", "version": "7"} and f.rule == "drift"
    assert list(ev["features"]) == ["a"]
    fa = ev["features"]["a"]
    for k in ("statistic", "p_value", "p_adjusted", "psi", "js"):
        assert k in fa
    assert 1150 - 400 <= ev["change_point"]["index"] + 400 <= 1300  # index counts monitored events
    assert ev["change_point"]["time"] is not None
    assert ev["multivariate"]["test"] == "mmd"
    assert f.score >= f.threshold
    # restore the pre-change snapshot: replay gives the same finding
    det2 = create("detector", "drift/test", {"reference_size": 400, "window": 300, "step": 50,
                                             "mmd_permutations": 50})
    det2.restore(blob)
    fs2 = det2.process(evs[1000:])
    assert [x.id for x in fs2] == [f.id]
    one = det.snapshot("fraud")
    det3 = create("detector", "drift/x", {"reference_size": 400})
    det3.restore(one, "fraud")
    assert det3.entities() == ["fraud"]
    rep = det.report("fraud")
    assert rep["features"]["a"]["drift"]


def test_drift_detector_bad_inputs_and_config():
    from core.registry import create
    det = create("detector", "drift/bad", {"reference_size": 50, "window": 40, "step": 10, "mmd": False})
    rng = np.random.default_rng(0)
    evs = [_ev(i, rng.normal(size=3).tolist()) for i in range(60)]
    evs += [Event.create(source="t/t", kind="inference", entity="fraud", name="inference.request", time=2000.0 + i,
                         attributes={"feature.a": [1, 2], "feature.b": {"x": 1}, "feature.kind": None},
                         raw=f"bad{i}") for i in range(60)]
    evs += [Event.create(source="t/t", kind="inference", entity="empty", name="inference.request", time=1.0,
                         attributes={}, raw=f"e{i}") for i in range(60)]
    det.process(evs)  # no crash; missing / wrong-typed values count as missing
    for bad in ({"alpha": 1.5}, {"window": 5}, {"step": 0}, {"correction": "x"}, {"unknown": 1}):
        with pytest.raises(ConfigError):
            create("detector", "drift/x", bad)


def _write(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_cli_check_and_stream(tmp_path):
    from detectors.drift import cli_support
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(1500, 3))
    cur = rng.normal(size=(600, 3))
    cur[:, 2] += 0.7
    cats = lambda n, p=None: rng.choice(["x", "y"], n, p=p)  # noqa: E731
    _write(tmp_path / "ref.csv", ["a", "b", "c", "k"], [list(r) + [k] for r, k in zip(ref, cats(1500))])
    _write(tmp_path / "cur.csv", ["a", "b", "c", "k"],
           [list(r) + [k] for r, k in zip(cur, cats(600))] + [["", "NA", "1.0", "x"]])
    rep = cli_support.check(tmp_path / "ref.csv", tmp_path / "cur.csv", mmd_permutations=50)
    assert rep["drift"] and rep["drifted_features"] == ["c"]
    assert rep["features"]["a"]["missing_rate_current"] > 0
    assert rep["multivariate"]["p_value"] < 0.05
    s = rng.normal(size=(3000, 3))
    s[2000:, 1] += 0.8
    _write(tmp_path / "stream.csv", ["a", "b", "c", "k"], [list(r) + [k] for r, k in zip(s, cats(3000))])
    st = cli_support.stream(tmp_path / "ref.csv", tmp_path / "stream.csv", window=300, step=50)
    assert st["rows"] == 3000 and len(st["alarms"]) == 1
    al = st["alarms"][0]
    assert al["features"] == ["b"] and 2000 <= al["row"] <= 2700 and abs(al["change_point"] - 2000) < 150
    with pytest.raises(FileNotFoundError):
        cli_support.check(tmp_path / "nope.csv", tmp_path / "cur.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError):
        cli_support.check(tmp_path / "empty.csv", tmp_path / "cur.csv")


def test_output_drift():
    from detectors.drift.text import output_drift
    ref = [{"inference.prediction": "a" if i % 2 else "b", "inference.probability": 0.5 + (i % 10) / 30}
           for i in range(400)]
    cur = [{"inference.prediction": "a", "inference.probability": 0.95} for _ in range(200)]
    rep = output_drift(ref, cur)
    assert rep["features"]["output:prediction"]["drift"] and rep["features"]["output:probability"]["drift"]


def test_text_drift_on_prompt_embeddings():
    from detectors.drift.text import text_drift
    topics_a = ["How do I bake {} bread?", "What is a good recipe for {} soup?", "How long to roast {}?"]
    topics_b = ["Write a Python function to sort {} items", "Explain the {} algorithm complexity",
                "How do I fix a segfault in {} code?"]
    words = ["apple", "pumpkin", "garlic", "carrot", "onion", "tomato", "potato", "mushroom", "lentil", "corn",
             "rice", "bean", "pepper", "leek", "pea", "squash", "kale", "beet", "chickpea", "barley"]
    ref = [t.format(w) for t in topics_a for w in words]
    same = [t.format(w) for t in topics_a for w in reversed(words)]
    shifted = [t.format(w) for t in topics_b for w in words]
    a = text_drift(ref, shifted, permutations=100)
    assert a["drift"] and a["mmd"]["p_value"] < 0.05 and a["embedding_model"] == "all-MiniLM-L6-v2"
    b = text_drift(ref, same, permutations=100)
    assert b["mmd"]["p_value"] > a["mmd"]["p_value"]
    assert a["centroid_cosine_distance"] > b["centroid_cosine_distance"]
    with pytest.raises(ValueError):
        text_drift(["a"], ["b"])


def test_drift_detector_text_mode_flags_topic_change():
    from core.registry import create
    det = create("detector", "drift/text", {"reference_size": 60, "window": 40, "step": 10, "text": True,
                                            "text_components": 4, "outputs": False, "mmd": False,
                                            "min_samples": 20})
    words = ["apple", "pumpkin", "garlic", "carrot", "onion", "tomato", "potato", "mushroom", "lentil", "corn"]
    food = [f"How do I cook {w} for dinner number {i}?" for i in range(12) for w in words][:100]
    code = [f"Write a Rust function that parses {w} records, case {i}" for i in range(12) for w in words][:100]

    def ev(i, p):
        return Event.create(source="t/t", kind="inference", entity="chat", name="gen_ai.chat", time=float(i),
                            attributes={"gen_ai.prompt": p, "model.name": "chat"}, raw=f"p{i}")

    fs = det.process([ev(i, p) for i, p in enumerate(food)])
    assert fs == []
    fs = det.process([ev(100 + i, p) for i, p in enumerate(code)])
    assert fs and any(k.startswith("text.pc") for k in fs[0].evidence["features"])
    assert fs[0].evidence["text_drift"]["embedding_model"] == "all-MiniLM-L6-v2"
    blob = det.snapshot()
    det2 = create("detector", "drift/text", {"reference_size": 60, "text": True, "text_components": 4})
    det2.restore(blob)
    assert det2._eps[("chat", "")].projector is not None


def test_each_model_version_gets_its_own_reference():
    from core.registry import create
    det = create("detector", "drift/ver", {"reference_size": 300, "mmd": False})
    rng = np.random.default_rng(3)
    old = [_ev(i, rng.normal(size=3).tolist(), version="7") for i in range(1200)]
    # release 8 answers differently (its inputs shift too): a new reference, not drift of release 7
    new = [_ev(1200 + i, (rng.normal(size=3) + [2.0, 0, 0]).tolist(), version="8") for i in range(1200)]
    assert det.process(old) == [] and det.process(new) == []
    assert det.is_warm(new[-1]) and det.report("fraud")["model"] == {"name": "fraud", "version": "8"}
    # the old version drifting is still drift, measured against its own reference
    late = [_ev(2400 + i, (rng.normal(size=3) + [2.0, 0, 0]).tolist(), version="7") for i in range(300)]
    fs = det.process(late)
    assert len(fs) == 1 and fs[0].evidence["model"]["version"] == "7" and "a" in fs[0].evidence["features"]
    again = create("detector", "drift/ver2", {"reference_size": 300, "mmd": False})
    again.restore(det.snapshot("fraud"), "fraud")
    assert again.entities() == ["fraud"] and again.report("fraud")["model"]["version"] == "7"
    # a version-1 snapshot (one reference per endpoint) restores under the version it last saw
    from core import snapshot
    v1 = snapshot.pack("drift", 1, {"entities": {"fraud": det._eps[("fraud", "8")].to_state()}})
    old_style = create("detector", "drift/ver3", {"reference_size": 300, "mmd": False})
    old_style.restore(v1)
    assert old_style.is_warm(new[0]) and not old_style.is_warm(old[0])
