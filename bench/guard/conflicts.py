"""Label conflicts between sources: how much of a held-out source the other sources contradict.

For every source S and every row r of S, its near-duplicates are the rows of the OTHER sources
that are the same text after normalisation (detectors.guard.normalize.clean, then NFKC, lower case,
whitespace collapsed: detectors.guard.features.normalise), or whose MiniLM embeddings (the bench's
bfloat16 store, the vectors the guard's sentence head is trained on) have cosine >= `cosine`, or
whose sets of word 5-grams (words and punctuation, lower-cased; hashed into 2^24 buckets) have
Jaccard similarity >= `jaccard` (the same template around another payload). Per source:

- `with_duplicates`: the fraction of S's rows that have any near-duplicate in the other sources;
- `contradicted`: the fraction with at least one near-duplicate of the opposite label;
- `outvoted`: the fraction whose near-duplicates in the other sources mostly (more than half)
  carry the opposite label: a model trained on the other sources that answers like its nearest
  training rows gets these wrong;
- per class (attack rows, benign rows) the same `outvoted` fraction, and `ceiling`: the source's
  figure (balanced accuracy, recall or TNR, as the leave-one-source-out bench reports it) if every
  outvoted row is scored wrong and every other row right.

`ceiling` is not a proof: a model can in principle score an outvoted row right (near-duplicates in
embedding space may differ in a word that decides the label), and it can get any other row wrong.
It says how much of each source its training data labels the other way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from detectors.guard.data import PromptRow

SHINGLE_BUCKETS = 1 << 24


@dataclass(frozen=True)
class SourceConflicts:
    source: str
    n_benign: int
    n_attack: int
    with_duplicates: float
    contradicted: float
    outvoted: float
    outvoted_attack: float | None      # fraction of the source's attack rows outvoted
    outvoted_benign: float | None

    @property
    def ceiling(self) -> float:
        if self.outvoted_attack is not None and self.outvoted_benign is not None:
            return 1.0 - 0.5 * (self.outvoted_attack + self.outvoted_benign)
        return 1.0 - (self.outvoted_attack if self.outvoted_attack is not None else self.outvoted_benign)


def _exact_groups(rows: Sequence[PromptRow]) -> np.ndarray:
    from detectors.guard.features import normalise
    from detectors.guard.normalize import clean
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(normalise(clean(r.text)), len(ids)) for r in rows])


def shingles(rows: Sequence[PromptRow], n: int = 5):
    """Binary CSR matrix (rows x 2^24) of each row's hashed word n-grams."""
    import zlib

    import scipy.sparse as sp

    from detectors.guard.normalize import clean
    from detectors.guard.skeleton import _TOKEN
    ind: list[int] = []
    ptr = [0]
    for r in rows:
        tk = _TOKEN.findall(clean(r.text).lower())
        ind += sorted({zlib.crc32(" ".join(tk[i:i + n]).encode("utf-8", "surrogatepass")) & (SHINGLE_BUCKETS - 1)
                       for i in range(max(1, len(tk) - n + 1))})
        ptr.append(len(ind))
    return sp.csr_matrix((np.ones(len(ind), np.float32), np.array(ind, np.int64), np.array(ptr, np.int64)),
                         shape=(len(rows), SHINGLE_BUCKETS))


def _jaccard_at_least(S, a: int, b: int, size: np.ndarray, jaccard: float) -> np.ndarray:
    inter = (S[a:b] @ S.T).tocoo()
    near = np.zeros((b - a, S.shape[0]), bool)
    jac = inter.data / np.maximum(size[a + inter.row] + size[inter.col] - inter.data, 1)
    keep = jac >= jaccard
    near[inter.row[keep], inter.col[keep]] = True
    return near


def neighbour_votes(rows: Sequence[PromptRow], E: np.ndarray | None, cosine: float | None = 0.9,
                    jaccard: float | None = None, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per row, (near-duplicates in other sources with the same label, with the opposite label).
    `cosine` / `jaccard` None: that criterion is not used (identical normalised text always is)."""
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    grp = _exact_groups(rows)
    X = None
    if cosine is not None:
        X = np.asarray(E, np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    S = shingles(rows) if jaccard is not None else None
    size = np.asarray(S.sum(axis=1)).ravel() if S is not None else None
    same, opp = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    for a in range(0, len(rows), chunk):
        b = min(a + chunk, len(rows))
        near = grp[a:b, None] == grp[None, :]
        if X is not None:
            near |= (X[a:b] @ X.T) >= cosine
        if S is not None:
            near |= _jaccard_at_least(S, a, b, size, jaccard)
        near &= src[a:b, None] != src[None, :]
        agree = y[a:b, None] == y[None, :]
        same[a:b] = (near & agree).sum(axis=1)
        opp[a:b] = (near & ~agree).sum(axis=1)
    return same, opp


def by_source(rows: Sequence[PromptRow], E: np.ndarray | None, cosine: float | None = 0.9,
              jaccard: float | None = None) -> list[SourceConflicts]:
    same, opp = neighbour_votes(rows, E, cosine, jaccard)
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    out = []
    for s in sorted(set(src)):
        m = src == s
        outv = opp > same
        frac = {c: float(outv[m & (y == c)].mean()) if (m & (y == c)).any() else None for c in (0, 1)}
        out.append(SourceConflicts(s, int((m & (y == 0)).sum()), int((m & (y == 1)).sum()),
                                   float(((same + opp) > 0)[m].mean()), float((opp > 0)[m].mean()),
                                   float(outv[m].mean()), frac[1], frac[0]))
    return out


def criteria(cosine: float | None, jaccard: float | None) -> str:
    return " or ".join(["same normalised text"] + ([f"MiniLM cosine >= {cosine}"] if cosine is not None else [])
                       + ([f"word 5-gram Jaccard >= {jaccard}"] if jaccard is not None else []))


def table(res: Sequence[SourceConflicts], cosine: float | None, jaccard: float | None = None) -> str:
    w = max(len(r.source) for r in res) + 2
    head = (f"{'held-out source':<{w}}{'benign':>7}{'attack':>7}{'dup':>7}{'contra':>8}{'outvoted':>9}"
            f"{'att.out':>8}{'ben.out':>8}{'ceiling':>9}")
    lines = [f"label conflicts with the other sources ({criteria(cosine, jaccard)})",
             head, "-" * len(head)]
    for r in res:
        cells = [f"{v:>8.3f}" if v is not None else f"{'-':>8}" for v in (r.outvoted_attack, r.outvoted_benign)]
        lines.append(f"{r.source:<{w}}{r.n_benign:>7}{r.n_attack:>7}{r.with_duplicates:>7.3f}{r.contradicted:>8.3f}"
                     f"{r.outvoted:>9.3f}{''.join(cells)}{r.ceiling:>9.3f}")
    return "\n".join(lines)
