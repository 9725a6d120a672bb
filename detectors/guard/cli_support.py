"""Offline guard functions for the `warden` CLI."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from detectors.guard.guard import PromptGuard

BATCH = 256


def score_file(in_path: str | Path, out_path: str | Path, threshold: float | None = None, *,
               guard: PromptGuard | None = None) -> dict[str, Any]:
    """Score a JSON-lines file of prompts.

    Each input line is an object with a `text` field; the same object is written to `out_path`
    with `score` (calibrated, 0..1) and `blocked` (score >= threshold; default threshold: the
    model's) added. Lines that cannot be scored (not JSON, no text, empty / binary / oversize text)
    get `score: null`, `blocked` per the guard's fail policy (closed: true) and `error`.
    Returns {"rows", "blocked", "errors", "threshold", "out"}.
    """
    g = guard or PromptGuard(threshold=threshold)
    thr = g.threshold if threshold is None else float(threshold)
    if not 0.0 <= thr <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    fail_blocked = g.on_error == "deny"
    stats = {"rows": 0, "blocked": 0, "errors": 0}

    def flush(batch: list, fh) -> None:
        texts = [r.get("text") if isinstance(r, dict) else None for r, _ in batch]
        scored = g.score_many([t if t is not None else None for t in texts])
        for (rec, err), (s, reason) in zip(batch, scored):
            if err is not None or s is None:
                msg = err or reason or "no text"
                if not isinstance(rec, dict):
                    rec = {"line": rec}
                rec = dict(rec, score=None, blocked=fail_blocked, error=msg)
                stats["errors"] += 1
            else:
                rec = dict(rec, score=round(float(s), 6), blocked=bool(s >= thr))
            stats["blocked"] += int(rec["blocked"])
            stats["rows"] += 1
            fh.write(orjson.dumps(rec) + b"\n")
        batch.clear()

    batch: list = []
    with open(in_path, "rb") as fin, open(out_path, "wb") as fout:
        for n, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                batch.append((n, f"line {n}: invalid JSON: {e}"))
                continue
            if not isinstance(rec, dict):
                batch.append((rec, f"line {n}: not a JSON object"))
            elif "text" not in rec:
                batch.append((rec, f"line {n}: no text field"))
            else:
                batch.append((rec, None))
            if len(batch) >= BATCH:
                flush(batch, fout)
        if batch:
            flush(batch, fout)
    return dict(stats, threshold=thr, out=str(out_path))
