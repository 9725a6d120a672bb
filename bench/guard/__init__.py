"""Prompt-guard benchmark: detection quality and inline latency.

    PYTHONPATH=. .venv/bin/python -m bench.guard ../shared/data/prompts/prompt_injection_dev.jsonl \
        [--holdout-source neuralchemy] [--requests 1000] [--rate 50] [--threads 1]

Quality of the shipped artifact on the rows of the data set's `/validation` sources (never used
for its training: the artifact records the sources it was trained on and this is checked):
balanced accuracy, per-class accuracy, per source, share of requests that used the embedding stage.

Out-of-source (`--holdout-source S`): trains a model without any row whose source starts with S
(detectors.guard.train, ~2-4 min on 2 CPU cores) and measures it on all of S's rows.

Latency: `requests` single requests through `PromptGuard.decide`, paced at `rate` requests/s
(open loop: each request starts at its scheduled time), texts drawn from the evaluation rows;
p50 / p90 / p99 / max in ms, overall and by stage.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from detectors.guard.guard import PromptGuard
from detectors.guard.train import balanced_accuracy, load_rows


def quality(guard: PromptGuard, rows: list[dict]) -> dict[str, Any]:
    texts = [r["text"] for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    t0 = time.perf_counter()
    scored = guard.score_many(texts)
    secs = time.perf_counter() - t0
    s = np.array([1.0 if x is None else x for x, _ in scored])
    emb = np.array(["embedding stage" in why for _, why in scored])
    pred = s >= guard.threshold
    out = balanced_accuracy(pred, y)
    out["embedding_stage_share"] = float(emb.mean()) if len(emb) else 0.0
    out["threshold"] = guard.threshold
    out["batch_seconds"] = round(secs, 2)
    srcs = sorted({r.get("source", "") for r in rows})
    out["by_source"] = {}
    for src in srcs:
        m = np.array([r.get("source", "") == src for r in rows])
        out["by_source"][src] = balanced_accuracy(pred[m], y[m])
    return out


def latency(guard: PromptGuard, texts: list[str], requests: int = 1000, rate: float = 50.0,
            seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pick = [texts[i] for i in rng.integers(0, len(texts), requests)]
    guard.warmup()
    for t in pick[:20]:  # warm caches
        guard.decide({"prompt": t})
    lat, cpu, stages = [], [], []
    period = 1.0 / rate
    start = time.perf_counter() + 0.05
    for i, t in enumerate(pick):
        due = start + i * period
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        c0 = time.thread_time()
        t0 = time.perf_counter()
        res = guard.decide({"prompt": t, "client_id": "bench"})
        lat.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)
        stages.append(res.get("stage"))
    lat_a = np.array(lat)

    def pct(a):
        return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
                "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3), "n": int(len(a))}

    cpu_a = np.array(cpu)
    # wall-clock latency is what a caller sees; CPU time of the calling thread (torch's intra-op
    # threads excluded) shows how much of it is waiting for a core on a shared machine
    out = {"requests": requests, "rate_per_s": rate, "all": pct(lat_a), "cpu_ms": pct(cpu_a),
           "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None, "by_stage": {}}
    for st in sorted(set(stages)):
        m = np.array([s == st for s in stages])
        out["by_stage"][st] = pct(lat_a[m])
    return out


def main(data: str | Path, *, holdout_source: str | None = None, requests: int = 1000, rate: float = 50.0,
         threads: int = 1, limit: int | None = None, model_path: str | None = None,
         train_kwargs: dict | None = None) -> dict[str, Any]:
    """Run the benchmark; returns (and the CLI prints) a dict of the measurements."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    rows = load_rows(data)
    guard = PromptGuard(model_path, torch_threads=threads)
    trained_on = set(guard.model.meta.get("sources_trained", []))
    evals = [r for r in rows if str(r.get("source", "")).endswith("/validation")]
    if not evals:
        raise ValueError("no rows with a '/validation' source to evaluate on")
    overlap = trained_on & {r["source"] for r in evals}
    if overlap:
        raise ValueError(f"artifact was trained on the evaluation sources {sorted(overlap)}")
    if limit:
        rng = np.random.default_rng(0)
        evals = [evals[i] for i in sorted(rng.choice(len(evals), min(limit, len(evals)), replace=False))]
    out: dict[str, Any] = {"model_version": guard.model_version, "artifact_trained_on": sorted(trained_on),
                           "in_source": quality(guard, evals)}
    if holdout_source:
        with tempfile.TemporaryDirectory() as td:
            from detectors.guard import train
            p = Path(td) / "guard_holdout.bin"
            kw = dict(progress=False, threads=threads or None)
            kw.update(train_kwargs or {})
            res = train.main(data, p, holdout_source=holdout_source, **kw)
            g2 = PromptGuard(p)
            hold = [r for r in rows if str(r.get("source", "")).startswith(holdout_source)]
            if limit:
                rng = np.random.default_rng(1)
                hold = [hold[i] for i in sorted(rng.choice(len(hold), min(limit, len(hold)), replace=False))]
            ins = [r for r in evals if not str(r.get("source", "")).startswith(holdout_source)]
            out["out_of_source"] = {"holdout_source": holdout_source,
                                    "trained_on": g2.model.meta.get("sources_trained"),
                                    "holdout": quality(g2, hold),
                                    "in_source_without_holdout": quality(g2, ins) if ins else None,
                                    "train_seconds": res.get("seconds")}
    if requests > 0:
        out["latency"] = latency(guard, [r["text"] for r in evals], requests=requests, rate=rate)
        out["latency"]["torch_threads"] = threads
    return out


def _cli(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.guard")
    ap.add_argument("data")
    ap.add_argument("--holdout-source", default=None)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--embed-cache", default=None,
                    help="npy file of the data set's embeddings (encoder settings of the trainer) reused "
                         "by the holdout training; written on first use")
    a = ap.parse_args(argv)
    res = main(a.data, holdout_source=a.holdout_source, requests=a.requests, rate=a.rate, threads=a.threads,
               limit=a.limit, model_path=a.model,
               train_kwargs={"embed_cache": a.embed_cache} if a.embed_cache else None)
    print(json.dumps(res, indent=2))
    return 0
