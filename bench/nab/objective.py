"""The training objective of the leave-one-group-out search: the mean of the per-group NAB scores.

The figure that counts is the mean of the held-out groups' scores, each group normalised on its
own; tuning on the pooled training files instead would weigh each group by its number of windows
(realTweets: half of them) and choose thresholds for that group. ``best_mean`` sweeps one
threshold over the union of the training groups' distinct scores and maximises

    (sum over groups with windows of their normalised score + the groups without windows' false
     positive cost, scaled like an average group) / number of groups with windows

A group without windows has no normalised score (perfect = null = 0); its raw cost (<= 0) is scaled
by the mean 100 / (perfect - null) of the other groups, so its false positives still count.
"""
from __future__ import annotations

import numpy as np

from bench.nab.scorer import FileLayout, Profile, null_score, perfect_score, sweep

Group = tuple[list[FileLayout], list[np.ndarray]]


def best_mean(groups: list[Group], prof: Profile) -> tuple[float, float]:
    """(objective, threshold) at the best threshold; ties go to the highest threshold."""
    curves, scales, offsets, windowed = [], [], [], []
    for lays, units in groups:
        thr, val = sweep(lays, units, prof)
        null, perfect = null_score(lays, prof), perfect_score(lays, prof)
        curves.append((thr, val))
        has = perfect != null
        windowed.append(has)
        scales.append(100.0 / (perfect - null) if has else np.nan)
        offsets.append(null if has else 0.0)
    n = sum(windowed)
    if n == 0:
        raise ValueError("no training group has an anomaly window")
    mean_scale = float(np.nanmean(scales))
    cand = np.unique(np.concatenate([c[0] for c in curves]))[::-1]      # descending, +inf first
    total = np.zeros(len(cand))
    for (thr, val), sc, off, has in zip(curves, scales, offsets, windowed):
        raw = val[np.searchsorted(-thr, -cand, side="right") - 1]
        total += (raw - off) * (sc if has else mean_scale)
    k = int(np.argmax(total))
    return float(total[k] / n), float(cand[k])
