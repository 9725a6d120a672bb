"""Drift of prompts (MiniLM sentence embeddings) and of outputs.

- `text_drift(ref_texts, cur_texts)`: MMD permutation test on the embeddings, plus KS tests on the
  projections onto the reference's top principal components (Holm-corrected), plus prompt length.
- `Projector`: PCA of reference embeddings, used by the streaming detector to turn each prompt into
  a few numeric features (`text.pc0` ...) that the sequential tests handle like any other feature.
- `output_drift(ref_outputs, cur_outputs)`: predicted class (chi-squared), probability / scores
  (KS), token counts, finish reasons - a feature report over output columns.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from core.names import PREDICTION, PROBABILITY
from detectors.drift import stats as S
from detectors.drift.mmd import mmd_test


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    from detectors.guard.embed import TextEncoder
    return TextEncoder.shared(max_tokens=128, head=96).encode([t if isinstance(t, str) else "" for t in texts],
                                                               batch_size=batch_size)


class Projector:
    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        self.mean = np.asarray(mean, np.float32)
        self.components = np.asarray(components, np.float32)

    @classmethod
    def fit(cls, E: np.ndarray, k: int = 8) -> "Projector":
        mu = E.mean(0)
        _, _, vt = np.linalg.svd(E - mu, full_matrices=False)
        return cls(mu, vt[:k])

    def transform(self, E: np.ndarray) -> np.ndarray:
        return (np.asarray(E, np.float32) - self.mean) @ self.components.T

    def to_state(self) -> dict:
        return {"mean": self.mean.tolist(), "components": self.components.tolist()}

    @classmethod
    def from_state(cls, st: dict) -> "Projector":
        return cls(np.array(st["mean"], np.float32), np.array(st["components"], np.float32))


def text_drift(ref_texts: Sequence[str], cur_texts: Sequence[str], *, alpha: float = 0.05,
               components: int = 8, permutations: int = 200, device: str = "auto",
               ref_embeddings: np.ndarray | None = None, cur_embeddings: np.ndarray | None = None) -> dict[str, Any]:
    ref_texts = [t for t in ref_texts if isinstance(t, str) and t.strip()]
    cur_texts = [t for t in cur_texts if isinstance(t, str) and t.strip()]
    if len(ref_texts) < 10 or len(cur_texts) < 10:
        raise ValueError("text drift needs at least 10 non-empty texts on each side")
    Er = embed(ref_texts) if ref_embeddings is None else ref_embeddings
    Ec = embed(cur_texts) if cur_embeddings is None else cur_embeddings
    mmd = mmd_test(Er, Ec, permutations=permutations, device=device, standardize=False)
    pj = Projector.fit(Er, components)
    pr, pc = pj.transform(Er), pj.transform(Ec)
    ref_cols = {f"text.pc{j}": pr[:, j].tolist() for j in range(pr.shape[1])}
    cur_cols = {f"text.pc{j}": pc[:, j].tolist() for j in range(pc.shape[1])}
    ref_cols["text.length"] = [float(len(t)) for t in ref_texts]
    cur_cols["text.length"] = [float(len(t)) for t in cur_texts]
    rep = S.feature_report(ref_cols, cur_cols, alpha=alpha, min_samples=10, cvm=False)
    centroid = float(1.0 - np.dot(Er.mean(0), Ec.mean(0)) /
                     (np.linalg.norm(Er.mean(0)) * np.linalg.norm(Ec.mean(0)) + 1e-12))
    return {"drift": bool(mmd["p_value"] < alpha or rep["drift"]), "alpha": alpha,
            "embedding_model": "all-MiniLM-L6-v2", "mmd": mmd, "centroid_cosine_distance": centroid,
            "projections": rep, "n_reference": len(ref_texts), "n_current": len(cur_texts)}


OUTPUT_KEYS = {
    "output:prediction": PREDICTION,
    "output:probability": PROBABILITY,
    "output:output_tokens": "gen_ai.usage.output_tokens",
    "output:finish_reasons": "gen_ai.response.finish_reasons",
    "output:completion_length": "gen_ai.completion.length",
}


def output_columns(attrs: dict) -> dict[str, Any]:
    out = {}
    for col, key in OUTPUT_KEYS.items():
        v = attrs.get(key)
        if isinstance(v, list):
            v = ",".join(str(x) for x in v)
        if v is not None and not isinstance(v, (int, float, str, bool)):
            v = None
        out[col] = v
    return out


def output_drift(ref: Sequence[dict], cur: Sequence[dict], *, alpha: float = 0.05) -> dict[str, Any]:
    """Drift of model outputs between two lists of event attribute dicts."""
    rc = [output_columns(a) for a in ref]
    cc = [output_columns(a) for a in cur]
    cols = {k: [r[k] for r in rc] for k in OUTPUT_KEYS}
    ccols = {k: [r[k] for r in cc] for k in OUTPUT_KEYS}
    cols = {k: v for k, v in cols.items() if any(x is not None for x in v)}
    return S.feature_report(cols, {k: ccols[k] for k in cols}, alpha=alpha)
