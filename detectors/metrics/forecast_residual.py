"""The forecaster's residual scoring kernel: robust z of the forecast error, per series.

Per series one row of ``NCOL`` state columns (``SCALE``: EWMA of |residual| learned from unflagged
in-order points; ``LEARNED``: residuals learned; ``RATE``: flag rate; ``RPOS``: ring position), then
the ring of the last ``suppress`` raw scores. raw score = |residual| / (1.2533 x scale), then record
suppression over the ring and flag-rate damping, as in ``novelty``.
"""
from __future__ import annotations

from detectors.metrics.common import njit

SCALE, LEARNED, RATE, RPOS = range(4)   # residual state columns; then the ring of raw scores
NCOL = 4


@njit
def residual_kernel(sids, x, pred, sd, late, st, mode, warm_n, thr, a, floor, K, r0, a_r,
                     scores, flags):
    """Residual z per point, record suppression over the last K raw scores, flag-rate damping;
    learns the residual scale from unflagged in-order points. Late points: scored, never learned."""
    n = sids.shape[0]
    for i in range(n):
        scores[i] = 0.0
        flags[i] = False
        s = sids[i]
        if s < 0:
            continue
        r = (x[i] - pred[i]) / sd[i]
        sc = st[s, SCALE] * 1.2533
        if sc < floor:
            sc = floor
        warm = st[s, LEARNED] >= warm_n
        raw = abs(r) / sc if warm else 0.0
        out = raw
        if warm and K > 0:
            prev = 0.0
            for k in range(K):
                if st[s, NCOL + k] > prev:
                    prev = st[s, NCOL + k]
            if raw <= prev:
                out = 0.0
        damp = 1.0
        if warm and r0 > 0.0:
            rate = st[s, RATE]
            if rate > r0:
                damp = r0 / rate
            if mode != 2 and not late[i]:
                st[s, RATE] = rate + a_r * ((1.0 if out >= thr else 0.0) - rate)
        scores[i] = out * damp
        if mode == 2:
            continue
        if K > 0 and not late[i]:
            p = int(st[s, RPOS])
            st[s, NCOL + p] = raw
            st[s, RPOS] = (p + 1) % K
        if mode == 0 and warm and scores[i] >= thr:
            flags[i] = True
            continue
        if late[i]:
            continue
        ar = abs(r)
        lim = 4.0 * sc if warm else ar
        if ar > lim:
            ar = lim
        if st[s, LEARNED] == 0.0:
            st[s, SCALE] = ar
        else:
            st[s, SCALE] += a * (ar - st[s, SCALE])
        st[s, LEARNED] += 1.0
