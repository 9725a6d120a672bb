"""The opening every per-series kernel shares for one point of a batch (numba, inside a kernel).

A kernel walks a batch point by point; each point first gets its outputs reset (score 0, not
flagged, no baseline), is skipped when it belongs to no series of the detector (``ids[i] < 0``:
another kind, another metric name) and is counted and skipped when its value is not finite (the
series' NaN column). A point earlier than the series' last learned time is *late*: scored, never
learned. The caller names its own state columns (``nan_col``, ``last_col``).
"""
from __future__ import annotations

import numpy as np

from detectors.metrics.common import njit


@njit
def open_point(i, ids, x, t, st, nan_col, last_col, scores, flags, centers, scales):
    """Reset point i's outputs; return (series row, late), the row -1 when the point is skipped
    (not this detector's series, or a non-finite value, then counted in st[row, nan_col])."""
    scores[i] = 0.0
    flags[i] = False
    centers[i] = np.nan
    scales[i] = np.nan
    s = ids[i]
    if s < 0:
        return -1, False
    if not np.isfinite(x[i]):
        st[s, nan_col] += 1.0
        return -1, False
    return s, t[i] < st[s, last_col]
