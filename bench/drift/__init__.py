"""Drift benchmarks: streaming false alarms / detection delay, and MMD cost.

    PYTHONPATH=. .venv/bin/python -m bench.drift [--runs 100] [--mmd-n 10000] [--permutations 100]

1. Streaming (detectors.drift.stream with the drift detector's defaults: window KS tests at alpha
   0.002, window 500, step 50, and a rank CUSUM per feature with 1e8 rows between false alarms):
   seeded runs over a stream of `length` rows with `features` standard-normal features and a change
   at `change` rows, where one feature shifts in mean by 0.507 sd (population KS statistic 0.20).
   Reports the share of runs with no alarm before the change (target >= 0.99), the share detected
   within 1,000 rows after it (target: all), the delay percentiles (target: median <= 200 rows)
   and the change-point estimation error.
2. MMD (detectors.drift.mmd): 10,000 x 10,000 samples, 32 features, permutation test; wall and
   process CPU time (target < 2 s on a GPU; this reports the CPU time of the machine it runs on).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy.stats import norm

from detectors.drift.mmd import mmd_test
from detectors.drift.stream import SequentialDrift


def stream_bench(runs: int = 100, length: int = 6000, change: int = 3000, features: int = 5,
                 ks: float = 0.2, reference: int = 2000, window: int = 500, step: int = 50,
                 alpha: float = 0.002, seed0: int = 0, cusum_arl: float = 1e8) -> dict:
    shift = 2 * norm.ppf(0.5 + ks / 2)  # KS distance between N(0,1) and N(shift,1)
    no_false, detected, delays, cp_err, clean = 0, 0, [], [], 0
    t0 = time.time()
    for seed in range(seed0, seed0 + runs):
        rng = np.random.default_rng(seed)
        ref = rng.normal(size=(reference, features))
        s = rng.normal(size=(length, features))
        s[change:, 0] += shift
        det = SequentialDrift({f"f{j}": ref[:, j].tolist() for j in range(features)}, window=window,
                              step=step, alpha=alpha, cusum_arl=cusum_arl)
        alarms = det.update_many({f"f{j}": float(v) for j, v in enumerate(r)} for r in s)
        if not [a for a in alarms if a["row"] < change]:
            no_false += 1
        early_f0 = any(a["row"] < change and "f0" in a["features"] for a in alarms)
        if not early_f0:
            clean += 1
        post = [a for a in alarms if a["row"] >= change and "f0" in a["features"]]
        if post and post[0]["row"] - change <= 1000:
            detected += 1
            delays.append(post[0]["row"] - change)
            cp_err.append(abs(post[0]["change_point"] - change))
    return {"runs": runs, "stream_length": length, "change_at": change, "features": features,
            "ks_shift": ks, "mean_shift_sd": round(float(shift), 4), "alpha": alpha, "cusum_arl": cusum_arl, "window": window,
            "step": step, "no_alarm_before_change": no_false / runs,
            "detected_within_1000": detected / runs,
            "detected_within_1000_of_runs_without_early_f0_alarm": detected / max(clean, 1),
            "delay_p50": float(np.percentile(delays, 50)) if delays else None,
            "delay_p95": float(np.percentile(delays, 95)) if delays else None,
            "delay_max": int(max(delays)) if delays else None,
            "change_point_abs_error_p50": float(np.median(cp_err)) if cp_err else None,
            "seconds": round(time.time() - t0, 1)}


def mmd_bench(n: int = 10000, d: int = 32, permutations: int = 100, device: str = "auto",
              approx_features: int = 0) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, d))
    Y[:, 0] += 0.1
    c0, w0 = time.process_time(), time.perf_counter()
    r = mmd_test(X, Y, permutations=permutations, device=device, approx_features=approx_features)
    r["wall_seconds"] = round(time.perf_counter() - w0, 3)
    r["process_cpu_seconds"] = round(time.process_time() - c0, 3)
    import torch
    r["torch_threads"] = torch.get_num_threads()
    return r


def main(runs: int = 100, mmd_n: int = 10000, permutations: int = 100, device: str = "auto") -> dict:
    out = {"stream": stream_bench(runs=runs)}
    print(json.dumps(out["stream"], indent=2), flush=True)
    out["mmd"] = mmd_bench(n=mmd_n, permutations=permutations, device=device)
    print(json.dumps(out["mmd"], indent=2), flush=True)
    out["mmd_rff"] = mmd_bench(n=mmd_n, permutations=permutations, device=device, approx_features=2048)
    print(json.dumps(out["mmd_rff"], indent=2), flush=True)
    return out
