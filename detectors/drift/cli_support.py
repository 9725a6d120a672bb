"""Offline drift functions for the `warden` CLI.

    check(reference_csv, current_csv) -> report
    stream(reference_csv, stream_csv) -> report with the rows where alarms fired

Both read CSV with a header (or JSON lines, by extension); numeric cells become numbers, empty /
NA cells missing, other cells categories (detectors.drift.data).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detectors.drift import stats as S
from detectors.drift.data import read_columns, read_rows
from detectors.drift.stream import SequentialDrift


def _mmd(ref: dict[str, list], cur: dict[str, list], permutations: int, max_samples: int,
         device: str) -> dict | None:
    num = [k for k in ref if k in cur and S.column_type(ref[k]) == "numeric" and S.column_type(cur[k]) == "numeric"]
    if len(num) < 2 or permutations <= 0:
        return None

    def mat(cols):
        n = len(cols[num[0]])
        X = np.array([[cols[k][i] if S.is_number(cols[k][i]) else np.nan for k in num] for i in range(n)], float)
        return X[np.isfinite(X).all(1)]

    X, Y = mat(ref), mat(cur)
    if len(X) < 10 or len(Y) < 10:
        return {"error": "fewer than 10 complete numeric rows on one side", "features_used": num}
    rng = np.random.default_rng(0)
    if len(X) > max_samples:
        X = X[rng.choice(len(X), max_samples, replace=False)]
    if len(Y) > max_samples:
        Y = Y[rng.choice(len(Y), max_samples, replace=False)]
    from detectors.drift.mmd import mmd_test
    r = mmd_test(X, Y, permutations=permutations, device=device)
    r["features_used"] = num
    return r


def check(reference_csv: str | Path, current_csv: str | Path, *, alpha: float = 0.05,
          correction: str = "holm", mmd_permutations: int = 200, mmd_max_samples: int = 5000,
          device: str = "auto", min_samples: int = 20, progress: bool = False) -> dict[str, Any]:
    """Batch drift report of `current_csv` against `reference_csv`.

    {"drift": bool, "drifted_features": [...], "alpha", "correction", "n_reference", "n_current",
     "features": {name: {type, test (ks | chi2), statistic, p_value, p_adjusted, drift, psi, js,
                         cvm_statistic, cvm_p_value, mean_reference, mean_current, status, ...}},
     "multivariate": {"test": "mmd", "mmd2", "p_value", "permutations", ...} | None}
    `drift` is true when any feature's corrected p-value is below alpha or the MMD test rejects.
    `progress`: a bar over the three steps (read, per-feature tests, MMD) on a terminal.
    """
    from core.progress import Bar
    with Bar("drift check", 3, enabled=progress) as bar:
        bar.describe("reading")
        ref = read_columns(reference_csv)
        cur = read_columns(current_csv)
        if not ref:
            raise ValueError(f"{reference_csv}: no rows")
        if not cur:
            raise ValueError(f"{current_csv}: no rows")
        bar.update(1)
        bar.describe("per-feature tests")
        rep = S.feature_report(ref, cur, alpha=alpha, correction=correction, min_samples=min_samples)
        bar.update(1)
        bar.describe("MMD test")
        mv = _mmd(ref, cur, mmd_permutations, mmd_max_samples, device)
        bar.update(1)
    rep["n_reference"] = len(next(iter(ref.values())))
    rep["n_current"] = len(next(iter(cur.values())))
    rep["multivariate"] = mv
    if mv and "p_value" in mv and mv["p_value"] < alpha:
        rep["drift"] = True
    rep["reference"], rep["current"] = str(reference_csv), str(current_csv)
    return rep


def stream(reference_csv: str | Path, stream_csv: str | Path, *, window: int = 500, step: int = 50,
           alpha: float = 0.01, correction: str = "holm", min_samples: int = 30,
           progress: bool = False) -> dict[str, Any]:
    """Sequential drift detection over the rows of `stream_csv` (0-based data-row indexes).

    {"rows": n, "alarms": [{"row": index where the alarm fired, "change_point": estimated first
      drifted row, "features": [...], "p_values": {feature: adjusted p}, "statistics": {...},
      "tests": {...}}], "drifting_features": [...], "alpha", "window", "step", "tests_run"}
    The false-alarm probability over the whole stream is at most `alpha` (alpha spending).
    `progress`: a bar over the stream's rows on a terminal.
    """
    from core.progress import track
    ref = read_columns(reference_csv)
    if not ref:
        raise ValueError(f"{reference_csv}: no rows")
    rows = read_rows(stream_csv)
    if len(ref) and len(next(iter(ref.values()))) < min_samples:
        raise ValueError(f"{reference_csv}: needs at least {min_samples} rows")
    det = SequentialDrift(ref, window=window, step=step, alpha=alpha, correction=correction,
                          min_samples=min_samples)
    alarms = []
    for a in det.update_many(track(rows, "drift stream", enabled=progress)):
        alarms.append({"row": a["row"], "change_point": a["change_point"], "features": a["features"],
                       "p_values": {f: a["results"][f]["p_adjusted"] for f in a["features"]},
                       "statistics": {f: a["results"][f]["statistic"] for f in a["features"]},
                       "tests": {f: a["results"][f]["test"] for f in a["features"]},
                       "level": a["level"]})
    missing = sorted(set(ref) - {k for r in rows[:1000] for k in r})
    return {"rows": len(rows), "alarms": alarms, "drift": bool(alarms),
            "drifting_features": sorted(det.drifting), "alpha": alpha, "window": window, "step": step,
            "tests_run": det.k, "features_monitored": sorted(det.reference),
            "features_missing_in_stream": missing,
            "reference": str(reference_csv), "stream": str(stream_csv)}
