"""Offline guard functions for the `warden` CLI."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson

from detectors.guard.guard import PromptGuard
from detectors.guard.inputs import GuardInputError, Part, prompt_parts

BATCH = 256


@dataclass
class ScoreFileResult:
    rows: int = 0
    blocked: int = 0
    threshold: float = 0.5
    out: str = ""
    failed: list[str] = field(default_factory=list)     # "line N: reason", one per line not scored

    @property
    def errors(self) -> int:
        return len(self.failed)


def score_file(in_path: str | Path, out_path: str | Path, threshold: float | None = None, *,
               guard: PromptGuard | None = None, on_rows: Callable[[int], None] | None = None) -> ScoreFileResult:
    """Score a JSON-lines file of requests.

    Each line is an object with `text`, `prompt` (or `input`) or an OpenAI-style `messages` array;
    the same object is written to `out_path` with `score` (calibrated, 0..1, the highest over its
    scored messages) and `blocked` (score >= threshold; default: the model's) added. A line that
    cannot be scored (not JSON, not an object, no text field, empty / binary / oversize / wrongly
    typed text) gets `score: null`, `blocked` per the guard's fail policy (closed: true) and
    `error` = "line N: reason", and is listed in the result's `failed`. `on_rows(n)` is told of
    every batch written (the CLI's progress bar)."""
    g = guard or PromptGuard(threshold=threshold)
    thr = g.threshold if threshold is None else float(threshold)
    if not 0.0 <= thr <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    res = ScoreFileResult(threshold=thr, out=str(out_path))
    fail_blocked = g.on_error == "deny"

    def flush(batch: list[tuple[int, object, list[Part] | None, str | None]], fh) -> None:
        texts = [p.text for _, _, parts, _ in batch if parts for p in parts]
        scores = iter(g.details(texts))
        for n, rec, parts, err in batch:
            if not isinstance(rec, dict):
                rec = {"line": n}
            if err is not None:
                out = dict(rec, score=None, blocked=fail_blocked, error=f"line {n}: {err}")
                res.failed.append(out["error"])
            else:
                s = max(next(scores).score for _ in parts)
                out = dict(rec, score=round(s, 6), blocked=bool(s >= thr))
            res.blocked += int(out["blocked"])
            res.rows += 1
            fh.write(orjson.dumps(out) + b"\n")
        if on_rows is not None:
            on_rows(len(batch))
        batch.clear()

    batch: list = []
    with open(in_path, "rb") as fin, open(out_path, "wb") as fout:
        for n, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                batch.append((n, None, None, f"invalid JSON: {e}"))
                continue
            if not isinstance(rec, dict):
                batch.append((n, None, None, "not a JSON object"))
                continue
            try:
                batch.append((n, rec, prompt_parts(rec, g.max_chars), None))
            except GuardInputError as e:
                batch.append((n, rec, None, str(e)))
            if len(batch) >= BATCH:
                flush(batch, fout)
        if batch:
            flush(batch, fout)
    return res
