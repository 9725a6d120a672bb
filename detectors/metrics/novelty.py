"""Value novelty: how far a point is from every value the series took recently.

Per series (``event.entity``, ``event.name``) the detector remembers the last ``memory`` learned
values (a ring plus a sorted copy, so the nearest one is a binary search away), the range of all
learned values and a long EWMA of the absolute deviation (``scale_halflife`` points).

- raw score = ``distance to the nearest remembered value / sqrt(range * 10 * mean_abs_dev)``: a
  value inside the usual cloud scores ~0, a value the series has not taken in ``memory`` points
  scores high — a spike, a drop, a level shift, a new plateau in the middle of a daily pattern.
  The denominator is the geometric mean of the all-time range and ten mean absolute deviations,
  so the score is unit-free and comparable across series.
- record suppression (``suppress`` points): the output is the raw score when it is higher than
  every raw score of the previous ``suppress`` points, else 0. The first point of an excursion
  keeps its score; the rest of it, already reported, does not repeat it. This depends on past
  raw scores only (causal) and on no threshold.
- learning: every in-order, finite, unflagged point enters the memory. A flagged point does not;
  because the rest of an excursion is suppressed (not flagged) it is learned, so a new level
  becomes normal after one finding (a series starting mid-incident adapts the same way).

Bad input: NaN / missing values score 0 and are counted (``nan``); out-of-order points are scored
against the current memory but not learned (``late``); constant series score 0 until they change
(the scale floor ``min_scale`` / ``min_rel_scale`` keeps the score finite).

Flag-rate calibration (``rate_target``, default 0.001): per series, an EWMA (``rate_halflife``
points) of how often the undamped output reached the threshold; when it is above the target the
score is multiplied by ``rate_target / rate``, so a series that keeps producing new values (bursty
counts, say) needs a stronger novelty to flag, while a quiet series keeps its full sensitivity.
Causal: the rate is that of the points before.

This is the detector that scores best on NAB here (see bench/nab); it is also a member of the
default ensemble.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.event import Event, Finding
from core.registry import register
from core.units import metric_value
from detectors.metrics.common import RunResult, SeriesTable, SeriesTableDetector, halflife_alpha, njit
from detectors.metrics.columns import extract
from detectors.metrics.suppression import push_ring, suppress_damp
from detectors.metrics.config import CalibrationConfig, ScaleFloorConfig
from detectors.metrics.stream_point import open_point

# state columns
N, LO, HI, C, S, LAST, NAN, LATE, HEAD, FILL, RPOS, FIRST, SEEN, FPOS, RATE = range(15)
NCOLS = 15
_INIT = [0.0, math.inf, -math.inf, 0.0, 0.0, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0, math.nan, 0.0, 0.0, 0.0]
REPORTED = 32   # flagged values remembered (as anomalies, not as normal) for de-duplication


@njit
def _novelty_kernel(ids, x, t, st, buf, mode, L, K, Q, warmup, thr, a_s, min_scale, min_rel,
                    r0, a_r, scores, flags, nearest, scales, raws):
    n = ids.shape[0]
    for i in range(n):
        raws[i] = 0.0
        s, late = open_point(i, ids, x, t, st, NAN, LAST, scores, flags, nearest, scales)
        if s < 0:
            continue
        xi = x[i]
        fill = int(st[s, FILL])
        ring = buf[s, 0:L]
        srt = buf[s, L:2 * L]
        sc_ring = buf[s, 2 * L:2 * L + K]
        rep_v = buf[s, 2 * L + K:2 * L + K + Q]
        rep_at = buf[s, 2 * L + K + Q:2 * L + K + 2 * Q]
        seen = st[s, SEEN]
        raw = 0.0
        if fill >= warmup:
            j = np.searchsorted(srt[:fill], xi)
            best = np.inf
            if j < fill:
                best = srt[j] - xi
            if j > 0 and xi - srt[j - 1] < best:
                best = xi - srt[j - 1]
                nearest[i] = srt[j - 1]
            elif j < fill:
                nearest[i] = srt[j]
            # an anomaly already reported recently is not new: distance to those values too
            for k in range(Q):
                if rep_at[k] > 0.0 and seen - rep_at[k] < L and abs(xi - rep_v[k]) < best:
                    best = abs(xi - rep_v[k])
            rng = st[s, HI] - st[s, LO]
            den = math.sqrt(max(rng, 0.0) * 10.0 * st[s, S])
            floor = min_rel * abs(st[s, C])
            if floor < min_scale:
                floor = min_scale
            if den < floor:
                den = floor
            raw = best / den
            scales[i] = den
            raws[i] = raw
            out = suppress_damp(raw, sc_ring, K, st, s, RATE, r0, a_r, thr, mode != 2 and not late)
            scores[i] = out
        if mode == 2 or late:
            if late and mode != 2:
                st[s, LATE] += 1.0
                if mode == 0 and scores[i] >= thr and fill >= warmup:
                    flags[i] = True
            continue
        # in-order point: remember its raw score for suppression
        push_ring(sc_ring, K, st, s, RPOS, raw)
        st[s, LAST] = t[i]
        st[s, SEEN] = seen + 1.0
        if np.isnan(st[s, FIRST]):
            st[s, FIRST] = t[i]
        if mode == 0 and fill >= warmup and scores[i] >= thr:
            flags[i] = True
            fp = int(st[s, FPOS])
            rep_v[fp] = xi
            rep_at[fp] = seen + 1.0
            st[s, FPOS] = (fp + 1) % Q
            continue
        # learn: ring + sorted memory
        head = int(st[s, HEAD])
        if fill == L:
            old = ring[head]
            r = np.searchsorted(srt[:fill], old)
            # remove srt[r] (the first element equal to old)
            srt[r:fill - 1] = srt[r + 1:fill].copy()
            fill -= 1
        q = np.searchsorted(srt[:fill], xi)
        srt[q + 1:fill + 1] = srt[q:fill].copy()
        srt[q] = xi
        fill += 1
        ring[head] = xi
        st[s, HEAD] = (head + 1) % L
        st[s, FILL] = fill
        if xi < st[s, LO]:
            st[s, LO] = xi
        if xi > st[s, HI]:
            st[s, HI] = xi
        if st[s, N] == 0.0:
            st[s, C] = xi
        d = xi - st[s, C]
        st[s, C] += a_s * d
        st[s, S] += a_s * (abs(d) - st[s, S])
        st[s, N] += 1.0


@register
class NoveltyDetector(SeriesTableDetector):
    """Distance to the nearest recently seen value, range-normalised, with record suppression."""

    type = "novelty"
    state_version = 1

    @dataclass
    class Config(ScaleFloorConfig, CalibrationConfig):
        memory: int = 3000            # remembered values per series (L)
        warmup: int = 150             # points learned before the first score
        threshold: float = 0.1        # flag at or above this score
        scale_halflife: float = 10000.0  # EWMA half-life of the mean absolute deviation, points
        min_scale: float = 1e-12
        min_rel_scale: float = 1e-6
        high_factor: float = 3.0

        def validate(self) -> None:
            if self.memory < 2:
                raise ValueError("memory must be >= 2")
            if not 1 <= self.warmup <= self.memory:
                raise ValueError("warmup must be between 1 and memory")
            if not self.scale_halflife > 0:
                raise ValueError("scale_halflife must be > 0")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        self._L, self._K = cfg.memory, max(cfg.suppress, 1) if cfg.suppress else 0
        self.table = SeriesTable(NCOLS, 2 * self._L + max(self._K, 1) + 2 * REPORTED, _INIT)
        self._a_s = halflife_alpha(cfg.scale_halflife)
        self._raw = np.zeros(0)

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        ok = self._accept_mask(ex)
        ids = self.table.ids(ex.keys, ok, create=(mode != 2))
        scores, flags = np.empty(n), np.empty(n, dtype=np.bool_)
        nearest, scales, raws = np.empty(n), np.empty(n), np.empty(n)
        cfg = self.config
        _novelty_kernel(ids, ex.values, ex.times, self.table.state, self.table.buf, mode,
                        self._L, self._K, REPORTED, cfg.warmup, cfg.threshold, self._a_s, cfg.min_scale,
                        cfg.min_rel_scale, cfg.rate_target, halflife_alpha(cfg.rate_halflife),
                        scores, flags, nearest, scales, raws)
        self._raw = raws
        return RunResult(scores, flags, nearest, scales)

    def is_warm(self, event: Event) -> bool:
        sid = self.table.index.get((event.entity, event.name))
        return sid is not None and self.table.state[sid, FILL] >= self.config.warmup

    def _finding(self, ev: Event, score: float, thr: float, nearest: float, scale: float) -> Finding:
        sid = self.table.index.get((ev.entity, ev.name))
        row = self.table.state[sid] if sid is not None else np.full(NCOLS, np.nan)
        value = ev.value
        dev = value - nearest if value is not None and np.isfinite(nearest) else None
        direction = "up" if (dev or 0) > 0 else "down"
        return Finding.create(
            detector=self.name, entity=ev.entity, time=ev.time, score=score, threshold=thr,
            severity=self.severity_for(score, thr),
            title=f"{ev.name} on {ev.entity} at {metric_value(value, ev.name)}: not seen in the last "
                  f"{int(row[FILL])} points (nearest {metric_value(nearest, ev.name)})",
            evidence={"metric": ev.name, "value": value, "baseline": float(row[C]),
                      "nearest_seen": nearest, "range": [float(row[LO]), float(row[HI])],
                      "scale": scale, "deviation": dev, "zscore": score, "direction": direction,
                      "window": {"memory_points": int(row[FILL]), "learned_points": int(row[N]),
                                 "since": float(row[FIRST]), "suppress_points": self.config.suppress}},
            event_ids=(ev.id,), rule=ev.name)

    def stats(self, entity: str | None = None) -> dict:
        out = {}
        for sid, key in enumerate(self.table.keys):
            if entity is not None and key[0] != entity:
                continue
            r = self.table.state[sid]
            out[key] = {"learned": int(r[N]), "nan": int(r[NAN]), "late": int(r[LATE]),
                        "memory": int(r[FILL]), "warm": bool(r[FILL] >= self.config.warmup),
                        "range": (float(r[LO]), float(r[HI]))}
        return out

    # state ------------------------------------------------------------------------------------
    def _snapshot_extra(self) -> dict:
        return {"memory": self._L, "suppress": self._K}

    def _check_snapshot(self, state: dict) -> None:
        if state.get("memory") != self._L or state.get("suppress") != self._K:
            raise ValueError("snapshot was taken with a different memory/suppress configuration")
