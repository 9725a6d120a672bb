"""The decision threshold, chosen out of source inside the training data.

The training sources are split into `inner_folds` groups (deterministically, largest sources dealt
round-robin so the groups are of similar size). For each group a model is fitted on the other
groups (one fit without the multiple-instance refit, no threshold search of its own) and scores that group's rows as the guard serves
them (views, windows). Every training row then has an out-of-source score, and the threshold is
the pair (threshold for 1,000-character windows, threshold for the 300-character fine windows, each
on a 0.30..0.95 grid, the fine one also 1.0 = off) that maximises the worst per-source figure (balanced accuracy for a
source with both classes, recall for an attack-only one, TNR for a benign-only one), ties broken
by the mean: the same figure the leave-one-source-out bench reports, computed without the
evaluation source. The final model is then fitted on all training rows and given this threshold.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard.data import PromptRow
from detectors.guard.inputs import GuardInputError, to_text
from detectors.guard.scoring import scale_maxima

GRID = np.round(np.arange(0.30, 0.951, 0.01), 2)


def source_groups(rows: Sequence[PromptRow], k: int) -> list[set[str]]:
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.source] = sizes.get(r.source, 0) + 1
    groups: list[set[str]] = [set() for _ in range(k)]
    for i, src in enumerate(sorted(sizes, key=lambda s: (-sizes[s], s))):
        groups[i % k].add(src)
    return [g for g in groups if g]


def per_source_figure(scores: np.ndarray, y: np.ndarray, src: np.ndarray, th: float) -> dict[str, float]:
    out = {}
    pred = scores >= th
    for s in np.unique(src):
        m = src == s
        pos, neg = m & (y == 1), m & (y == 0)
        tpr = pred[pos].mean() if pos.any() else None
        tnr = (~pred[neg]).mean() if neg.any() else None
        out[str(s)] = float(0.5 * (tpr + tnr) if tpr is not None and tnr is not None else
                            (tpr if tpr is not None else tnr))
    return out


def choose_out_of_source(rows: Sequence[PromptRow], cfg: Any,
                         fit: Callable[[Sequence[PromptRow], Any], Any], featurize=None,
                         encoder=None) -> dict[str, Any]:
    groups = source_groups(rows, cfg.inner_folds)
    if len(groups) < 2:
        return {"threshold": 0.5, "fine_threshold": 1.0, "why": "one source: no out-of-source split"}
    inner = dataclasses.replace(cfg, threshold=0.5, refine=False)
    if any(len({r.label for r in rows if r.source not in g}) < 2 for g in groups):
        return {"threshold": 0.5, "fine_threshold": 1.0,
                "why": "a source group holds all of one class: no out-of-source split"}
    scores, ys, srcs = [], [], []
    for g in groups:
        model = fit([r for r in rows if r.source not in g], inner)
        held = [r for r in rows if r.source in g]
        texts = []
        for r in held:
            try:
                texts.append(to_text(r.text, 1 << 30))
            except GuardInputError:
                texts.append(" ")
        coarse, fine = scale_maxima(model, encoder, texts, featurize=featurize)
        scores += list(zip(coarse, fine))
        ys += [r.label for r in held]
        srcs += [r.source for r in held]
    c, f = np.array(scores).T
    y, src = np.array(ys), np.array(srcs)
    best, best_key = (0.5, 1.0), (-1.0, -1.0)
    for tf in list(GRID) + [1.0]:
        fine_hit = f >= tf
        for th in GRID:
            fig = per_source_figure(np.where(fine_hit, 1.0, c), y, src, float(th))
            key = (min(fig.values()), float(np.mean(list(fig.values()))))
            if key > best_key:
                best, best_key = (float(th), float(tf)), key
    return {"threshold": best[0], "fine_threshold": best[1], "worst": best_key[0], "mean": best_key[1]}
