"""Sublinear TF-IDF on hashed count matrices, shared by the guard's lexical and skeleton stages."""
from __future__ import annotations

import numpy as np


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
