"""Shape novelty (a streaming discord score): how far the recent shape of a series is from every
shape the series itself has shown.

Per series (``event.entity``, ``event.name``) the detector keeps the last ``window`` in-order values
and, for each learned point, the shape ending there: the window averaged into ``segments`` equal
pieces (piecewise aggregate approximation). ``memory`` shapes are remembered.

- distance = the smallest RMS difference between the current shape and a remembered one, leaving
  out the ``window`` most recent shapes (they overlap the current one: trivial matches);
- raw score = distance / (``spread`` × the largest distance among the last ``memory`` learned
  points), floored at ``min_rel_scale`` × the range of learned values: unit-free, 1.0 = as unusual
  as the most unusual shape this very series has shown as normal, whatever its noise level (the
  normal model is what the series has shown, adapted online as it learns). The last ``window``
  learned distances are left out of that maximum (once ``warmup`` older ones exist): their shapes
  overlap the current one, so a shape change that grows as the window slides into it (a day at a
  lower level, a wave that flattens) would otherwise raise its own yardstick point by point and
  never stand out. An EWMA
  (``scale_halflife``) of the distances is kept as the series' typical distance (``stats``).
- record suppression and flag-rate calibration as in ``novelty`` (``suppress``, ``rate_target``).

A spike or a level shift changes the shape too, but a shape change of values the series has
already taken (a daily pattern that stops, a wave that flattens, a burst of spikes at the wrong
time) is what this score adds to ``novelty``: the ``ensemble`` of the two is the NAB detector.
Learning: unflagged, in-order, finite points add their shape; a flagged point does not. NaN scores
0 and is counted; late points are scored but not learned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.event import Event
from core.registry import register
from detectors.metrics.common import RunResult, SeriesTable, SeriesTableDetector, halflife_alpha, njit
from detectors.metrics.columns import extract
from detectors.metrics.suppression import push_ring, suppress_damp
from detectors.metrics.config import CalibrationConfig, ScaleFloorConfig
from detectors.metrics.stream_point import open_point

# state columns
N, LAST, NAN, LATE, VHEAD, VFILL, FHEAD, FFILL, DMEAN, LO, HI, RPOS, RATE, DN = range(14)
NCOLS = 14
_INIT = [0.0, -math.inf, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, math.inf, -math.inf, 0.0, 0.0, 0.0]


@njit
def _shape(vals, head, W, P, xi, out):
    """PAA of the last W values (the ring `vals` ending before `head`, then xi) into P segments."""
    seg = W // P
    for j in range(P):
        out[j] = 0.0
    for k in range(W):
        v = xi if k == W - 1 else vals[(head - (W - 1) + k) % W]
        out[k // seg] += v
    for j in range(P):
        out[j] /= seg


@njit
def _nearest(feats, cur, P, lo, hi):
    """Smallest squared distance between `cur` and the shapes lo..hi-1 of `feats` (P values each)."""
    best = np.inf
    for q in range(lo, hi):
        r = q * P
        d = 0.0
        for j in range(P):
            e = feats[r + j] - cur[j]
            d += e * e
        if d < best:
            best = d
    return best


@njit
def _max_but_newest(ring, filled, end, lag):
    """Largest of the `filled` values of a ring whose newest value is at end - 1, leaving out the
    `lag` newest (lag < filled; the ring has wrapped when end - lag < 0)."""
    out = 0.0
    start = end - lag
    if start >= 0:
        for q in range(min(start, filled)):
            if ring[q] > out:
                out = ring[q]
        for q in range(end, filled):
            if ring[q] > out:
                out = ring[q]
    else:
        for q in range(end, ring.shape[0] + start):
            if ring[q] > out:
                out = ring[q]
    return out


@njit
def _discord_kernel(ids, x, t, st, buf, mode, W, P, M, K, warmup, thr, spread, a_s, min_rel, min_scale,
                    r0, a_r, scores, flags, dist, scales):
    n = ids.shape[0]
    cur = np.empty(P)
    for i in range(n):
        s, late = open_point(i, ids, x, t, st, NAN, LAST, scores, flags, dist, scales)
        if s < 0:
            continue
        xi = x[i]
        vals = buf[s, 0:W]
        feats = buf[s, W:W + M * P]
        ring = buf[s, W + M * P:W + M * P + K]
        dring = buf[s, W + M * P + K:W + M * P + K + M]
        vhead = int(st[s, VHEAD])
        vfill = int(st[s, VFILL])
        fhead = int(st[s, FHEAD])
        ffill = int(st[s, FFILL])
        have = vfill >= W - 1
        if have:
            _shape(vals, vhead, W, P, xi, cur)
        raw = 0.0
        usable = ffill - W
        if have and usable >= warmup:
            start = (fhead - ffill) % M           # the oldest shape; the usable ones follow it
            first = min(usable, M - start)
            best = min(_nearest(feats, cur, P, start, start + first), _nearest(feats, cur, P, 0, usable - first))
            best = math.sqrt(best / P)
            dist[i] = best
            floor = min_rel * (st[s, HI] - st[s, LO])
            if floor < min_scale:
                floor = min_scale
            # the normal scale: the largest distance of a learned point, leaving out the last
            # `W` (their shapes overlap the current one: an excursion must not normalise itself)
            # once `warmup` distances are older than that
            dn = int(st[s, DN])
            dmax = _max_but_newest(dring, min(dn, M), (dn - 1) % M + 1, W if dn - W >= warmup else 0)
            den = dmax * spread
            if den < floor:
                den = floor
            scales[i] = den
            raw = best / den
            out = suppress_damp(raw, ring, K, st, s, RATE, r0, a_r, thr, mode != 2 and not late)
            scores[i] = out
        if mode == 2 or late:
            if late and mode != 2:
                st[s, LATE] += 1.0
                if mode == 0 and scores[i] >= thr and usable >= warmup:
                    flags[i] = True
            continue
        push_ring(ring, K, st, s, RPOS, raw)
        st[s, LAST] = t[i]
        vals[vhead] = xi                       # the context holds every in-order value
        st[s, VHEAD] = (vhead + 1) % W
        if vfill < W:
            st[s, VFILL] = vfill + 1
        if mode == 0 and usable >= warmup and scores[i] >= thr:
            flags[i] = True
            continue
        st[s, N] += 1.0
        if xi < st[s, LO]:
            st[s, LO] = xi
        if xi > st[s, HI]:
            st[s, HI] = xi
        if not have:
            continue
        if np.isfinite(dist[i]):
            if st[s, DN] == 0.0:
                st[s, DMEAN] = dist[i]
            else:
                st[s, DMEAN] += a_s * (dist[i] - st[s, DMEAN])
            dring[int(st[s, DN]) % M] = dist[i]
            st[s, DN] += 1.0
        r = fhead * P
        for j in range(P):
            feats[r + j] = cur[j]
        st[s, FHEAD] = (fhead + 1) % M
        if ffill < M:
            st[s, FFILL] = ffill + 1


@register
class DiscordDetector(SeriesTableDetector):
    """Distance of the recent shape to the nearest shape the series has shown, self-normalised."""

    type = "discord"
    state_version = 1

    @dataclass
    class Config(ScaleFloorConfig, CalibrationConfig):
        window: int = 64              # values per shape
        segments: int = 8             # PAA segments per shape (window must be a multiple)
        memory: int = 2000            # remembered shapes per series
        warmup: int = 150             # shapes beyond the trivial-match zone before the first score
        spread: float = 1.0           # the typical distance is multiplied by this
        threshold: float = 2.8        # flag at or above this score (1.0 = the largest distance of a learned point)
        scale_halflife: float = 2000.0  # EWMA half-life of the typical distance, points
        min_scale: float = 1e-12
        min_rel_scale: float = 0.002  # floor of the typical distance, relative to the learned range
        high_factor: float = 3.0

        def validate(self) -> None:
            if self.segments < 1 or self.window < self.segments or self.window % self.segments:
                raise ValueError("window must be a positive multiple of segments")
            if self.memory <= self.window + self.warmup:
                raise ValueError("memory must exceed window + warmup")
            if self.warmup < 1 or not self.scale_halflife > 0 or not self.spread > 0:
                raise ValueError("warmup >= 1, scale_halflife > 0 and spread > 0 required")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        self._K = max(cfg.suppress, 0)
        self._bufcols = cfg.window + cfg.memory * cfg.segments + self._K + cfg.memory
        self.table = SeriesTable(NCOLS, self._bufcols, _INIT)

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        ok = self._accept_mask(ex)
        ids = self.table.ids(ex.keys, ok, create=(mode != 2))
        scores, flags = np.empty(n), np.empty(n, dtype=np.bool_)
        dist, scales = np.empty(n), np.empty(n)
        cfg = self.config
        _discord_kernel(ids, ex.values, ex.times, self.table.state, self.table.buf, mode, cfg.window,
                        cfg.segments, cfg.memory, self._K, cfg.warmup, cfg.threshold, cfg.spread,
                        halflife_alpha(cfg.scale_halflife), cfg.min_rel_scale, cfg.min_scale,
                        cfg.rate_target, halflife_alpha(cfg.rate_halflife), scores, flags, dist, scales)
        return RunResult(scores, flags, dist, scales)

    def is_warm(self, event: Event) -> bool:
        sid = self.table.index.get((event.entity, event.name))
        return sid is not None and self.table.state[sid, FFILL] - self.config.window >= self.config.warmup

    def window_evidence(self) -> dict:
        return {"shape_points": self.config.window, "segments": self.config.segments,
                "memory_shapes": self.config.memory}

    def stats(self, entity: str | None = None) -> dict:
        out = {}
        for sid, key in enumerate(self.table.keys):
            if entity is None or key[0] == entity:
                r = self.table.state[sid]
                out[key] = {"learned": int(r[N]), "nan": int(r[NAN]), "late": int(r[LATE]),
                            "shapes": int(r[FFILL]), "typical_distance": float(r[DMEAN]),
                            "warm": bool(r[FFILL] - self.config.window >= self.config.warmup)}
        return out

    def _snapshot_extra(self) -> dict:
        c = self.config
        return {"shape": [c.window, c.segments, c.memory, self._K]}

    def _check_snapshot(self, state: dict) -> None:
        c = self.config
        if state.get("shape") != [c.window, c.segments, c.memory, self._K]:
            raise ValueError("snapshot was taken with a different window/segments/memory/suppress")
