"""The NAB score, implemented from the published procedure (Lavin & Ahmad, 2015; NAB v1.1).

Per data file:
- probation: the first ``min(floor(0.15 * n), 0.15 * 5000)`` rows are ignored entirely;
- each labelled window (from ``combined_windows.json``; the windows already hold the file's 10%
  window length split across its anomalies) is worth at most ``tpWeight``: the *earliest*
  detection in it scores ``tpWeight * sigma(pos) / sigma(-1)`` with ``pos = -(right - i + 1) / width``
  and ``sigma(p) = 2 / (1 + exp(5 p)) - 1`` (``-1`` for ``p >= 3``); later detections in the same
  window add nothing; a window with no detection costs ``-fnWeight``;
- a detection outside every window costs ``fpWeight * sigma(|i - prev_right| / (prev_width - 1))``
  relative to the previous window's right edge (``-fpWeight`` when no window precedes it).

A point is a detection when ``anomaly_score >= threshold``. The threshold is swept over every
distinct score of the whole corpus (exact sweep, per profile) and the best is kept. The corpus
score is normalised as ``100 * (raw - null) / (perfect - null)``: ``perfect`` detects every window
at its left edge, ``null`` is a constant-score detector at its own best threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

PROBATION_PERCENT = 0.15


def scaled_sigmoid(pos):
    pos = np.asarray(pos, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = 2.0 / (1.0 + np.exp(5.0 * pos)) - 1.0
    return np.where(pos >= 3.0, -1.0, out)


MAX_TP = float(scaled_sigmoid(-1.0))


def probation_length(n: int, percent: float = PROBATION_PERCENT) -> int:
    """Rows ignored at the start of a file (NAB: 15% of the file, at most 750 rows)."""
    return int(min(math.floor(percent * n), percent * 5000))


@dataclass
class FileLayout:
    """Per-row geometry of one file: in-window sigmoid, FP sigmoid, window index, scorable."""
    name: str
    n: int
    windows: list[tuple[int, int]]       # inclusive row ranges
    tp_unit: np.ndarray                  # sigma(pos)/sigma(-1) inside windows, 0 elsewhere
    fp_unit: np.ndarray                  # sigma(pos past previous window) outside windows (<= 0)
    window: np.ndarray                   # window index in this file, -1 outside
    scorable: np.ndarray                 # False in the probationary period
    labels: np.ndarray = field(default=None)

    @property
    def scorable_windows(self) -> list[int]:
        return sorted(set(self.window[self.scorable & (self.window >= 0)].tolist()))


def layout(name: str, n: int, windows: list[tuple[int, int]]) -> FileLayout:
    """Compute the row geometry of a file with ``n`` rows and inclusive window row ranges."""
    windows = sorted((int(a), int(b)) for a, b in windows)
    tp_unit = np.zeros(n)
    fp_unit = np.full(n, -1.0)
    win = np.full(n, -1, dtype=np.int64)
    idx = np.arange(n)
    prev_right, prev_width = None, None
    starts = [a for a, _ in windows] + [n]
    cursor = 0
    for w, (a, b) in enumerate(windows):
        # outside rows before this window
        seg = idx[cursor:a]
        if prev_right is not None and len(seg):
            fp_unit[cursor:a] = scaled_sigmoid(np.abs(prev_right - seg) / float(max(prev_width - 1, 1)))
        width = float(b - a + 1)
        inside = idx[a:b + 1]
        tp_unit[a:b + 1] = scaled_sigmoid(-(b - inside + 1) / width) / MAX_TP
        fp_unit[a:b + 1] = 0.0
        win[a:b + 1] = w
        prev_right, prev_width = b, width
        cursor = b + 1
    seg = idx[cursor:]
    if prev_right is not None and len(seg):
        fp_unit[cursor:] = scaled_sigmoid(np.abs(prev_right - seg) / float(max(prev_width - 1, 1)))
    scorable = idx >= probation_length(n)
    labels = (win >= 0).astype(np.int64)
    del starts
    return FileLayout(name, n, windows, tp_unit, fp_unit, win, scorable, labels)


def window_rows(timestamps: np.ndarray, windows: list[tuple]) -> list[tuple[int, int]]:
    """Map window (start, end) datetimes to inclusive row ranges (first row >= start, last <= end)."""
    out = []
    for a, b in windows:
        lo = int(np.searchsorted(timestamps, np.datetime64(a), side="left"))
        hi = int(np.searchsorted(timestamps, np.datetime64(b), side="right")) - 1
        if hi >= lo:
            out.append((lo, hi))
    return out


@dataclass
class Profile:
    name: str
    tp: float
    fp: float
    fn: float
    tn: float = 1.0

    @classmethod
    def from_json(cls, name: str, d: dict) -> "Profile":
        cm = d.get("CostMatrix", d)
        return cls(name, float(cm["tpWeight"]), float(cm["fpWeight"]), float(cm["fnWeight"]),
                   float(cm.get("tnWeight", 1.0)))


def file_score(lay: FileLayout, scores: np.ndarray, threshold: float, prof: Profile) -> dict:
    """Raw NAB score of one file at a threshold, with tp/fp/fn counts (windows for tp/fn)."""
    det = (np.asarray(scores) >= threshold) & lay.scorable
    fp_rows = det & (lay.window < 0)
    raw = float(np.sum(lay.fp_unit[fp_rows]) * prof.fp)
    tp = fn = 0
    for w in lay.scorable_windows:
        rows = np.flatnonzero(det & (lay.window == w))
        if len(rows):
            raw += prof.tp * float(lay.tp_unit[rows[0]])   # earliest detection = highest weight
            tp += 1
        else:
            raw -= prof.fn
            fn += 1
    return {"raw": raw, "tp": tp, "fn": fn, "fp": int(fp_rows.sum())}


def sweep(layouts: list[FileLayout], scores: list[np.ndarray], prof: Profile):
    """Exact threshold sweep over the corpus. Returns (thresholds desc, raw scores) where the raw
    score at thresholds[k] counts every point with score >= thresholds[k]; thresholds[0] = +inf."""
    keys, deltas = [], []
    base = 0.0
    for lay, s in zip(layouts, scores):
        s = np.asarray(s, dtype=np.float64)
        m = lay.scorable
        out = m & (lay.window < 0)
        keys.append(s[out])
        deltas.append(lay.fp_unit[out] * prof.fp)
        for w in lay.scorable_windows:
            rows = np.flatnonzero(m & (lay.window == w))
            base -= prof.fn
            ws, wv = s[rows], lay.tp_unit[rows] * prof.tp
            order = np.argsort(-ws, kind="stable")
            ws, wv = ws[order], wv[order]
            best = np.maximum.accumulate(np.concatenate(([-prof.fn], wv)))
            d = np.diff(best)
            keep = d != 0
            keys.append(ws[keep])
            deltas.append(d[keep])
    k = np.concatenate(keys) if keys else np.zeros(0)
    d = np.concatenate(deltas) if deltas else np.zeros(0)
    order = np.argsort(-k, kind="stable")
    k, d = k[order], d[order]
    cum = np.cumsum(d)
    if len(k):
        last = np.r_[k[1:] != k[:-1], True]        # last row of each distinct score
        thr = k[last]
        val = base + cum[last]
    else:
        thr, val = np.zeros(0), np.zeros(0)
    return np.r_[np.inf, thr], np.r_[base, val]


def perfect_score(layouts: list[FileLayout], prof: Profile) -> float:
    return prof.tp * sum(len(l.scorable_windows) for l in layouts)


def null_score(layouts: list[FileLayout], prof: Profile) -> float:
    _, vals = sweep(layouts, [np.full(l.n, 0.5) for l in layouts], prof)
    return float(vals.max())


def normalise(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def score_corpus(layouts: list[FileLayout], scores: list[np.ndarray], prof: Profile,
                 threshold: float | None = None) -> dict:
    """Best-threshold (``threshold=None``) or fixed-threshold NAB score of a corpus for a profile."""
    null, perfect = null_score(layouts, prof), perfect_score(layouts, prof)
    if threshold is None:
        thr, vals = sweep(layouts, scores, prof)
        k = int(np.argmax(vals))                   # the highest threshold reaching the best score
        threshold = float(thr[k])
    per_file = {l.name: file_score(l, s, threshold, prof) for l, s in zip(layouts, scores)}
    raw = sum(v["raw"] for v in per_file.values())
    return {"profile": prof.name, "threshold": threshold, "raw": raw, "null": null,
            "perfect": perfect, "score": normalise(raw, null, perfect),
            "tp": sum(v["tp"] for v in per_file.values()),
            "fn": sum(v["fn"] for v in per_file.values()),
            "fp": sum(v["fp"] for v in per_file.values()), "files": per_file}
