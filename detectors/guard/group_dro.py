"""Group DRO for model 4's sentence head (opt-in: `warden train prompt-guard --model 4 --dro auto`).

Group distributionally robust optimisation (Sagawa et al., 2020, "Distributionally Robust Neural
Networks for Group Shifts"), in its batch form for a logistic regression: the groups are the
(source, class) pairs of the training rows; after each fit every group's mean log loss on the
training rows is added, times `eta`, to its log-weight, and the head is refitted (warm-started
lbfgs) on the reweighted rows, `rounds` fits in all. The classes keep the weight class balance
gave them (the benign groups share the benign half, the attack groups the attack half), so a
large `eta` moves weight between sources of a class, never from one class to the other (plain
group DRO collapses to one class at eta >= 5 on this data). eta = 0 is the plain class-balanced
head.

`choose_eta` picks eta among a small grid inside the training sources only: grouped K-fold over
those sources (each fold holds out about a quarter of them; warden's everyday seed always stays
in training), the head fitted on the rest, and the eta whose held-out rows have the best mean of
the three worst per-source figures (balanced accuracy for sources with both classes, recall for
attack-only, TNR for benign-only, threshold 0.5) wins. Nothing of a leave-one-source-out
evaluation's held-out source is seen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

GRID = (0.0, 1.0, 2.0, 3.0)


@dataclass(frozen=True)
class EtaChoice:
    eta: float
    scores: dict[float, float]      # eta -> mean of the three worst inner figures


def group_ids(sources: Sequence[str], y: np.ndarray) -> np.ndarray:
    """One integer per (source, class) pair."""
    keys = sorted(set(zip(sources, y.tolist())))
    index = {k: i for i, k in enumerate(keys)}
    return np.array([index[k] for k in zip(sources, y.tolist())])


def fit_head(X: np.ndarray, y: np.ndarray, base_w: np.ndarray, sources: Sequence[str], eta: float,
             rounds: int = 4, C: float = 1.0):
    """A logistic regression on X fitted with group-DRO weights (eta 0: base_w as given)."""
    from sklearn.linear_model import LogisticRegression
    gid = group_ids(sources, y)
    n_groups = int(gid.max()) + 1
    log_q = np.zeros(n_groups)
    head = LogisticRegression(C=C, max_iter=3000, warm_start=True)
    n_fits = rounds if eta > 0 else 1
    for r in range(n_fits):
        w = base_w * np.exp(log_q - log_q.max())[gid]
        for c in (0, 1):
            k = y == c
            if k.any():
                w[k] *= base_w[k].sum() / w[k].sum()
        head.fit(X, y, sample_weight=w)
        if r == n_fits - 1:
            break
        p = np.clip(head.predict_proba(X)[:, 1], 1e-9, 1 - 1e-9)
        loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        log_q += eta * np.bincount(gid, loss, n_groups) / np.bincount(gid, minlength=n_groups)
    return head


def worst_figures(p: np.ndarray, y: np.ndarray, sources: Sequence[str], threshold: float = 0.5) -> dict[str, float]:
    """The worst per-source balanced accuracy / recall / TNR of scores `p` (keys present only
    when some source has that figure)."""
    src = np.asarray(sources)
    worst: dict[str, float] = {}
    for s in sorted(set(src.tolist())):
        k = src == s
        pred, yy = p[k] >= threshold, y[k]
        tpr = float(pred[yy == 1].mean()) if (yy == 1).any() else None
        tnr = float((~pred[yy == 0]).mean()) if (yy == 0).any() else None
        if tpr is not None and tnr is not None:
            name, v = "balanced_accuracy", (tpr + tnr) / 2
        else:
            name, v = ("recall", tpr) if tpr is not None else ("tnr", tnr)
        worst[name] = min(worst.get(name, 1.0), v)
    return worst


def choose_eta(X: np.ndarray, y: np.ndarray, sources: Sequence[str], weigh: Callable[[np.ndarray], np.ndarray],
               *, keep: Sequence[str] = (), grid: Sequence[float] = GRID, n_folds: int = 4, rounds: int = 4,
               C: float = 1.0) -> EtaChoice:
    """eta of `grid` with the best grouped K-fold figure over the sources of the training rows
    (sources in `keep` are never held out); `weigh(index)` gives the base weights of those rows
    as the trainer would weigh them alone."""
    src = np.asarray(sources)
    by_size = sorted(set(src.tolist()) - set(keep), key=lambda s: (-(src == s).sum(), s))
    folds = [by_size[i::n_folds] for i in range(n_folds) if by_size[i::n_folds]]
    held = np.isin(src, [s for f in folds for s in f])
    p = {e: np.zeros(len(y)) for e in grid}
    for fold in folds:
        te = np.isin(src, fold)
        tr = np.flatnonzero(~te)
        base = weigh(tr)
        for e in grid:
            head = fit_head(X[tr], y[tr], base, src[tr].tolist(), e, rounds, C)
            p[e][te] = head.predict_proba(X[te])[:, 1]
    scores = {e: float(np.mean(list(worst_figures(p[e][held], y[held], src[held].tolist()).values())))
              for e in grid}
    best = max(grid, key=lambda e: (scores[e], -e))
    return EtaChoice(best, scores)
