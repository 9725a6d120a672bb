"""The metric chart of an alert, from its `evidence.chart` (detectors/metrics/recent.py): the
series, the learned baseline, the typical band (baseline ± 2 scales), the threshold the score
crossed (baseline ± threshold x scale, for z-score detectors) and the points that crossed it.

`ChartData` is the one reading of that evidence; `svg_geometry` turns it into SVG coordinates
(drawn on the server: the page needs no charting script, and what is drawn is in the HTML, where
tests read it), `agent/ui/chart_png.py` draws the same data with matplotlib for the CLI.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

BAND_SCALES = 2.0


@dataclass
class ChartData:
    metric: str
    t: list[float]
    v: list[float | None]
    baseline: list[float | None]
    band: list[tuple[float, float] | None]           # (low, high) per point
    threshold: list[tuple[float | None, float | None] | None]   # (low, high) per point, by direction
    crossed: list[bool]
    threshold_k: float | None
    direction: str

    @classmethod
    def of_alert(cls, alert) -> "ChartData | None":
        ch = chart_evidence(alert)
        return cls.from_evidence({"chart": ch}) if ch is not None else None

    @classmethod
    def from_evidence(cls, evidence: dict[str, Any]) -> "ChartData | None":
        ch = evidence.get("chart") if isinstance(evidence, dict) else None
        if not isinstance(ch, dict) or not isinstance(ch.get("points"), list) or not ch["points"]:
            return None
        k = _f(ch.get("threshold_k"))
        direction = str(ch.get("direction") or "both")
        t, v, base, band, thr, crossed = [], [], [], [], [], []
        for p in ch["points"]:
            if not isinstance(p, (list, tuple)) or len(p) < 5 or _f(p[0]) is None:
                continue
            c, s = _f(p[2]), _f(p[3])
            t.append(_f(p[0]))
            v.append(_f(p[1]))
            base.append(c)
            band.append((c - BAND_SCALES * s, c + BAND_SCALES * s) if c is not None and s is not None else None)
            if k is not None and c is not None and s is not None:
                thr.append((c - k * s if direction in ("both", "down") else None,
                            c + k * s if direction in ("both", "up") else None))
            else:
                thr.append(None)
            crossed.append(bool(p[4]))
        if not t:
            return None
        return cls(str(ch.get("metric") or evidence.get("metric") or ""), t, v, base, band, thr, crossed, k,
                   direction)


@dataclass
class Geometry:
    width: int
    height: int
    series: str                  # SVG path
    series_n: int
    baseline: str
    band: str
    threshold_high: str
    threshold_low: str
    crossings: list[dict[str, Any]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, float]] = field(default_factory=list)   # (x, epoch seconds)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)                       # left, top, right, bottom


def svg_geometry(d: ChartData, width: int = 820, height: int = 280) -> Geometry:
    left, top, right, bottom = 78, 12, width - 28, height - 28
    ys = [y for y in d.v if y is not None] + [y for y in d.baseline if y is not None]
    ys += [y for b in d.band if b for y in b]
    ys += [y for th in d.threshold if th for y in th if y is not None]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    t0, t1 = d.t[0], d.t[-1]
    span = (t1 - t0) or 1.0

    def X(t: float) -> float:
        return round(left + (t - t0) / span * (right - left), 2)

    def Y(y: float) -> float:
        return round(bottom - (y - lo) / (hi - lo) * (bottom - top), 2)

    def path(vals: list[float | None]) -> str:
        out, pen = [], False
        for t, y in zip(d.t, vals):
            if y is None:
                pen = False
                continue
            out.append(f"{'L' if pen else 'M'}{X(t)},{Y(y)}")
            pen = True
        return " ".join(out)

    band = ""
    run: list[tuple[float, tuple[float, float]]] = []
    for t, b in list(zip(d.t, d.band)) + [(0.0, None)]:
        if b is not None:
            run.append((t, b))
            continue
        if run:
            upper = " ".join(f"{X(t_)},{Y(b_[1])}" for t_, b_ in run)
            lower = " ".join(f"{X(t_)},{Y(b_[0])}" for t_, b_ in reversed(run))
            band += f"M{upper.replace(' ', ' L')} L{lower.replace(' ', ' L')} Z "
            run = []
    crossings = [{"x": X(t), "y": Y(y), "t": t, "v": y} for t, y, c in zip(d.t, d.v, d.crossed) if c and y is not None]
    y_ticks = [(Y(lo + (hi - lo) * i / 4), _tick(lo + (hi - lo) * i / 4)) for i in range(5)]
    x_ticks = [(X(t0 + span * i / 4), t0 + span * i / 4) for i in range(5)]
    return Geometry(width, height, path(d.v), sum(1 for y in d.v if y is not None), path(d.baseline), band.strip(),
                    path([th[1] if th else None for th in d.threshold]),
                    path([th[0] if th else None for th in d.threshold]), crossings, y_ticks, x_ticks,
                    (left, top, right, bottom))


def _tick(v: float) -> str:
    return f"{v:.4g}"


def _f(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def chart_evidence(alert) -> dict[str, Any] | None:
    """The stored chart an alert is drawn with. A metric anomaly folded into the AI-platform alert
    that explains it (leak, straggler, SLO burn) keeps its chart in its step: the first chart that
    carries a learned band (a point with a scale) wins, the alert's own before its steps' (latest
    step first); without any band, the first chart found."""
    found: list[dict[str, Any]] = []
    for ev in (alert.evidence, *((st.get("evidence") or {}) for st in reversed(alert.steps))):
        ch = ev.get("chart") if isinstance(ev, dict) else None
        if isinstance(ch, dict) and isinstance(ch.get("points"), list) and ch["points"]:
            found.append(ch)
    for ch in found:
        if any(isinstance(p, (list, tuple)) and len(p) >= 5 and p[3] is not None for p in ch["points"]):
            return ch
    return found[0] if found else None
