"""Throughput of the metric detectors: points/s on one core (prints the figures).

    python -m bench.metric_throughput [--n 200000] [--series 100] [--detectors baseline,...]
                                      [--forecast-batch 1000000 --device auto]

Events are built up front (not timed); the timed part is score_many / process over the batch.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def make_events(n: int, series: int, seed: int = 0):
    from core.event import Event
    rng = np.random.default_rng(seed)
    vals = 50 + 5 * rng.standard_normal(n)
    per = max(1, n // series)
    evs = []
    for i in range(n):
        s = i % series
        evs.append(Event(id=str(i), time=60.0 * (i // series), kind="metric", source="bench/x",
                         entity=f"node-{s}", name="gpu.utilization", value=float(vals[i])))
    return evs


def measure(detector, events, repeat: int = 3) -> dict:
    half = len(events) // 2
    detector.process(events[:half])         # warm up state (and compile kernels)
    detector.score_many(events[half:half + 100])
    best_score = best_proc = float("inf")
    rest = events[half:]
    for _ in range(repeat):
        t0 = time.perf_counter()
        detector.score_many(rest)
        best_score = min(best_score, time.perf_counter() - t0)
    snap = detector.snapshot()
    for _ in range(repeat):
        detector.restore(snap)
        t0 = time.perf_counter()
        detector.process(rest)
        best_proc = min(best_proc, time.perf_counter() - t0)
    return {"score_many_pps": len(rest) / best_score, "process_pps": len(rest) / best_proc}


def measure_forecast_batch(n: int = 1_000_000, device: str = "auto", repeat: int = 3) -> dict:
    """Batched inference of the torch forecaster alone: windows -> predictions (points/s)."""
    import torch
    from detectors.metrics.forecast import ForecastDetector, build_net
    det = ForecastDetector("forecast/bench", device=device)
    det.net = build_net(det.config.window, det.config.hidden)
    det.net.eval()
    rng = np.random.default_rng(0)
    W = 50 + 5 * rng.standard_normal((n, det.config.window))
    det.predict(W[:1000])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        det.predict(W)
        if det.torch_device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return {"device": det.torch_device, "points": n, "pps": n / best}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--detectors", default="baseline")
    ap.add_argument("--forecast-batch", type=int, default=0,
                    help="also time the torch forecaster's batched inference on this many windows")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    from core import registry
    events = make_events(args.n, args.series)
    out = {}
    for typ in args.detectors.split(","):
        det = registry.get("detector", typ)(f"{typ}/bench")
        r = measure(det, events)
        out[typ] = r
        print(f"{typ:>16}: score_many {r['score_many_pps']:>12,.0f} points/s   "
              f"process {r['process_pps']:>12,.0f} points/s   ({len(events) // 2} points, {args.series} series)")
    if args.forecast_batch:
        r = measure_forecast_batch(args.forecast_batch, args.device)
        out["forecast_batch"] = r
        print(f"{'forecast batch':>16}: {r['pps']:>12,.0f} points/s batched inference on {r['device']} "
              f"({r['points']:,} windows)")
    return out


if __name__ == "__main__":
    main()
