"""Robust streaming baseline: per-(entity, metric) robust z-score against a Huber EWMA.

Each series (``event.entity``, ``event.name``) keeps a centre and a scale:

- warm-up: the first ``warmup`` points are buffered; the baseline starts at their median, the
  scale at 1.4826 x their MAD (mean absolute deviation when the MAD is 0). No score during warm-up.
- score: ``z = (x - centre) / max(scale, min_scale, min_rel_scale * |centre|)``; the score is
  ``|z|`` (``direction: both``), ``max(z, 0)`` (``up``) or ``max(-z, 0)`` (``down``).
- learning (only from unflagged points): the deviation is clipped at ``huber_k`` scales, then
  ``centre += a_c * clipped`` and ``scale += a_s * (1.2533 * |clipped| - scale)`` (EWMA of the
  absolute deviation, rescaled to a standard deviation for Gaussian noise). ``halflife`` and
  ``scale_halflife`` are in points. Because flagged points are not learned, a slow leak cannot
  drag the baseline along once it has crossed the threshold.

Defined behaviour on bad input (all counted per series, see ``stats()``):

- NaN / missing / non-numeric value: score 0, not learned, counted in ``nan``.
- out-of-order (time earlier than the series' last learned point): scored against the current
  baseline (it can produce a finding) but never learned; counted in ``late``.
- gap: a gap longer than ``max_gap`` seconds (0 = never) restarts warm-up for that series.
- constant series: the scale floor (``min_scale``, ``min_rel_scale``) keeps scores finite; any
  later change of more than ``threshold`` floors is flagged.
- a series that starts mid-incident (or any persistent level shift): after ``relearn_after``
  consecutive flagged points the baseline is re-initialised from those points (median/MAD) and the
  new level becomes normal (``relearns`` counter); 0 disables this and keeps flagging.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.event import Event
from core.registry import register
from detectors.metrics.common import RunResult, SeriesTable, SeriesTableDetector, halflife_alpha, njit, unscored
from detectors.metrics.columns import extract
from detectors.metrics.config import ScaleFloorConfig
from detectors.metrics.stream_point import open_point

# state columns
N, C, S, LAST, NAN, LATE, RUN, BUFN, WARM, FIRST, RELEARN = range(11)
NCOLS = 11
_INIT = [0.0, 0.0, 0.0, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0, math.nan, 0.0]
DIRECTIONS = ("both", "up", "down")


@njit
def _robust_init(vals):
    med = np.median(vals)
    mad = np.median(np.abs(vals - med)) * 1.4826
    if mad <= 0.0:
        mad = np.mean(np.abs(vals - med)) * 1.2533
    return med, mad


@njit
def _baseline_kernel(ids, x, t, st, buf, mode, warmup, thr, a_c, a_s, k, min_scale, min_rel,
                     direction, relearn_after, max_gap, scores, flags, centers, scales):
    n = ids.shape[0]
    for i in range(n):
        s, late = open_point(i, ids, x, t, st, NAN, LAST, scores, flags, centers, scales)
        if s < 0:
            continue
        xi = x[i]
        ti = t[i]
        if (not late) and max_gap > 0.0 and st[s, LAST] > -np.inf and ti - st[s, LAST] > max_gap:
            # long gap: start over
            st[s, WARM] = 0.0
            st[s, BUFN] = 0.0
            st[s, RUN] = 0.0
        if st[s, WARM] == 0.0:
            # warming up: no score; buffer in-order points
            if late:
                st[s, LATE] += 1.0
                continue
            if mode == 2:
                continue
            b = int(st[s, BUFN])
            buf[s, b] = xi
            b += 1
            st[s, BUFN] = b
            st[s, LAST] = ti
            if np.isnan(st[s, FIRST]):
                st[s, FIRST] = ti
            if b >= warmup:
                med, sc = _robust_init(buf[s, :b])
                st[s, C] = med
                st[s, S] = sc
                st[s, N] += b
                st[s, WARM] = 1.0
                st[s, BUFN] = 0.0
                st[s, RUN] = 0.0
            continue
        c = st[s, C]
        sc = st[s, S]
        floor = min_rel * abs(c)
        if floor < min_scale:
            floor = min_scale
        if sc < floor:
            sc = floor
        dev = xi - c
        z = dev / sc
        if direction == 0:
            score = abs(z)
        elif direction == 1:
            score = z if z > 0.0 else 0.0
        else:
            score = -z if z < 0.0 else 0.0
        scores[i] = score
        centers[i] = c
        scales[i] = sc
        if mode == 2:
            continue
        if mode == 0 and score >= thr:
            flags[i] = True
            if late:
                st[s, LATE] += 1.0
                continue
            r = int(st[s, RUN])
            if relearn_after > 0:
                buf[s, r] = xi
            r += 1
            st[s, RUN] = r
            st[s, LAST] = ti
            if relearn_after > 0 and r >= relearn_after:
                med, nsc = _robust_init(buf[s, :r])
                st[s, C] = med
                st[s, S] = nsc
                st[s, RUN] = 0.0
                st[s, RELEARN] += 1.0
            continue
        if late:
            st[s, LATE] += 1.0
            continue
        st[s, RUN] = 0.0
        lim = k * sc
        d = dev
        if d > lim:
            d = lim
        elif d < -lim:
            d = -lim
        st[s, C] = c + a_c * d
        st[s, S] = st[s, S] + a_s * (1.2533 * abs(d) - st[s, S])
        st[s, N] += 1.0
        st[s, LAST] = ti


@register
class BaselineDetector(SeriesTableDetector):
    """Robust per-series baseline (Huber EWMA centre and scale); score = robust z-score."""

    type = "baseline"
    state_version = 1
    chart_threshold_is_z = True

    @dataclass
    class Config(ScaleFloorConfig):
        warmup: int = 30              # points buffered before the first score
        threshold: float = 7.0        # robust z at or above which a point is flagged
        halflife: float = 60.0        # centre half-life, in points
        scale_halflife: float = 240.0  # scale half-life, in points
        huber_k: float = 3.0          # deviations are clipped at k scales before learning
        direction: str = "both"       # both | up | down
        relearn_after: int = 120      # accept a new level after this many consecutive flags (0 = never)
        max_gap: float = 0.0          # seconds; a longer gap restarts warm-up (0 = never)

        def validate(self) -> None:
            if self.warmup < 2:
                raise ValueError("warmup must be >= 2")
            if not (self.halflife > 0 and self.scale_halflife > 0):
                raise ValueError("halflife and scale_halflife must be > 0")
            if not self.huber_k > 0:
                raise ValueError("huber_k must be > 0")
            if self.direction not in DIRECTIONS:
                raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
            if self.relearn_after < 0:
                raise ValueError("relearn_after must be >= 0")
            if self.max_gap < 0:
                raise ValueError("max_gap must be >= 0")
            if self.high_factor < 0:
                raise ValueError("high_factor must be >= 0")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        self._bufcols = max(cfg.warmup, cfg.relearn_after, 1)
        self.table = SeriesTable(NCOLS, self._bufcols, _INIT)
        self._a_c = halflife_alpha(cfg.halflife)
        self._a_s = halflife_alpha(cfg.scale_halflife)
        self._dir = DIRECTIONS.index(cfg.direction)

    # scoring ----------------------------------------------------------------------------------
    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        ok = self._accept_mask(ex)
        keys = self._series_keys(ex)
        if mode == 2:
            return self._score_vec(self.table.ids(keys, ok), ex.values)
        ids = self.table.ids(keys, ok, create=True)
        scores = np.empty(n)
        flags = np.empty(n, dtype=np.bool_)
        centers = np.empty(n)
        scales = np.empty(n)
        cfg = self.config
        _baseline_kernel(ids, ex.values, ex.times, self.table.state, self.table.buf, mode,
                         cfg.warmup, cfg.threshold, self._a_c, self._a_s, cfg.huber_k,
                         cfg.min_scale, cfg.min_rel_scale, self._dir, cfg.relearn_after,
                         cfg.max_gap, scores, flags, centers, scales)
        return RunResult(scores, flags, centers, scales)

    def _series_keys(self, ex) -> list:
        """State keys of a batch: (entity, metric name); subclasses refine (e.g. seasonal bins)."""
        return ex.keys

    def _key_of(self, event: Event):
        return (event.entity, event.name)

    def _score_vec(self, ids: np.ndarray, x: np.ndarray) -> RunResult:
        """Vectorised score-only path (no state change); same formula as the kernel."""
        n = len(ids)
        scores, flags, centers, scales = unscored(n)
        if n and len(self.table):
            st = self.table.state
            known = ids >= 0
            sid = np.where(known, ids, 0)
            rows = st[sid]
            live = known & (rows[:, WARM] > 0) & np.isfinite(x)
            c = rows[:, C]
            floor = np.maximum(self.config.min_rel_scale * np.abs(c), self.config.min_scale)
            sc = np.maximum(rows[:, S], floor)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = (x - c) / sc
            if self._dir == 0:
                sv = np.abs(z)
            elif self._dir == 1:
                sv = np.maximum(z, 0.0)
            else:
                sv = np.maximum(-z, 0.0)
            scores = np.where(live, sv, 0.0)
            centers = np.where(live, c, np.nan)
            scales = np.where(live, sc, np.nan)
        return RunResult(scores, flags, centers, scales)

    def is_warm(self, event: Event) -> bool:
        sid = self.table.index.get(self._key_of(event))
        return sid is not None and self.table.state[sid, WARM] > 0

    def window_evidence(self) -> dict:
        return {"halflife_points": self.config.halflife,
                "scale_halflife_points": self.config.scale_halflife,
                "warmup_points": self.config.warmup}

    def _finding(self, ev, score, thr, center, scale):
        f = super()._finding(ev, score, thr, center, scale)
        sid = self.table.index.get(self._key_of(ev))
        if f is not None and sid is not None:
            f.evidence["window"]["learned_points"] = int(self.table.state[sid, N])
            f.evidence["window"]["since"] = float(self.table.state[sid, FIRST])
        return f

    # introspection ----------------------------------------------------------------------------
    def stats(self, entity: str | None = None) -> dict:
        """Per-series counters: learned points, NaN skipped, late points, relearns, warm."""
        out = {}
        for sid, key in enumerate(self.table.keys):
            if entity is not None and key[0] != entity:
                continue
            r = self.table.state[sid]
            out[key] = {"learned": int(r[N]), "nan": int(r[NAN]), "late": int(r[LATE]),
                        "relearns": int(r[RELEARN]), "warm": bool(r[WARM]),
                        "center": float(r[C]), "scale": float(r[S])}
        return out

    # state ------------------------------------------------------------------------------------
    def _snapshot_extra(self) -> dict:
        return {"config": {"bufcols": self._bufcols}}

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        super().restore(blob, entity)
        if entity is not None:
            self._dirty.discard(entity)
