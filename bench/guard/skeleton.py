"""A topic-free view of a prompt for the leave-one-source-out bench (not part of the guard yet).

The function-word skeleton: the cleaned text (detectors.guard.normalize.clean, its first 4,000
characters) lower-cased and cut into words and punctuation; every word outside the K words that
most training rows contain is masked as `_` ("ignore _ _ _ and _ _ :"), so what is left is the
shape of an instruction without its topic. Word 1-3-grams of the skeleton (seen in at least 3
training rows), sublinear TF-IDF, a logistic regression weighted as model 4's stages are
(detectors.guard.text_train.sample_weights: class balance, the everyday seed as one source).
K = 300 was fixed before any figure was read (README: K = 100 gives about the same).

Candidates (bench/guard/candidates.py): `skeleton` (this view alone) and `text_skeleton` (model 4
as the guard serves it, mixed with this view: (2 * s_model4 + p_skeleton) / 3, i.e. the mean of
the three stages where the cascade ran the encoder, p_lexical standing in for the sentence head
where it did not).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from detectors.guard.data import PromptRow

TOP_WORDS = 300
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    from detectors.guard.normalize import clean
    return _TOKEN.findall(clean(text).lower()[:4000])


def skeleton(toks: Sequence[str], keep: set[str]) -> str:
    return " ".join(w if w in keep else "_" for w in toks)


@dataclass
class SkeletonScorer:
    keep: set[str]
    vec: Any
    tfidf: Any
    lr: Any
    threshold: float = 0.5

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        X = self.vec.transform([skeleton(tokens(t), self.keep) for t in texts])
        return self.lr.predict_proba(self.tfidf.transform(X))[:, 1]


def fit(rows: Sequence[PromptRow], top_words: int = TOP_WORDS) -> SkeletonScorer:
    """The skeleton view's logistic regression on `rows` (the caller adds the seed)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    from detectors.guard.text_train import sample_weights
    toks = [tokens(r.text) for r in rows]
    df = Counter(w for t in toks for w in set(t))
    keep = set(sorted(df, key=lambda w: (-df[w], w))[:top_words])      # ties by word: deterministic
    vec = CountVectorizer(ngram_range=(1, 3), token_pattern=r"\S+", min_df=3, lowercase=False)
    X = vec.fit_transform([skeleton(t, keep) for t in toks])
    tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
    lr = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000)
    lr.fit(tfidf.transform(X), np.array([r.label for r in rows]), sample_weight=sample_weights(list(rows)))
    return SkeletonScorer(keep, vec, tfidf, lr)
