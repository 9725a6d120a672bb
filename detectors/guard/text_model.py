"""Model 4 of the prompt guard: character n-gram TF-IDF and a MiniLM sentence head, averaged.

Per text (detectors.guard.normalize.views: the cleaned text and any decoded payload):
  lexical:   every view is cut into windows of WINDOW characters (every STRIDE; a text up to
             WINDOW characters is one window, exactly what training saw); each window's
             character 2-5-grams (word-bounded, lower-cased, hashed into 2^20 buckets by
             scikit-learn's HashingVectorizer), sublinear TF x IDF, L2-normalised;
             p_lex = the highest sigmoid(lex_w . x + lex_b) over views and windows;
  embedding: e = the unit-norm mean-pooled all-MiniLM-L6-v2 embedding of the cleaned text (its first
             and last word pieces when long; bfloat16 in the shipped artifact, fp32 where the
             artifact's encoder settings say so, detectors.guard.embed);
             p_emb = sigmoid(emb_w . e + emb_b);
  score:     (p_lex + p_emb) / 2, denied at `threshold` (0.5: both stages are class-balanced
             logistic regressions, so 0.5 is their balanced operating point; nothing tuned).
Cascade: where p_lex <= cascade[0] or >= cascade[1] the lexical stage decides alone (the mean could
only cross 0.5 if the embedding head were more sure than 1 - cascade[0]); the encoder runs on the
rest. Without an encoder (package missing) p_lex decides alone.

A text's score depends on that text alone (hashed features; one encoder run per text; bfloat16
runs each text alone and unpadded): the same alone or in any batch. Artifact: detectors.guard.artifact, format 4, kind `tfidf+minilm`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard import artifact
from detectors.guard.cascade import sigmoid
from detectors.guard.normalize import views
from detectors.guard.scoring import ScoreDetail
from detectors.guard.windows import windows

FORMAT = 4
KIND = "tfidf+minilm"
N_FEATURES = 1 << 20
WINDOW, STRIDE = 4000, 3200
MAX_WINDOWS = 16
ARRAYS = ("idf", "lex_w", "emb_w")


def _vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer
    return HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES,
                             alternate_sign=False, norm=None, lowercase=True)


def counts(texts: Sequence[str]):
    """Raw hashed character n-gram counts (CSR, n x N_FEATURES)."""
    return _vectorizer().transform(list(texts)).tocsr()


def idf_of(C) -> np.ndarray:
    """Smooth IDF of a count matrix, as scikit-learn's TfidfTransformer computes it."""
    df = np.bincount(C.indices, minlength=C.shape[1])
    return (np.log((1.0 + C.shape[0]) / (1.0 + df)) + 1.0).astype(np.float32)


def tfidf(C, idf: np.ndarray):
    """Sublinear TF x IDF, rows L2-normalised (float64 CSR). Element-wise on the stored entries
    only (idf[indices], one factor per row): broadcasting a 2^20-wide IDF row or a column of norms
    through scipy's `multiply` builds dense-sized temporaries and took most of a request's lexical
    time; the products are the same floats."""
    X = C.astype(np.float64, copy=True).tocsr()
    X.sort_indices()
    X.data = 1.0 + np.log(X.data)
    X.data *= np.asarray(idf, np.float64)[X.indices]
    # row sums of squares added as scipy's sum(axis=1) adds them (np.add.reduceat over the rows)
    sums = np.zeros(X.shape[0])
    rows = np.flatnonzero(np.diff(X.indptr))
    if rows.size:
        sums[rows] = np.add.reduceat(X.data ** 2, X.indptr[rows])
    norms = np.sqrt(sums)
    norms[norms == 0] = 1.0
    X.data *= np.repeat(1.0 / norms, np.diff(X.indptr))
    return X


@dataclass
class TextModel:
    idf: np.ndarray
    lex_w: np.ndarray
    lex_b: float
    emb_w: np.ndarray                     # (384,), empty: lexical only
    emb_b: float = 0.0
    cascade: tuple[float, float] = (0.05, 0.95)
    threshold: float = 0.5
    encoder: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    model_version: str = "4"

    def __post_init__(self) -> None:
        # float64 once (the same values): converting 2^20-long vectors per request cost milliseconds
        self.idf, self.lex_w, self.emb_w = (np.asarray(a, np.float64) for a in (self.idf, self.lex_w, self.emb_w))

    @property
    def has_embedding(self) -> bool:
        return self.emb_w.size > 0

    def p_lex(self, texts: Sequence[str], featurize: Callable | None = None) -> np.ndarray:
        C = (featurize or counts)(list(texts))
        return sigmoid(tfidf(C, self.idf) @ self.lex_w + self.lex_b)

    def p_emb(self, E: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(E, np.float64) @ self.emb_w + self.emb_b)

    def score_texts(self, encoder: Any, texts: Sequence[str], featurize: Callable | None = None,
                    batch_size: int = 32) -> list[ScoreDetail]:
        """Scores of already-validated texts (`encoder` None: the lexical stage alone)."""
        units: list[tuple[int, str, int, str]] = []
        main: list[str] = []
        for i, t in enumerate(texts):
            for v in views(t):
                if v.name == "text":
                    main.append(v.text)
                for j, w in enumerate(windows(v.text, WINDOW, STRIDE, limit=MAX_WINDOWS)):
                    units.append((i, v.name, j, w))
        if not units:
            return []
        p = self.p_lex([u[3] for u in units], featurize)
        best: dict[int, int] = {}
        nwin: dict[int, int] = {}
        for k, u in enumerate(units):
            nwin[u[0]] = nwin.get(u[0], 0) + 1
            if u[0] not in best or p[k] > p[best[u[0]]]:
                best[u[0]] = k
        pl = np.array([p[best[i]] for i in range(len(texts))])
        score = pl.copy()
        used = np.zeros(len(texts), bool)
        if encoder is not None and self.has_embedding:
            band = np.flatnonzero((pl > self.cascade[0]) & (pl < self.cascade[1]))
            if band.size:
                pe = self.p_emb(encoder.encode([main[i] for i in band], batch_size=batch_size))
                score[band] = (pl[band] + pe) / 2.0
                used[band] = True
        return [ScoreDetail(float(score[i]), "embedding" if used[i] else "lexical", units[best[i]][1],
                            units[best[i]][2], nwin[i], float(pl[i])) for i in range(len(texts))]

    # -- artifact -------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {"format": FORMAT, "kind": KIND, "model_version": self.model_version,
                  "n_features": N_FEATURES, "lex_b": self.lex_b, "emb_b": self.emb_b,
                  "cascade": list(self.cascade), "threshold": self.threshold, "encoder": self.encoder,
                  "meta": self.meta}
        return artifact.write(header, {"idf": np.asarray(self.idf, np.float16),
                                       "lex_w": np.asarray(self.lex_w, np.float16),
                                       "emb_w": np.asarray(self.emb_w, np.float32)})

    def save(self, path: str | Path) -> Path:
        return artifact.save(self.to_bytes(), path)

    @classmethod
    def from_parts(cls, header: dict[str, Any], body: bytes) -> "TextModel":
        if header.get("kind") != KIND or int(header.get("n_features", 0)) != N_FEATURES:
            raise artifact.ArtifactError(f"not a {KIND} guard artifact with {N_FEATURES} features")
        a = artifact.read_arrays(header, body, ARRAYS)
        return cls(idf=a["idf"], lex_w=a["lex_w"], lex_b=float(header["lex_b"]), emb_w=a["emb_w"],
                   emb_b=float(header["emb_b"]), cascade=tuple(header["cascade"]),
                   threshold=float(header["threshold"]), encoder=header.get("encoder", {}),
                   meta=header.get("meta", {}), model_version=str(header.get("model_version", "4")))
