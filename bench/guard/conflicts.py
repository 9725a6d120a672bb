"""Label conflicts between sources: how much of a held-out source the other sources contradict.

For every source S and every row r of S, its near-duplicates are the rows of the OTHER sources
that are the same text after normalisation (detectors.guard.normalize.clean, then NFKC, lower case,
whitespace collapsed: detectors.guard.features.normalise) or whose MiniLM embeddings (the bench's
bfloat16 store, the vectors the guard's sentence head is trained on) have cosine >= `cosine`.
Per source:

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


def neighbour_votes(rows: Sequence[PromptRow], E: np.ndarray, cosine: float,
                    chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Per row, (near-duplicates in other sources with the same label, with the opposite label)."""
    y = np.array([r.label for r in rows])
    src = np.array([r.source for r in rows])
    grp = _exact_groups(rows)
    X = np.asarray(E, np.float32)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    same, opp = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    for a in range(0, len(rows), chunk):
        b = min(a + chunk, len(rows))
        near = (X[a:b] @ X.T) >= cosine
        near |= grp[a:b, None] == grp[None, :]
        near &= src[a:b, None] != src[None, :]
        agree = y[a:b, None] == y[None, :]
        same[a:b] = (near & agree).sum(axis=1)
        opp[a:b] = (near & ~agree).sum(axis=1)
    return same, opp


def by_source(rows: Sequence[PromptRow], E: np.ndarray, cosine: float = 0.9) -> list[SourceConflicts]:
    same, opp = neighbour_votes(rows, E, cosine)
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


def table(res: Sequence[SourceConflicts], cosine: float) -> str:
    w = max(len(r.source) for r in res) + 2
    head = (f"{'held-out source':<{w}}{'benign':>7}{'attack':>7}{'dup':>7}{'contra':>8}{'outvoted':>9}"
            f"{'att.out':>8}{'ben.out':>8}{'ceiling':>9}")
    lines = [f"label conflicts with the other sources (same normalised text or MiniLM cosine >= {cosine})",
             head, "-" * len(head)]
    for r in res:
        cells = [f"{v:>8.3f}" if v is not None else f"{'-':>8}" for v in (r.outvoted_attack, r.outvoted_benign)]
        lines.append(f"{r.source:<{w}}{r.n_benign:>7}{r.n_attack:>7}{r.with_duplicates:>7.3f}{r.contradicted:>8.3f}"
                     f"{r.outvoted:>9.3f}{''.join(cells)}{r.ceiling:>9.3f}")
    return "\n".join(lines)
