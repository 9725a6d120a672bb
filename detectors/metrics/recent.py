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
baseline where they have one, and the flagged points. Memory: 5 floats per point,
``POINTS`` points per series (4.8 KB per series at 120).
"""
from __future__ import annotations

import math
from array import array
from typing import Any, Iterable, Sequence

POINTS = 120
_W = 5          # t, value, centre, scale, flagged


class _Ring:
    __slots__ = ("buf", "pos", "n")

    def __init__(self, size: int) -> None:
        self.buf = array("d", bytes(8 * _W * size))
        self.pos = 0
        self.n = 0

    def points(self, size: int) -> list[list[float]]:
        b, out = self.buf, []
        start = (self.pos - self.n) % size
        for j in range(self.n):
            i = ((start + j) % size) * _W
            out.append([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4]])
        return out


class RecentPoints:
    """The last `size` scored points of every series key (entity, name[, ...])."""

    def __init__(self, size: int = POINTS) -> None:
        self.size = size
        self._rings: dict[tuple, _Ring] = {}

    def __len__(self) -> int:
        return len(self._rings)

    def observe(self, keys: Sequence[tuple], times: Iterable[float], values: Iterable[float],
                centers: Iterable[float], scales: Iterable[float], flags: Iterable[bool],
                ok: Iterable[bool]) -> None:
        """Append one batch (columns in stream order); rows with ok False are not metric points."""
        rings, size = self._rings, self.size
        for k, t, v, c, s, f, good in zip(keys, times, values, centers, scales, flags, ok):
            if not good:
                continue
            r = rings.get(k)
            if r is None:
                r = rings[k] = _Ring(size)
            b, i = r.buf, r.pos * _W
            b[i] = t
            b[i + 1] = v
            b[i + 2] = c
            b[i + 3] = s
            b[i + 4] = 1.0 if f else 0.0
            r.pos = (r.pos + 1) % size
            if r.n < size:
                r.n += 1

    def chart_for(self, key: tuple, until: float, threshold_k: float | None, direction: str = "both") -> dict:
        """The chart evidence of `key` up to time `until` (the finding's time)."""
        r = self._rings.get(key)
        pts = [] if r is None else [p for p in r.points(self.size) if p[0] <= until]
        rows = [[p[0], _num(p[1]), _num(p[2]), _num(p[3]), bool(p[4])] for p in pts]
        return {"metric": str(key[1]).split("#", 1)[0], "series": "|".join(str(x) for x in key[1:]),
                "points": rows, "threshold_k": threshold_k, "direction": direction,
                "crossings": sum(1 for p in rows if p[4])}

    # state ---------------------------------------------------------------------------------------
    def dump(self, entity: str | None = None) -> list[dict[str, Any]]:
        return [{"key": list(k), "points": [[_num(x) for x in p] for p in r.points(self.size)]}
                for k, r in self._rings.items() if entity is None or k[0] == entity]

    def load(self, rows: list[dict[str, Any]] | None, entity: str | None = None) -> None:
        if entity is None:
            self._rings = {}
        else:
            self.forget(entity)
        for row in rows or ():
            key = tuple(row["key"])
            pts = row["points"][-self.size:]
            cols = list(zip(*pts)) if pts else [()] * _W
            self.observe([key] * len(pts), cols[0], cols[1], _nan(cols[2]), _nan(cols[3]), cols[4],
                         [True] * len(pts))

    def forget(self, entity: str) -> None:
        for k in [k for k in self._rings if k[0] == entity]:
            del self._rings[k]


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _nan(col: Iterable) -> list[float]:
    return [math.nan if x is None else float(x) for x in col]
