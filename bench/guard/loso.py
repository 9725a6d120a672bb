"""Leave-one-source-out evaluation of prompt-guard candidates.

For every source (data.load_sources: the dev file's s-labs and neuralchemy, each file of extra/),
a candidate is fitted on all the other sources and scores the held-out one. Per source:
balanced accuracy when it has both classes, recall when it is attack-only, TNR (true-negative
rate) when it is benign-only; the worst of each is the figure that counts. Thresholds and every
other parameter are chosen inside the training folds (the candidates never see the held-out rows).

Candidates (bench/guard/candidates.py): `text` (the shipped trainer, detectors.guard.text_train: model 4,
lexical + sentence head; embeddings from a cache; `text4` is the same), `text5` (model 5: and the skeleton stage), `text6`
(model 6: the sentence stage fine-tuned, bench/guard/finetuned.py), `text7` (model 7: model 6
keeping model 4's frozen head, the two heads averaged), `skeleton`
(the skeleton stage alone), `lexical` (model 4's lexical stage alone), `text_dro` (model 4, group-DRO sentence head),
`guard` (model 3, detectors.guard.train), `tfidf` (char 2-5-gram TF-IDF + logistic regression baseline) and `shipped`
(the artifact in the repository, NOT retrained per fold: on sources it was trained on the figure is in-source).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np

from detectors.guard.data import PromptRow


class Scorer(Protocol):
    threshold: float

    def scores(self, texts: Sequence[str]) -> np.ndarray: ...


Fit = Callable[[Sequence[PromptRow]], Scorer]


@dataclass
class SourceResult:
    source: str
    n_benign: int
    n_attack: int
    tpr: float | None
    tnr: float | None
    fit_seconds: float
    score_seconds: float

    @property
    def metric(self) -> str:
        if self.n_benign and self.n_attack:
            return "balanced_accuracy"
        return "recall" if self.n_attack else "tnr"

    @property
    def value(self) -> float:
        if self.metric == "balanced_accuracy":
            return 0.5 * (self.tpr + self.tnr)
        return self.tpr if self.metric == "recall" else self.tnr


@dataclass
class LosoReport:
    candidate: str
    results: list[SourceResult] = field(default_factory=list)

    def worst(self) -> dict[str, tuple[str, float] | None]:
        out: dict[str, tuple[str, float] | None] = {}
        for m in ("balanced_accuracy", "recall", "tnr"):
            rs = [r for r in self.results if r.metric == m]
            out[m] = min(((r.source, r.value) for r in rs), key=lambda x: x[1]) if rs else None
        return out

    def as_dict(self) -> dict:
        return {"candidate": self.candidate,
                "sources": [{"source": r.source, "n_benign": r.n_benign, "n_attack": r.n_attack,
                             "metric": r.metric, "value": round(r.value, 4),
                             "tpr": None if r.tpr is None else round(r.tpr, 4),
                             "tnr": None if r.tnr is None else round(r.tnr, 4),
                             "fit_seconds": round(r.fit_seconds, 1), "score_seconds": round(r.score_seconds, 1)}
                            for r in self.results],
                "worst": {k: None if v is None else {"source": v[0], "value": round(v[1], 4)}
                          for k, v in self.worst().items()}}


def evaluate_source(rows: Sequence[PromptRow], source: str, fit: Fit, eval_split: str | None = None) -> SourceResult:
    """Fit on every row not of `source`, score the rows of `source` (only its `eval_split` rows,
    e.g. `validation`, when given)."""
    train = [r for r in rows if r.source != source]
    test = [r for r in rows if r.source == source and (eval_split is None or r.split == eval_split)]
    t0 = time.perf_counter()
    scorer = fit(train)
    t1 = time.perf_counter()
    s = scorer.scores([r.text for r in test])
    t2 = time.perf_counter()
    y = np.array([r.label for r in test])
    pred = s >= scorer.threshold
    pos, neg = y == 1, y == 0
    return SourceResult(source, int(neg.sum()), int(pos.sum()),
                        float(pred[pos].mean()) if pos.any() else None,
                        float((~pred[neg]).mean()) if neg.any() else None, t1 - t0, t2 - t1)


def run(rows: Sequence[PromptRow], name: str, fit: Fit, sources: Sequence[str] | None = None,
        progress: bool = True) -> LosoReport:
    srcs = list(sources) if sources else sorted({r.source for r in rows})
    report = LosoReport(name)
    from core.progress import track
    for src in track(srcs, f"leave-one-source-out ({name})", enabled=progress):
        report.results.append(evaluate_source(rows, src, fit))
    return report


def table(reports: Sequence[LosoReport]) -> str:
    """One text table: a row per held-out source, a column per candidate, worst figures below."""
    srcs = [r.source for r in reports[0].results]
    by = [{r.source: r for r in rep.results} for rep in reports]
    w = max(len(s) for s in srcs + ["worst balanced accuracy"]) + 2
    head = f"{'held-out source':<{w}}{'benign':>7}{'attack':>7}  {'metric':<18}" + \
           "".join(f"{rep.candidate:>12}" for rep in reports)
    lines = [head, "-" * len(head)]
    for s in srcs:
        r0 = by[0][s]
        lines.append(f"{s:<{w}}{r0.n_benign:>7}{r0.n_attack:>7}  {r0.metric:<18}" +
                     "".join(f"{b[s].value:>12.3f}" for b in by))
    lines.append("-" * len(head))
    for m in ("balanced_accuracy", "recall", "tnr"):
        cells = []
        for rep in reports:
            v = rep.worst()[m]
            cells.append(f"{'-':>12}" if v is None else f"{v[1]:>12.3f}")
        lines.append(f"{'worst ' + m.replace('_', ' '):<{w}}{'':>14}  {'':<18}" + "".join(cells))
    for rep in reports:
        lines.append(f"  {rep.candidate}: worst " + ", ".join(
            f"{m.replace('_', ' ')} {v[0]}" for m, v in rep.worst().items() if v))
    return "\n".join(lines)
