"""The prompt guard's skeleton stage: a topic-free view of a prompt (model 4's third stage, format 5).

The function-word skeleton: the cleaned text's first MAX_CHARS characters, lower-cased and cut into
words and punctuation; every word outside the artifact's K words (the K words most training rows
contain, K = TOP_WORDS) is masked as `_` ("ignore _ _ _ and _ _ :"), so what is left is the shape
of an instruction without its topic. Word 1-3-grams of the skeleton, hashed into 2^20 buckets
(scikit-learn's HashingVectorizer), sublinear TF x IDF with buckets seen in fewer than MIN_DF
training rows dropped (IDF 0), L2-normalised; a logistic regression weighted as the other stages
(detectors.guard.text_train.sample_weights). K = 300 was fixed before any figure was read (README:
K = 100 gives about the same). The K words are stored in the artifact header, the IDF and weights
as arrays.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from detectors.guard.cascade import sigmoid
from detectors.guard.tfidf import idf_of, tfidf

TOP_WORDS = 300
MIN_DF = 3
MAX_CHARS = 4000
N_FEATURES = 1 << 20
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(cleaned: str) -> list[str]:
    """Words and punctuation of an already-cleaned text (detectors.guard.normalize.clean)."""
    return _TOKEN.findall(cleaned.lower()[:MAX_CHARS])


def skeleton(toks: Sequence[str], keep: set[str] | frozenset[str]) -> str:
    return " ".join(w if w in keep else "_" for w in toks)


def top_words(token_lists: Sequence[Sequence[str]], k: int = TOP_WORDS) -> list[str]:
    """The k words most rows contain (ties by the word itself: deterministic)."""
    df = Counter(w for t in token_lists for w in set(t))
    return sorted(df, key=lambda w: (-df[w], w))[:k]


def _counts(skeletons: Sequence[str]):
    from sklearn.feature_extraction.text import HashingVectorizer
    vec = HashingVectorizer(analyzer="word", ngram_range=(1, 3), token_pattern=r"\S+", lowercase=False,
                            n_features=N_FEATURES, alternate_sign=False, norm=None)
    return vec.transform(list(skeletons)).tocsr()


@dataclass
class SkeletonStage:
    words: tuple[str, ...]
    idf: np.ndarray
    w: np.ndarray
    b: float

    def __post_init__(self) -> None:
        self.keep = frozenset(self.words)
        self.idf, self.w = np.asarray(self.idf, np.float64), np.asarray(self.w, np.float64)

    def p(self, cleaned: Sequence[str]) -> np.ndarray:
        """P(attack) of each cleaned text's skeleton."""
        C = _counts([skeleton(tokens(t), self.keep) for t in cleaned])
        return sigmoid(tfidf(C, self.idf) @ self.w + self.b)

    def header(self) -> dict[str, Any]:
        return {"words": list(self.words), "b": self.b, "n_features": N_FEATURES, "max_chars": MAX_CHARS,
                "min_df": MIN_DF}

    @classmethod
    def from_header(cls, h: dict[str, Any], idf: np.ndarray, w: np.ndarray) -> "SkeletonStage":
        if int(h.get("n_features", 0)) != N_FEATURES or int(h.get("max_chars", 0)) != MAX_CHARS:
            raise ValueError(f"skeleton stage of other settings ({h.get('n_features')} features, "
                             f"{h.get('max_chars')} characters; this code reads {N_FEATURES}, {MAX_CHARS})")
        return cls(tuple(str(x) for x in h["words"]), idf, w, float(h["b"]))


def fit(cleaned: Sequence[str], y: np.ndarray, weights: np.ndarray, top: int = TOP_WORDS,
        C: float = 1.0) -> SkeletonStage:
    """The skeleton stage fitted on cleaned training texts (liblinear: deterministic)."""
    from sklearn.linear_model import LogisticRegression
    toks = [tokens(t) for t in cleaned]
    words = top_words(toks, top)
    keep = frozenset(words)
    X = _counts([skeleton(t, keep) for t in toks])
    df = np.bincount(X.indices, minlength=N_FEATURES)
    idf = idf_of(X)
    idf[df < MIN_DF] = 0.0
    idf = np.asarray(idf, np.float16).astype(np.float32)          # what the artifact stores
    lr = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
    lr.fit(tfidf(X, idf), y, sample_weight=weights)
    return SkeletonStage(tuple(words), idf, np.asarray(lr.coef_[0], np.float16).astype(np.float32),
                         float(lr.intercept_[0]))
