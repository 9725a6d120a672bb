"""Leave-one-group-out cross-validation of a metric detector on NAB.

For each NAB group (``data/<group>/``) in turn, every global parameter is chosen on the other
groups only: the detector configuration (a small grid of options) and, per profile, the
threshold on the [0, 1] anomaly score, both maximising the NAB score of the training files
pooled as one corpus (``objective="pooled"``, the default: NAB's own convention) or the mean of the
training groups' NAB scores (``objective="mean"``, bench.nab.objective). The
held-out group is then scored three ways per profile:

- ``swept``: its own best threshold (NAB's convention; the configuration is still the training one);
- ``trained``: the threshold chosen on the training groups (nothing chosen on the scored group);
- ``fixed``: the documented threshold (0.5 = the detector's own configured threshold).

The figure that counts is the mean of the held-out scores over the groups that have anomaly
windows. A group without windows (``artificialNoAnomaly``) has no normalised NAB score (the perfect
and the null detector both score 0); its false positives are printed, and they count in the pooled
figure: every file scored at its fold's trained threshold, the 34 files scored as one corpus.
Score streams are cached per (configuration, file) (bench.nab.streams), so a threshold or a
configuration is chosen by re-reading arrays, never by re-running a detector.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.nab import corpus as _corpus
from bench.nab.objective import best_mean
from bench.nab.runner import FIXED_THRESHOLD
from bench.nab.scorer import Profile, score_corpus
from bench.nab.streams import StreamCache

DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "novelty": {"memory": [1000, 3000], "suppress": [100, 300]},
    "discord": {"threshold": [2.0, 2.8, 4.0], "window": [32, 64]},
    # value novelty + shape novelty, each calibrated by its own threshold, the larger speaks; the
    # grid is the weight of shape novelty: a ladder (x1.4) of discord thresholds around its default
    "ensemble": {"members": [["novelty", "discord"]], "rate_target": [0.0],
                 "member_options": [{"discord": {"threshold": t, "window": 64}} for t in (2.0, 2.8, 4.0)]},
}


def expand(grid: dict[str, list]) -> list[dict[str, Any]]:
    """All combinations of a grid {option: [values]} (an empty grid = the default options only)."""
    if not grid:
        return [{}]
    names = sorted(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


@dataclass
class Fold:
    group: str
    profile: str
    options: dict[str, Any]
    train_score: float
    train_threshold: float
    windows: int
    swept: float | None
    trained: float | None
    fixed: float | None
    fp_trained: int
    fp_fixed: int


@dataclass
class CrossValidation:
    detector: str
    configs: list[dict[str, Any]]
    folds: list[Fold] = field(default_factory=list)
    pooled: dict[str, float] = field(default_factory=dict)   # profile -> out-of-fold corpus score
    seconds: float = 0.0
    streams_computed: int = 0

    def mean(self, profile: str, mode: str) -> float:
        vals = [getattr(f, mode) for f in self.folds if f.profile == profile and f.windows]
        return float(np.mean(vals)) if vals else float("nan")


OBJECTIVES = ("pooled", "mean")


def _best(data, idx: list[int], units, prof: Profile, objective: str) -> tuple[float, float]:
    """(training score, threshold) of one configuration's streams on the training files `idx`."""
    if objective == "pooled":
        r = score_corpus([data[i].layout for i in idx], [units[i] for i in idx], prof)
        return r["score"], r["threshold"]
    by: dict[str, list[int]] = {}
    for i in idx:
        by.setdefault(data[i].group, []).append(i)
    return best_mean([([data[i].layout for i in g], [units[i] for i in g]) for g in by.values()], prof)


def cross_validate(data_dir, detector: str = "novelty", grid: dict[str, list] | None = None,
                   cache_dir=None, files: list[str] | None = None, objective: str = "pooled",
                   progress: bool = False) -> CrossValidation:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    data = _corpus.load(data_dir, files)
    profiles = _corpus.profiles(data_dir)
    configs = expand(DEFAULT_GRIDS.get(detector, {}) if grid is None else grid)
    cache = StreamCache(cache_dir)
    t0 = time.perf_counter()
    from core.progress import track
    streams = [cache.streams(detector, c, data) for c in track(configs, "NAB score streams per option set",
                                                                 enabled=progress)]
    cv = CrossValidation(detector, configs)
    groups = sorted({d.group for d in data})
    oof: dict[str, list[np.ndarray]] = {p.name: [None] * len(data) for p in profiles}
    for g in groups:
        tr = [i for i, d in enumerate(data) if d.group != g]
        te = [i for i, d in enumerate(data) if d.group == g]
        te_lay = [data[i].layout for i in te]
        nwin = sum(len(l.scorable_windows) for l in te_lay)
        for prof in profiles:
            best = max(((_best(data, tr, streams[c], prof, objective), c) for c in range(len(configs))),
                       key=lambda x: x[0][0])
            (tr_score, thr), c = best
            units = [streams[c][i] for i in te]
            sw = score_corpus(te_lay, units, prof)
            at = score_corpus(te_lay, units, prof, threshold=thr)
            fx = score_corpus(te_lay, units, prof, threshold=FIXED_THRESHOLD)
            cv.folds.append(Fold(g, prof.name, configs[c], tr_score, thr, nwin,
                                 sw["score"] if nwin else None, at["score"] if nwin else None,
                                 fx["score"] if nwin else None, at["fp"], fx["fp"]))
            for i, u in zip(te, units):
                oof[prof.name][i] = (u >= thr).astype(np.float64)
    for prof in profiles:
        cv.pooled[prof.name] = score_corpus([d.layout for d in data], oof[prof.name], prof,
                                            threshold=0.5)["score"]
    cv.seconds = time.perf_counter() - t0
    cv.streams_computed = cache.computed
    return cv


def _fmt(v: float | None) -> str:
    return f"{v:>9.2f}" if v is not None else f"{'n/a':>9}"


def table(cv: CrossValidation) -> str:
    lines = [f"NAB leave-one-group-out: {cv.detector}, {len(cv.configs)} configuration(s), "
             f"{cv.streams_computed} stream(s) computed, {cv.seconds:.1f} s",
             f"{'profile':<20}{'held-out group':<23}{'swept':>9}{'trained':>9}{'fixed':>9}"
             f"{'thr':>8}{'fp':>5}  options"]
    for prof in dict.fromkeys(f.profile for f in cv.folds):
        for f in (f for f in cv.folds if f.profile == prof):
            lines.append(f"{prof:<20}{f.group:<23}{_fmt(f.swept)}{_fmt(f.trained)}{_fmt(f.fixed)}"
                         f"{f.train_threshold:>8.4f}{f.fp_trained:>5}  {json.dumps(f.options, sort_keys=True)}")
        lines.append(f"{prof:<20}{'MEAN (groups w/ windows)':<23}{_fmt(cv.mean(prof, 'swept'))}"
                     f"{_fmt(cv.mean(prof, 'trained'))}{_fmt(cv.mean(prof, 'fixed'))}")
        lines.append(f"{prof:<20}{'pooled, trained thr':<23}{'':>9}{_fmt(cv.pooled[prof])}")
    return "\n".join(lines)


def to_json(cv: CrossValidation) -> dict:
    profs = list(dict.fromkeys(f.profile for f in cv.folds))
    return {"detector": cv.detector, "configs": cv.configs, "seconds": round(cv.seconds, 1),
            "folds": [f.__dict__ for f in cv.folds],
            "mean": {p: {m: cv.mean(p, m) for m in ("swept", "trained", "fixed")} for p in profs},
            "pooled_trained": cv.pooled}


def main(data, detector: str = "novelty", grid: dict[str, list] | None = None, cache_dir=None,
         files: list[str] | None = None, objective: str = "pooled") -> CrossValidation:
    cv = cross_validate(data, detector, grid, cache_dir, files, objective)
    print(table(cv))
    return cv
