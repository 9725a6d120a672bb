"""Score whole texts with a GuardModel: every decoded view, every window, the cascade, batched.

    detail = score_texts(model, encoder, ["..."])[0]
    detail.score, detail.stage ("lexical" | "embedding"), detail.view ("text", "base64", ...),
    detail.window (index of the highest-scoring window), detail.windows (how many were scored)

A text's score is the highest over its views and windows, at two scales: windows.SIZE (1,000
characters, what the model is trained on) and, for texts over 600 characters, 300-character
windows every 150, so a one-sentence instruction hidden in a long document is not diluted. Each window's score depends on that
window alone (hashed features; an fp32 encoder run per window), so a text scores the same alone or
in any batch (up to float rounding of the batched matrix products, well under 1e-6).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from detectors.guard.cascade import GuardModel
from detectors.guard.normalize import views
from detectors.guard.windows import windows

MAX_WINDOWS = 64     # per view and scale; beyond it windows are spread evenly over the text
FINE = (300, 150)    # a second, finer scale for texts over 2 x 300 characters: a short instruction
FINE_FROM = 600      # inside a 1,000-character window of other text is diluted by it


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


@dataclass(frozen=True)
class ScoreDetail:
    score: float
    stage: str
    view: str
    window: int
    windows: int
    p_lex: float


def _units(texts: Sequence[str]) -> list[tuple[int, str, int, str, bool]]:
    """(text index, view name, window index, window text, fine scale?) for every window scored."""
    units = []
    for i, t in enumerate(texts):
        for v in views(t):
            ws = [(w, False) for w in windows(v.text, limit=MAX_WINDOWS)]
            if len(v.text) > FINE_FROM:
                ws += [(w, True) for w in windows(v.text, *FINE, limit=2 * MAX_WINDOWS)]
            for j, (w, fine) in enumerate(ws):
                units.append((i, v.name, j, w, fine))
    return units


def _unit_scores(model: GuardModel, encoder: Encoder | None, units, batch_size: int, featurize):
    X = (featurize or model.sparse)([u[3] for u in units])
    pl = model.p_lex(X)
    p = pl.copy()
    emb = np.zeros(len(units), bool)
    if encoder is not None and model.has_embedding:
        band = np.flatnonzero(model.in_band(pl))
        if band.size:
            E = encoder.encode([units[k][3] for k in band], batch_size=batch_size)
            p[band] = model.p_joint(X[band], E)
            emb[band] = True
    return p, pl, emb


def scale_maxima(model: GuardModel, encoder: Encoder | None, texts: Sequence[str], featurize=None,
                 batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per text, the highest raw window score at the coarse scale and at the fine one (0 if none)."""
    units = _units(texts)
    coarse, fine = np.zeros(len(texts)), np.zeros(len(texts))
    if units:
        p, _, _ = _unit_scores(model, encoder, units, batch_size, featurize)
        for (i, _, _, _, f), pk in zip(units, p):
            arr = fine if f else coarse
            arr[i] = max(arr[i], pk)
    return coarse, fine


def score_texts(model: GuardModel, encoder: Encoder | None, texts: Sequence[str],
                batch_size: int = 32, featurize=None) -> list[ScoreDetail]:
    """Scores of already-validated texts; `encoder` None runs the lexical stage alone
    (`featurize(window texts) -> CSR` replaces model.sparse, e.g. a cache during training).
    Fine-scale window scores are mapped by model.fine_map, so that they reach the threshold at
    the model's own fine-scale threshold."""
    units = _units(texts)
    if not units:
        return []
    p, pl, emb = _unit_scores(model, encoder, units, batch_size, featurize)
    fine = np.array([u[4] for u in units])
    p = np.where(fine, model.fine_map(p), p)
    best: dict[int, int] = {}
    nwin: dict[int, int] = {}
    for k, u in enumerate(units):
        i = u[0]
        nwin[i] = nwin.get(i, 0) + 1
        if i not in best or p[k] > p[best[i]]:
            best[i] = k
    out = []
    for i in range(len(texts)):
        k = best[i]
        out.append(ScoreDetail(float(p[k]), "embedding" if emb[k] else "lexical", units[k][1], units[k][2],
                               nwin[i], float(pl[k])))
    return out
