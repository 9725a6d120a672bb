"""The NAB scorer on small hand-computed cases, and the harness on a tiny NAB-layout corpus."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.nab import corpus
from bench.nab.runner import run, to_unit
from bench.nab.scorer import (MAX_TP, Profile, file_score, layout, normalise, probation_length,
                              scaled_sigmoid, score_corpus, sweep)

STD = Profile("standard", tp=1.0, fp=0.11, fn=1.0)
LOW_FN = Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0)


def sig(p):
    return 2 / (1 + math.exp(5 * p)) - 1


def test_scaled_sigmoid_values():
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.0) == -1.0 and scaled_sigmoid(10.0) == -1.0


def test_probation_is_15_percent_capped_at_750():
    assert probation_length(100) == 15
    assert probation_length(4032) == 604
    assert probation_length(15902) == 750


def test_one_window_hand_computed():
    # 100 rows, probation 15, one window rows 40..49 (width 10)
    lay = layout("f", 100, [(40, 49)])
    s = np.zeros(100)
    s[45] = 1.0                                   # detection at row 45: pos = -(49 - 45 + 1) / 10
    r = file_score(lay, s, 0.5, STD)
    assert r["tp"] == 1 and r["fn"] == 0 and r["fp"] == 0
    assert r["raw"] == pytest.approx(sig(-0.5) / MAX_TP)
    s[47] = 1.0                                   # a later detection in the same window adds nothing
    assert file_score(lay, s, 0.5, STD)["raw"] == pytest.approx(sig(-0.5) / MAX_TP)
    s[40] = 1.0                                   # the earliest detection counts: the left edge = 1.0
    assert file_score(lay, s, 0.5, STD)["raw"] == pytest.approx(1.0)
    # nothing detected: -fn
    assert file_score(lay, np.zeros(100), 0.5, LOW_FN)["raw"] == -2.0


def test_false_positives_hand_computed():
    lay = layout("f", 100, [(40, 49)])
    s = np.zeros(100)
    s[20] = 1.0                                   # before any window: -fp
    s[5] = 1.0                                    # in probation: ignored
    s[52] = 1.0                                   # 3 rows after the right edge: sigma(3 / 9) * fp
    s[90] = 1.0                                   # far after the window: -fp
    r = file_score(lay, s, 0.5, STD)
    want = -0.11 - 1.0 + 0.11 * sig(3 / 9) - 0.11
    assert r["raw"] == pytest.approx(want) and r["fp"] == 3 and r["fn"] == 1


def test_window_in_probation_is_not_counted():
    lay = layout("f", 100, [(2, 8), (60, 69)])
    assert lay.scorable_windows == [1]
    s = np.zeros(100)
    s[5] = 1.0
    assert file_score(lay, s, 0.5, STD)["raw"] == -1.0   # only the second window, missed


def test_sweep_equals_fixed_threshold_scores_and_picks_the_best():
    rng = np.random.default_rng(0)
    lays = [layout("a", 200, [(80, 99)]), layout("b", 300, [(100, 119), (200, 229)]), layout("c", 150, [])]
    scores = [rng.random(l.n) for l in lays]
    scores[0][85] = 2.0
    scores[1][105] = 2.0
    thr, vals = sweep(lays, scores, STD)
    for k in range(0, len(thr), 37):
        t = thr[k]
        direct = sum(file_score(l, s, t, STD)["raw"] for l, s in zip(lays, scores))
        assert vals[k] == pytest.approx(direct)
    best = score_corpus(lays, scores, STD)
    assert best["raw"] == pytest.approx(vals.max())
    at2 = sum(file_score(l, s, 2.0, STD)["raw"] for l, s in zip(lays, scores))
    assert at2 == pytest.approx(sig(-0.75) / MAX_TP + sig(-0.75) / MAX_TP - 1.0)  # two early hits, one miss
    assert best["raw"] >= at2 and best["threshold"] in set(thr.tolist())


def test_normalisation_between_null_and_perfect():
    lays = [layout("a", 200, [(80, 99)]), layout("b", 300, [(100, 119), (200, 229)])]
    perfect = [np.zeros(l.n) for l in lays]
    for l, s in zip(lays, perfect):
        for a, _ in l.windows:
            s[a] = 1.0
    for prof in (STD, LOW_FN):
        assert score_corpus(lays, perfect, prof)["score"] == pytest.approx(100.0)
        assert score_corpus(lays, [np.zeros(l.n) for l in lays], prof)["score"] == pytest.approx(0.0)
    assert normalise(0.0, -3.0, 3.0) == 50.0


def test_to_unit_is_monotone_into_0_1():
    u = to_unit(np.array([0.0, 0.5, 1.0, 10.0, np.inf, np.nan]), 1.0)
    assert u[2] == 0.5 and np.all((u >= 0) & (u <= 1)) and np.all(np.diff(u[:5]) > 0)


def tiny_corpus(root: Path):
    (root / "data" / "grp").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(1)
    v = 10 + rng.standard_normal(400)
    v[300] = 60.0
    lines = ["timestamp,value"] + [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{x:.4f}" for i, x in enumerate(v)]
    (root / "data" / "grp" / "one.csv").write_text("\n".join(lines) + "\n")
    (root / "labels" / "combined_windows.json").write_text(json.dumps(
        {"grp/one.csv": [["2020-01-01 04:50:00.000000", "2020-01-01 05:09:00.000000"]]}))


def test_harness_writes_nab_results_and_scores(tmp_path):
    tiny_corpus(tmp_path / "nab")
    df = corpus.load(tmp_path / "nab")[0]
    assert df.layout.windows == [(290, 309)]
    res = run(tmp_path / "nab", tmp_path / "out", "baseline")
    out = tmp_path / "out" / "baseline" / "grp" / "baseline_one.csv"
    rows = out.read_text().splitlines()
    assert rows[0] == "timestamp,value,anomaly_score,label" and len(rows) == 401
    labels = [int(r.split(",")[3]) for r in rows[1:]]
    assert sum(labels) == 20 and labels[290] == 1 and labels[289] == 0
    assert all(0.0 <= float(r.split(",")[2]) <= 1.0 for r in rows[1:])
    std = res["profiles"]["standard"]
    assert std["swept"]["tp"] == 1 and std["swept"]["score"] > 50
    assert std["fixed"]["threshold"] == 0.5
    assert json.loads((tmp_path / "out" / "baseline" / "summary.json").read_text())["detector"] == "baseline"


def test_harness_on_the_shared_nab_data_if_present(tmp_path):
    root = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "nab"
    if not root.is_dir():
        pytest.skip(f"NAB data not present at {root}")
    data = corpus.load(root, files=["art_daily_jumpsup"])
    assert len(data) == 1 and data[0].layout.n == 4032 and len(data[0].layout.windows) == 1
    assert {p.name for p in corpus.profiles(root)} == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}


@pytest.mark.parametrize("as_json", [False, True])
def test_the_cli_prints_the_table_or_json(tmp_path, as_json):
    from click.testing import CliRunner

    from agent.cli import _load_commands, cli
    _load_commands()
    tiny_corpus(tmp_path / "nab")
    r = CliRunner().invoke(cli, ["bench", "nab", "--data", str(tmp_path / "nab"), "--out", str(tmp_path / "out"),
                                 "--detector", "baseline", *(["--json"] if as_json else [])], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    if as_json:
        res = json.loads(r.stdout)
        assert res["detector"] == "baseline" and res["profiles"]["standard"]["swept"]["tp"] == 1
    else:
        assert r.stdout.startswith("NAB results: baseline") and "standard" in r.stdout
