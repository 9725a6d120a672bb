"""PyOD models over sliding windows of a metric series (IForest, ECOD, COPOD, LOF, HBOS, KNN).

Per series, the feature vector of a point is the window of its last ``window`` values (itself
included), centred and scaled by the series' median and MAD as of the last fit. A PyOD model is
fitted on the windows of learned (unflagged) points:

- first fit once ``fit_after`` windows are available (warm-up: scores are 0 before);
- refit every ``refit_every`` in-order points (a fixed schedule in points *seen*, so the model at
  a point depends only on the points before it), on the last ``max_train`` learned windows.

score = (decision_function - median of the training scores) / (training maximum - median): 1.0 is
as outlying as the worst training window; then, as in ``novelty``, record suppression over the
last ``suppress`` raw scores and flag-rate calibration (``rate_target``). Flag at ``threshold``
(default 1.5). Scoring between refits is one vectorised ``decision_function`` call per run of points.

Snapshots hold no model (no pickle): they hold the training windows and the fit statistics, and
restore refits the model from them (the PyOD models used here are deterministic for a given
training set: IForest gets a fixed ``random_state``).

Bad input: NaN skipped and counted (the window is made of the finite in-order values); late
points are scored on the current window but not learned; a constant series gives MAD 0, the
``min_scale`` floor then makes any change score high.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.event import Event
from core.registry import register
from detectors.metrics.common import MetricDetector, RunResult, halflife_alpha, suppress_and_calibrate, unscored
from detectors.metrics.columns import extract
from detectors.metrics.config import CalibrationConfig

MODELS = ("iforest", "ecod", "copod", "lof", "hbos", "knn")


def make_model(kind: str, seed: int = 0):
    if kind == "iforest":
        from pyod.models.iforest import IForest
        return IForest(n_estimators=100, max_samples=min(256, 10**9), random_state=seed)
    if kind == "ecod":
        from pyod.models.ecod import ECOD
        return ECOD()
    if kind == "copod":
        from pyod.models.copod import COPOD
        return COPOD()
    if kind == "lof":
        from pyod.models.lof import LOF
        return LOF(n_neighbors=20)
    if kind == "hbos":
        from pyod.models.hbos import HBOS
        return HBOS()
    if kind == "knn":
        from pyod.models.knn import KNN
        return KNN(n_neighbors=5)
    raise ValueError(f"unknown model {kind!r} (known: {', '.join(MODELS)})")


class _Series:
    __slots__ = ("ctx", "train", "seen", "last", "nan", "late", "center", "scale", "q50", "q99",
                 "model", "fits", "first", "total", "fit_end", "fit_len", "ring", "pos_rate")

    def __init__(self) -> None:
        self.ctx: list[float] = []        # last window-1 in-order finite values
        self.train: list[list[float]] = []  # raw windows of learned points
        self.seen = 0
        self.last = -math.inf
        self.nan = 0
        self.late = 0
        self.center = 0.0
        self.scale = 1.0
        self.q50 = 0.0
        self.q99 = 1.0
        self.model = None
        self.fits = 0
        self.first = math.nan
        self.total = 0        # windows ever appended to train
        self.fit_end = 0      # `total` when the model was fitted
        self.fit_len = 0      # windows it was fitted on (the last fit_len before fit_end)
        self.ring = None      # last raw scores (record suppression)
        self.pos_rate = None  # [ring position, flag rate]


@register
class WindowModelDetector(MetricDetector):
    """A PyOD outlier model over sliding windows of each series, refitted on a fixed schedule."""

    type = "pyod_window"
    state_version = 1

    @dataclass
    class Config(CalibrationConfig):
        model: str = "knn"            # knn | lof | iforest | ecod | copod | hbos
        window: int = 8               # values per feature vector
        fit_after: int = 128          # windows before the first fit (warm-up)
        refit_every: int = 512        # points between refits
        max_train: int = 2048         # most recent learned windows kept for fitting
        threshold: float = 1.5        # 1.0 = the most outlying training window (see calibration)
        min_scale: float = 1e-9
        seed: int = 0

        def validate(self) -> None:
            if self.model not in MODELS:
                raise ValueError(f"model must be one of {', '.join(MODELS)}")
            if self.window < 1:
                raise ValueError("window must be >= 1")
            if self.fit_after < 16 or self.max_train < self.fit_after:
                raise ValueError("need fit_after >= 16 and max_train >= fit_after")
            if self.refit_every < 1:
                raise ValueError("refit_every must be >= 1")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.series: dict[tuple[str, str], _Series] = {}

    # model ------------------------------------------------------------------------------------
    def _fit(self, s: _Series, end: int | None = None, length: int | None = None) -> None:
        """Fit on the last `max_train` learned windows, or (restore) on the exact windows of a
        previous fit: global window indices [end - length, end)."""
        if end is None:
            end, length = s.total, min(len(s.train), self.config.max_train)
        lo = end - length - (s.total - len(s.train))
        X = np.asarray(s.train[lo:lo + length], dtype=np.float64)
        s.fit_end, s.fit_len = end, length
        vals = X[:, -1]
        s.center = float(np.median(vals))
        mad = float(np.median(np.abs(vals - s.center))) * 1.4826
        if mad <= 0:
            mad = float(np.mean(np.abs(vals - s.center))) * 1.2533
        s.scale = max(mad, self.config.min_scale, 1e-6 * abs(s.center))
        Z = (X - s.center) / s.scale
        m = make_model(self.config.model, self.config.seed)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(Z)
        tr = np.asarray(m.decision_scores_, dtype=np.float64)
        s.q50 = float(np.median(tr))
        s.q99 = float(np.max(tr))
        if not s.q99 > s.q50:
            s.q99 = s.q50 + max(abs(s.q50), 1.0) * 1e-3
        s.model = m
        s.fits += 1

    def _score_windows(self, s: _Series, W: np.ndarray) -> np.ndarray:
        if s.model is None or not len(W):
            return np.zeros(len(W))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = np.asarray(s.model.decision_function((W - s.center) / s.scale), dtype=np.float64)
        out = (raw - s.q50) / (s.q99 - s.q50)
        return np.maximum(np.nan_to_num(out, nan=0.0, posinf=1e12, neginf=0.0), 0.0)

    # stream -----------------------------------------------------------------------------------
    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        ok = self._accept_mask(ex)
        scores, flags, center, scale = unscored(n)
        groups: dict[tuple[str, str], list[int]] = {}
        for i in np.flatnonzero(ok):
            groups.setdefault(ex.keys[i], []).append(int(i))
        for key, idx in groups.items():
            s = self.series.get(key)
            if s is None:
                if mode == 2:
                    continue
                s = self.series[key] = _Series()
            if mode == 2:
                s = _clone(s)                     # scoring never changes state
            self._run_series(s, np.asarray(idx), ex.values, ex.times, mode, scores, flags, center, scale)
        return RunResult(scores, flags, center, scale)

    def _run_series(self, s: _Series, idx, x, t, mode, scores, flags, center, scale) -> None:
        cfg = self.config
        w = cfg.window
        thr = cfg.threshold
        k = 0
        m = len(idx)
        while k < m:
            i = idx[k]
            xi, ti = x[i], t[i]
            if not math.isfinite(xi):
                s.nan += 1
                k += 1
                continue
            if ti < s.last:                       # late: scored on the current window only
                if len(s.ctx) >= w - 1 and s.model is not None:
                    win = np.asarray((s.ctx[len(s.ctx) - (w - 1):] if w > 1 else []) + [xi])[None, :]
                    raw = self._score_windows(s, win)
                    post = raw.copy()
                    if s.ring is not None:
                        suppress_and_calibrate(raw, s.ring, s.pos_rate, thr, cfg.rate_target,
                                               halflife_alpha(cfg.rate_halflife), False, post)
                    sc = float(post[0])
                    scores[i] = sc
                    center[i], scale[i] = s.center, s.scale
                    if mode == 0 and sc >= thr:
                        flags[i] = True
                s.late += 1
                k += 1
                continue
            # a run of in-order finite points up to the next refit boundary
            j = k
            last = s.last
            until = cfg.refit_every - (s.seen % cfg.refit_every)
            run = []
            while j < m and len(run) < until:
                ij = idx[j]
                if not math.isfinite(x[ij]) or t[ij] < last:
                    break
                last = t[ij]
                run.append(ij)
                j += 1
            vals = x[np.asarray(run)]
            seq = np.concatenate((np.asarray(s.ctx[len(s.ctx) - (w - 1):] if w > 1 else [], dtype=np.float64), vals))
            have = len(seq) - len(vals)           # context values before the run
            if len(seq) >= w:
                W = np.lib.stride_tricks.sliding_window_view(seq, w)
                # window r of W ends at seq[r + w - 1]; run element q ends at seq[have + q]
                first_q = max(0, w - 1 - have)
                Wr = W[have + first_q - (w - 1):]
            else:
                first_q, Wr = len(vals), np.zeros((0, w))
            sc = np.zeros(len(vals))
            if s.model is not None and len(Wr):
                raw = self._score_windows(s, Wr)
                if s.ring is None:
                    s.ring = np.zeros(cfg.suppress)
                    s.pos_rate = np.array([0.0, 0.0])
                post = np.empty(len(raw))
                suppress_and_calibrate(raw, s.ring, s.pos_rate, thr, cfg.rate_target,
                                       halflife_alpha(cfg.rate_halflife), mode != 2, post)
                sc[first_q:] = post
            for q, ij in enumerate(run):
                scores[ij] = sc[q]
                if s.model is not None:
                    center[ij], scale[ij] = s.center, s.scale
            if mode != 2:
                fl = (sc >= thr) if (mode == 0 and s.model is not None) else np.zeros(len(vals), dtype=bool)
                for q, ij in enumerate(run):
                    if fl[q]:
                        flags[ij] = True
                    elif q >= first_q:
                        s.train.append(Wr[q - first_q].tolist())
                        s.total += 1
                # keep enough to rebuild the current model's training set on restore
                cap = cfg.max_train + cfg.refit_every
                if len(s.train) > cap:
                    del s.train[:len(s.train) - cap]
                if math.isnan(s.first):
                    s.first = float(t[run[0]])
            s.ctx = (s.ctx + vals.tolist())[-max(w - 1, 1):] if w > 1 else []
            s.seen += len(run)
            s.last = last
            if mode != 2:
                due = s.seen % cfg.refit_every == 0
                if (s.model is None and len(s.train) >= cfg.fit_after) or (due and len(s.train) >= cfg.fit_after):
                    self._fit(s)
            k = j

    def is_warm(self, event: Event) -> bool:
        s = self.series.get((event.entity, event.name))
        return s is not None and s.model is not None

    def window_evidence(self) -> dict:
        return {"model": self.config.model, "window_points": self.config.window,
                "refit_every": self.config.refit_every}

    def stats(self, entity: str | None = None) -> dict:
        return {k: {"seen": s.seen, "nan": s.nan, "late": s.late, "fits": s.fits,
                    "train": len(s.train), "warm": s.model is not None}
                for k, s in self.series.items() if entity is None or k[0] == entity}

    # state ------------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        rows = []
        for (e, name), s in self.series.items():
            if entity is not None and e != entity:
                continue
            rows.append({"entity": e, "name": name, "ctx": s.ctx, "train": s.train, "seen": s.seen,
                         "last": repr(float(s.last)), "nan": s.nan, "late": s.late, "fits": s.fits,
                         "fitted": s.model is not None, "first": repr(float(s.first)),
                         "total": s.total, "fit_end": s.fit_end, "fit_len": s.fit_len,
                         "ring": None if s.ring is None else s.ring.tolist(),
                         "pos_rate": None if s.pos_rate is None else s.pos_rate.tolist()})
        return self._pack_state(rows, entity, model=self.config.model, window=self.config.window)

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        state = self._unpack_state(blob, entity)
        if state.get("model") != self.config.model or state.get("window") != self.config.window:
            raise ValueError("snapshot was taken with a different model/window configuration")
        if entity is None:
            self.series = {}
        else:
            self.forget(entity)
        for r in state["rows"]:
            if entity is not None and r["entity"] != entity:
                raise ValueError("snapshot holds another entity")
            s = _Series()
            s.ctx = [float(v) for v in r["ctx"]]
            s.train = [[float(v) for v in row] for row in r["train"]]
            s.seen, s.nan, s.late = int(r["seen"]), int(r["nan"]), int(r["late"])
            s.last, s.first = float(r["last"]), float(r["first"])
            s.total = int(r["total"])
            if r.get("ring") is not None:
                s.ring = np.asarray(r["ring"], dtype=np.float64)
                s.pos_rate = np.asarray(r["pos_rate"], dtype=np.float64)
            if r["fitted"]:
                self._fit(s, int(r["fit_end"]), int(r["fit_len"]))   # same windows, same model
            s.fits = int(r["fits"])
            self.series[(r["entity"], r["name"])] = s

    def entities(self):
        return sorted({k[0] for k in self.series})

    def forget(self, entity: str) -> None:
        for k in [k for k in self.series if k[0] == entity]:
            del self.series[k]
        self._dirty.discard(entity)


def _clone(s: _Series) -> _Series:
    c = _Series()
    for f in _Series.__slots__:
        v = getattr(s, f)
        setattr(c, f, list(v) if isinstance(v, list) else v.copy() if isinstance(v, np.ndarray) else v)
    return c
