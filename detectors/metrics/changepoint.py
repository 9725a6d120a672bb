"""Change-point / level-shift detection: two-sided CUSUM on robust z-scores.

Per series, a slow robust baseline (Huber EWMA centre ``mu`` and scale ``sigma``, learned from
unflagged points) standardises each value; ``z`` is clipped at ``clip`` so that one spike cannot
fake a shift. Two CUSUM sums accumulate persistent deviations:
``g+ = max(0, g+ + z - drift)``, ``g- = max(0, g- - z - drift)``; the score is ``max(g+, g-)``
(flag at ``threshold``, the classic CUSUM ``h``). A level shift of ``d`` scales is flagged after
about ``threshold / (d - drift)`` points; isolated spikes add at most ``clip - drift``.

On a flag the detector declares a change point: the baseline re-starts at the recent level (a fast
EWMA of the last points, ``fast_halflife``), the sums reset, and the new level becomes normal (the
finding says from what to what). The flagged point itself is not learned.

Bad input: NaN skipped and counted; late points scored (one CUSUM step from the current state)
but not learned; constant series use the ``min_scale`` / ``min_rel_scale`` floor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.event import Event
from core.registry import register
from detectors.metrics.baseline import _robust_init
from detectors.metrics.common import RunResult, SeriesTable, SeriesTableDetector, halflife_alpha, njit
from detectors.metrics.columns import extract
from detectors.metrics.config import ScaleFloorConfig
from detectors.metrics.stream_point import open_point

N, MU, SIG, GP, GN, FAST, LAST, NAN, LATE, BUFN, WARM, FIRST, CHANGES = range(13)
NCOLS = 13
_INIT = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -math.inf, 0.0, 0.0, 0.0, 0.0, math.nan, 0.0]


@njit
def _cusum_kernel(ids, x, t, st, buf, mode, warmup, thr, a_c, a_s, a_f, drift, clip, min_scale,
                  min_rel, scores, flags, centers, scales):
    n = ids.shape[0]
    for i in range(n):
        s, late = open_point(i, ids, x, t, st, NAN, LAST, scores, flags, centers, scales)
        if s < 0:
            continue
        xi = x[i]
        if st[s, WARM] == 0.0:
            if late:
                st[s, LATE] += 1.0
                continue
            if mode == 2:
                continue
            b = int(st[s, BUFN])
            buf[s, b] = xi
            b += 1
            st[s, BUFN] = b
            st[s, LAST] = t[i]
            if np.isnan(st[s, FIRST]):
                st[s, FIRST] = t[i]
            if b >= warmup:
                med, sc = _robust_init(buf[s, :b])
                st[s, MU] = med
                st[s, SIG] = sc
                st[s, FAST] = med
                st[s, WARM] = 1.0
                st[s, N] += b
            continue
        mu = st[s, MU]
        sig = st[s, SIG]
        floor = min_rel * abs(mu)
        if floor < min_scale:
            floor = min_scale
        if sig < floor:
            sig = floor
        z = (xi - mu) / sig
        zc = z
        if zc > clip:
            zc = clip
        elif zc < -clip:
            zc = -clip
        gp = st[s, GP] + zc - drift
        if gp < 0.0:
            gp = 0.0
        gn = st[s, GN] - zc - drift
        if gn < 0.0:
            gn = 0.0
        score = gp if gp > gn else gn
        scores[i] = score
        centers[i] = mu
        scales[i] = sig
        if mode == 2:
            continue
        if late:
            st[s, LATE] += 1.0
            if mode == 0 and score >= thr:
                flags[i] = True
            continue
        st[s, LAST] = t[i]
        if mode == 0 and score >= thr:
            flags[i] = True
            # change point: restart at the recent level
            st[s, MU] = st[s, FAST]
            st[s, GP] = 0.0
            st[s, GN] = 0.0
            st[s, CHANGES] += 1.0
            continue
        st[s, GP] = gp
        st[s, GN] = gn
        lim = 3.0 * sig
        d = xi - mu
        if d > lim:
            d = lim
        elif d < -lim:
            d = -lim
        st[s, MU] = mu + a_c * d
        st[s, SIG] = st[s, SIG] + a_s * (1.2533 * abs(d) - st[s, SIG])
        st[s, FAST] = st[s, FAST] + a_f * (xi - st[s, FAST])
        st[s, N] += 1.0


@register
class ChangePointDetector(SeriesTableDetector):
    """Two-sided CUSUM on clipped robust z-scores: persistent level shifts up or down."""

    type = "changepoint"
    state_version = 1

    @dataclass
    class Config(ScaleFloorConfig):
        warmup: int = 30
        threshold: float = 12.0       # CUSUM decision interval h, in scales
        drift: float = 1.0            # allowance k per point, in scales
        clip: float = 4.0             # |z| cap per point (spikes cannot fake a shift)
        halflife: float = 360.0       # baseline centre half-life, points
        scale_halflife: float = 720.0
        fast_halflife: float = 5.0    # recent level used to restart after a change point
        high_factor: float = 0.0

        def validate(self) -> None:
            if self.warmup < 2:
                raise ValueError("warmup must be >= 2")
            if not (self.threshold > 0 and self.drift >= 0 and self.clip > self.drift):
                raise ValueError("need threshold > 0, drift >= 0 and clip > drift")
            if min(self.halflife, self.scale_halflife, self.fast_halflife) <= 0:
                raise ValueError("half-lives must be > 0")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        self.table = SeriesTable(NCOLS, cfg.warmup, _INIT)
        self._a = (halflife_alpha(cfg.halflife), halflife_alpha(cfg.scale_halflife),
                   halflife_alpha(cfg.fast_halflife))

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        ok = self._accept_mask(ex)
        ids = self.table.ids(ex.keys, ok, create=(mode != 2))
        out = [np.empty(n), np.empty(n, dtype=np.bool_), np.empty(n), np.empty(n)]
        cfg = self.config
        _cusum_kernel(ids, ex.values, ex.times, self.table.state, self.table.buf, mode, cfg.warmup,
                      cfg.threshold, *self._a, cfg.drift, cfg.clip, cfg.min_scale, cfg.min_rel_scale,
                      *out)
        return RunResult(*out)

    def is_warm(self, event: Event) -> bool:
        sid = self.table.index.get((event.entity, event.name))
        return sid is not None and self.table.state[sid, WARM] > 0

    def _finding(self, ev, score, thr, center, scale):
        f = super()._finding(ev, score, thr, center, scale)
        sid = self.table.index.get((ev.entity, ev.name))
        if sid is not None:
            row = self.table.state[sid]
            f.evidence["new_level"] = float(row[MU])    # after the restart
            f.evidence["cusum"] = score
            f.evidence["window"] = {"halflife_points": self.config.halflife,
                                    "learned_points": int(row[N]), "since": float(row[FIRST]),
                                    "change_points": int(row[CHANGES])}
        return f

    def stats(self, entity: str | None = None) -> dict:
        return {k: {"learned": int(r[N]), "nan": int(r[NAN]), "late": int(r[LATE]),
                    "changes": int(r[CHANGES]), "warm": bool(r[WARM]), "center": float(r[MU])}
                for k, r in zip(self.table.keys, self.table.state) if entity is None or k[0] == entity}
