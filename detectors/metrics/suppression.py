"""Per-point record suppression and flag-rate calibration, for use inside the detectors' kernels.

``common.suppress_and_calibrate`` does the same over a run of scores of one series; these two do
it one point at a time on a ``SeriesTable`` row (state column indices given by the caller), so a
kernel that decides flags and learning point by point (novelty, discord) can share them.
"""
from __future__ import annotations

from detectors.metrics.common import njit


@njit
def suppress_damp(raw, ring, K, st, s, col, r0, a_r, thr, update):
    """One point of record suppression + flag-rate calibration inside a kernel: `raw` if it beats
    the last K raw scores in `ring` else 0, times min(1, r0 / rate); the rate (st[s, col], EWMA of
    undamped outputs >= thr) advances when `update`. The ring itself is advanced by the caller."""
    prev = 0.0
    for k in range(K):
        if ring[k] > prev:
            prev = ring[k]
    out = raw if raw > prev else 0.0
    if r0 > 0.0:
        rate = st[s, col]
        damp = 1.0 if rate <= r0 else r0 / rate
        if update:
            st[s, col] = rate + a_r * ((1.0 if out >= thr else 0.0) - rate)
        out = out * damp
    return out

@njit
def push_ring(ring, K, st, s, col, raw):
    """Remember an in-order point's raw score in the suppression ring (position in st[s, col])."""
    if K > 0:
        rp = int(st[s, col])
        ring[rp] = raw
        st[s, col] = (rp + 1) % K
