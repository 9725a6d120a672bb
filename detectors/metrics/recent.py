"""A bounded window of recent points per metric series, so every metric alert carries its chart.

Each metric detector keeps, per series key, the last ``POINTS`` points it scored: time, value, the
baseline it was scored against (centre), the scale, and whether the point was flagged. The window
is snapshotted with the detector's state (``dump`` / ``load``), so a restarted replica still draws
the series leading to an alert. When a detector emits a finding, ``chart_for`` turns the window of
that series up to the finding's time into the finding's ``evidence["chart"]``:

    {"metric": "gpu.memory.used", "points": [[t, value, baseline|None, scale|None, flagged], ...],
     "threshold_k": 7.0 | None, "direction": "both", "crossings": 3}

``threshold_k`` is set when the detector's score is a z-score against the baseline (baseline,
seasonal): then ``baseline ± threshold_k * scale`` is the value the point had to cross. Other
detectors score a statistic (a trend test, a burn rate); their charts show the series, their
baseline where they have one, and the flagged points. Memory: 5 doubles per point, ``POINTS``
points per series (4.8 KB per series at 120). A batch is written in one vectorised step.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from detectors.metrics.columns import LAST_EXTRACT, extract

POINTS = 120
_W = 5          # t, value, centre, scale, flagged


class RecentPoints:
    """The last `size` scored points of every series key (entity, name[, ...]): one ring of
    `size` x 5 doubles per series in a numpy array, written a batch at a time (vectorised)."""

    def __init__(self, size: int = POINTS) -> None:
        self.size = size
        self.index: dict[tuple, int] = {}
        self.keys: list[tuple] = []
        self.buf = np.zeros((0, size, _W))
        self.pos = np.zeros(0, dtype=np.int64)      # next slot to write, per series
        self.n = np.zeros(0, dtype=np.int64)        # points held, per series

    def __len__(self) -> int:
        return len(self.keys)

    def _sid(self, key: tuple) -> int:
        sid = self.index.get(key)
        if sid is None:
            sid = self.index[key] = len(self.keys)
            self.keys.append(key)
            if sid >= self.buf.shape[0]:
                cap = max(16, 2 * self.buf.shape[0])
                self.buf = np.concatenate([self.buf, np.zeros((cap - self.buf.shape[0], self.size, _W))])
                self.pos = np.concatenate([self.pos, np.zeros(cap - len(self.pos), dtype=np.int64)])
                self.n = np.concatenate([self.n, np.zeros(cap - len(self.n), dtype=np.int64)])
        return sid

    def observe(self, keys: Sequence[tuple], times, values, centers, scales, flags, ok) -> None:
        """Append one batch (columns in stream order); rows with ok False are not metric points."""
        rows = np.flatnonzero(np.asarray(ok, dtype=bool))
        if not len(rows):
            return
        get = self.index.get
        sids = np.fromiter((get(keys[i], -1) for i in rows), dtype=np.int64, count=len(rows))
        for j in np.flatnonzero(sids < 0):
            sids[j] = self._sid(keys[rows[j]])
        order = np.argsort(sids, kind="stable")
        s = sids[order]
        rows = rows[order]
        starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
        counts = np.diff(np.r_[starts, len(s)])
        rank = np.arange(len(s)) - np.repeat(starts, counts)
        keep = rank >= np.repeat(counts, counts) - self.size      # more than a ring in one batch: the last
        uniq = s[starts]
        slots = (self.pos[s] + rank) % self.size
        s, rows, slots = s[keep], rows[keep], slots[keep]
        cols = np.column_stack([np.asarray(c, dtype=np.float64)[rows] for c in (times, values, centers, scales)]
                               + [np.asarray(flags, dtype=np.float64)[rows]])
        self.buf[s, slots] = cols
        self.pos[uniq] = (self.pos[uniq] + counts) % self.size
        self.n[uniq] = np.minimum(self.n[uniq] + counts, self.size)

    def _points(self, key: tuple) -> list[list[float]]:
        sid = self.index.get(key)
        if sid is None:
            return []
        n = int(self.n[sid])
        slots = (int(self.pos[sid]) - n + np.arange(n)) % self.size
        return self.buf[sid, slots].tolist()

    def chart_for(self, key: tuple, until: float, threshold_k: float | None, direction: str = "both") -> dict:
        """The chart evidence of `key` up to time `until` (the finding's time)."""
        pts = [p for p in self._points(key) if p[0] <= until]
        rows = [[p[0], _num(p[1]), _num(p[2]), _num(p[3]), bool(p[4])] for p in pts]
        return {"metric": str(key[1]).split("#", 1)[0], "series": "|".join(str(x) for x in key[1:]),
                "points": rows, "threshold_k": threshold_k, "direction": direction,
                "crossings": sum(1 for p in rows if p[4])}

    # state ---------------------------------------------------------------------------------------
    def dump(self, entity: str | None = None) -> list[dict[str, Any]]:
        return [{"key": list(k), "points": [[_num(x) for x in p] for p in self._points(k)]}
                for k in self.keys if entity is None or k[0] == entity]

    def load(self, rows: list[dict[str, Any]] | None, entity: str | None = None) -> None:
        if entity is None:
            self.__init__(self.size)
        else:
            self.forget(entity)
        for row in rows or ():
            key = tuple(row["key"])
            pts = np.array([[math.nan if x is None else float(x) for x in p] for p in row["points"][-self.size:]],
                           dtype=np.float64).reshape(-1, _W)
            self.observe([key] * len(pts), pts[:, 0], pts[:, 1], pts[:, 2], pts[:, 3], pts[:, 4] > 0,
                         np.ones(len(pts), dtype=bool))

    def forget(self, entity: str) -> None:
        keep = [i for i, k in enumerate(self.keys) if k[0] != entity]
        if len(keep) == len(self.keys):
            return
        self.buf, self.pos, self.n = self.buf[keep].copy(), self.pos[keep].copy(), self.n[keep].copy()
        self.keys = [self.keys[i] for i in keep]
        self.index = {k: i for i, k in enumerate(self.keys)}


class ChartWindow:
    """The hook metric detectors inherit (common.MetricDetector): `_remember(events, res)` after
    scoring a batch, `_with_chart(event, finding)` for each finding; snapshots carry `recent`."""

    #: the score is a z-score against the baseline: baseline ± threshold x scale is drawn
    chart_threshold_is_z = False

    @property
    def recent(self) -> RecentPoints:
        r = self.__dict__.get("_recent_points")
        if r is None:
            r = self.__dict__["_recent_points"] = RecentPoints()
        return r

    def chart_key(self, ev) -> tuple:
        return (ev.entity, ev.name)

    def _remember(self, events, res) -> None:
        if getattr(LAST_EXTRACT, "events", None) is events and type(self).chart_key is ChartWindow.chart_key:
            ex = LAST_EXTRACT.ex                       # the columns `_run` extracted from this batch
            keys = ex.keys
        else:
            ex = extract(events, self.event_kinds)
            keys = [self.chart_key(e) for e in events]
        self.recent.observe(keys, ex.times, ex.values, res.center, res.scale, res.flags, self._accept_mask(ex))

    def _with_chart(self, ev, f):
        k = float(self.config.threshold) if self.chart_threshold_is_z else None
        f.evidence["chart"] = self.recent.chart_for(self.chart_key(ev), f.time, k,
                                                    str(getattr(self.config, "direction", "both")))
        return f


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


