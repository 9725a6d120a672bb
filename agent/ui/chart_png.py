"""`warden alerts explain ID --png FILE`: the alert's metric chart drawn with matplotlib, from the
same `ChartData` the web page draws (series, baseline, band, threshold, crossing points)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.event import Alert
from agent.ui.chart import ChartData


def draw_png(a: Alert, path: str | Path) -> ChartData:
    """Write the chart of `a` to `path`; ValueError when the alert carries no metric chart."""
    d = ChartData.of_alert(a)
    if d is None:
        raise ValueError(f"alert {a.id[:12]} has no metric chart (not a metric alert, or from before charts)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = [dt.datetime.fromtimestamp(t, dt.timezone.utc) for t in d.t]
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    try:
        nan = float("nan")
        lo = [b[0] if b else nan for b in d.band]
        hi = [b[1] if b else nan for b in d.band]
        ax.fill_between(ts, lo, hi, color="#cfe3ff", alpha=0.8, linewidth=0, label="typical band (±2 scales)")
        ax.plot(ts, [nan if y is None else y for y in d.baseline], color="#2f6fd6", lw=1.5, label="learned baseline")
        if d.threshold_k is not None:
            for side, label in ((1, f"threshold (±{d.threshold_k:g} scales)"), (0, None)):
                ys = [th[side] if th and th[side] is not None else nan for th in d.threshold]
                if any(y == y for y in ys):
                    ax.plot(ts, ys, color="#d6772f", lw=1.2, ls="--", label=label)
        ax.plot(ts, [nan if y is None else y for y in d.v], color="#1d2330", lw=1.4, label=d.metric or "series")
        cx = [t for t, y, c in zip(ts, d.v, d.crossed) if c and y is not None]
        cy = [y for y, c in zip(d.v, d.crossed) if c and y is not None]
        ax.scatter(cx, cy, color="#d0021b", s=18, zorder=5, label="crossed the threshold")
        ax.set_title(a.title[:110], fontsize=10)
        ax.set_xlabel("time (UTC)")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)
    return d
