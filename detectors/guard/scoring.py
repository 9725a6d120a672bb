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


def score_texts(model: GuardModel, encoder: Encoder | None, texts: Sequence[str],
                batch_size: int = 32, featurize=None) -> list[ScoreDetail]:
    """Scores of already-validated texts; `encoder` None runs the lexical stage alone
    (`featurize(window texts) -> CSR` replaces model.sparse, e.g. a cache during training)."""
    units: list[tuple[int, str, int, str]] = []      # (text index, view name, window index, window text)
    for i, t in enumerate(texts):
        for v in views(t):
            ws = windows(v.text, limit=MAX_WINDOWS)
            if len(v.text) > FINE_FROM:
                ws = ws + windows(v.text, *FINE, limit=2 * MAX_WINDOWS)
            for j, w in enumerate(ws):
                units.append((i, v.name, j, w))
    if not units:
        return []
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
    best: dict[int, int] = {}
    nwin: dict[int, int] = {}
    for k, (i, _, _, _) in enumerate(units):
        nwin[i] = nwin.get(i, 0) + 1
        if i not in best or p[k] > p[best[i]]:
            best[i] = k
    out = []
    for i in range(len(texts)):
        k = best[i]
        out.append(ScoreDetail(float(p[k]), "embedding" if emb[k] else "lexical", units[k][1], units[k][2],
                               nwin[i], float(pl[k])))
    return out
