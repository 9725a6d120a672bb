"""Leave-one-group-out NAB: nothing is chosen on the scored group; score streams are cached."""
import json
from pathlib import Path

import numpy as np
import pytest

from bench.nab.crossval import cross_validate, expand, table

GRID = {"threshold": [0.05, 0.2]}


def write_group(root: Path, group: str, spike_at: int | None, seed: int, spike: float = 60.0) -> None:
    (root / "data" / group).mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    v = 10 + rng.standard_normal(400)
    if spike_at is not None:
        v[spike_at] = spike
    lines = ["timestamp,value"] + [f"2020-01-01 {i // 60:02d}:{i % 60:02d}:00,{x:.4f}" for i, x in enumerate(v)]
    (root / "data" / group / "one.csv").write_text("\n".join(lines) + "\n")
    labels = root / "labels" / "combined_windows.json"
    wins = json.loads(labels.read_text()) if labels.is_file() else {}
    wins[f"{group}/one.csv"] = ([] if spike_at is None else
                               [["2020-01-01 04:50:00.000000", "2020-01-01 05:09:00.000000"]])
    labels.write_text(json.dumps(wins))


def corpus(root: Path, last_spike: float = 60.0) -> Path:
    write_group(root, "a", 300, 1)
    write_group(root, "b", 300, 2)
    write_group(root, "quiet", None, 3)
    write_group(root, "z", 300, 4, spike=last_spike)
    return root


def test_expand_grid():
    assert expand({}) == [{}]
    assert expand({"b": [1, 2], "a": ["x"]}) == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]


def fold(cv, group, profile="standard"):
    return next(f for f in cv.folds if f.group == group and f.profile == profile)


@pytest.mark.parametrize("objective", ["pooled", "mean"])
def test_held_out_group_is_scored_with_parameters_chosen_on_the_others(tmp_path, objective):
    cv = cross_validate(corpus(tmp_path / "nab"), "novelty", GRID, cache_dir=tmp_path / "cache", objective=objective)
    assert {f.group for f in cv.folds} == {"a", "b", "quiet", "z"} and cv.streams_computed == 8
    for g in ("a", "b", "z"):
        f = fold(cv, g)
        assert f.windows == 1 and f.swept is not None and f.swept >= f.trained
    assert fold(cv, "quiet").swept is None               # no windows: no normalised score
    assert cv.mean("standard", "swept") == pytest.approx(np.mean([fold(cv, g).swept for g in "abz"]))
    assert "MEAN" in table(cv)
    # change only group z: what its fold chose (on a, b, quiet) stays the same; other folds may move
    cv2 = cross_validate(corpus(tmp_path / "nab2", last_spike=10.5), "novelty", GRID,
                         cache_dir=tmp_path / "cache", objective=objective)
    a, b = fold(cv, "z"), fold(cv2, "z")
    assert (a.options, a.train_threshold, a.train_score) == (b.options, b.train_threshold, b.train_score)
    assert b.swept < a.swept                             # the spike is gone: the held-out score is not


def test_streams_are_read_from_the_cache_the_second_time(tmp_path):
    root = corpus(tmp_path / "nab")
    first = cross_validate(root, "novelty", GRID, cache_dir=tmp_path / "cache")
    again = cross_validate(root, "novelty", GRID, cache_dir=tmp_path / "cache")
    assert first.streams_computed == 8 and again.streams_computed == 0
    assert [f.__dict__ for f in first.folds] == [f.__dict__ for f in again.folds]


def test_mean_objective_is_the_mean_of_the_group_scores_at_its_threshold(tmp_path):
    from bench.nab import corpus as nab_corpus
    from bench.nab.objective import best_mean
    from bench.nab.scorer import Profile, score_corpus
    from bench.nab.streams import StreamCache
    data = nab_corpus.load(corpus(tmp_path / "nab"))
    units = StreamCache(None).streams("novelty", {}, data)
    prof = Profile("standard", tp=1.0, fp=0.11, fn=1.0)
    groups = {}
    for d, u in zip(data, units):
        groups.setdefault(d.group, ([], []))
        groups[d.group][0].append(d.layout)
        groups[d.group][1].append(u)
    score, thr = best_mean(list(groups.values()), prof)
    per = [score_corpus(lays, us, prof, threshold=thr)["score"] for g, (lays, us) in groups.items() if g != "quiet"]
    quiet = score_corpus(*groups["quiet"], prof, threshold=thr)
    assert quiet["fp"] == 0 and score == pytest.approx(np.mean(per))
    for t in np.linspace(0.05, 0.99, 12):             # no threshold does better
        assert np.mean([score_corpus(l, u, prof, threshold=t)["score"] for g, (l, u) in groups.items()
                        if g != "quiet"]) <= score + 1e-9 or score_corpus(*groups["quiet"], prof, threshold=t)["fp"]


@pytest.mark.parametrize("grid,ok", [('{"threshold": [0.05, 0.2]}', True), ("{not json", False),
                                     ('{"threshold": 0.05}', False)])
def test_cli_cross_validate(tmp_path, grid, ok):
    from click.testing import CliRunner

    from agent.cli import _load_commands, cli
    _load_commands()
    root = corpus(tmp_path / "nab")
    r = CliRunner().invoke(cli, ["bench", "nab", "--data", str(root), "--out", str(tmp_path / "out"),
                                 "--cross-validate", "--grid", grid, "--json"])
    if not ok:
        assert r.exit_code == 2 and "--grid" in r.output
        return
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "streams").is_dir()
    doc = json.loads(r.output)
    assert {f["group"] for f in doc["folds"]} == {"a", "b", "quiet", "z"} and "standard" in doc["mean"]
