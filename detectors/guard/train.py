"""Train the prompt guard from labelled prompts and save its artifact.

    warden train prompt-guard --model 3 --data ../shared/data/prompts [--out guard.bin] [--device auto]

Data: data.load_sources (the dev file and every extra/ file, or one JSON-lines file of `text`,
`label`, `source`). Steps, each on a progress bar:
1. every row's text is cleaned (normalize.clean) and cut into windows (windows.windows, at most
   `max_windows` a row); a benign row's windows are all benign examples (weight / sqrt(n)); an
   attack row's windows start as attack examples sharing its weight;
2. hashed n-gram features for every window; MiniLM embeddings (torch, on the GPU when there is one;
   fp32) for every window, kept in `embed_cache` when given;
3. weights (row_weights): each source weighs n^(1 - `balance_power`), split equally between its
   classes when it has both; the two classes weigh the same overall, so 0.5 is the balanced
   operating point of both stages (threshold 0.5, no tuning on any evaluation data);
4. fit the lexical stage (logistic regression on the n-grams) and the joint stage (n-grams +
   embedding), SGD, L2 `alpha`, `epochs` passes;
5. refine once (multiple-instance): an attack row with several windows keeps only its
   highest-scoring window under the joint stage (the injection is somewhere in it, not everywhere);
   refit both stages.
The cascade band is fixed (`cascade`, a design constant, not tuned on data). Training is
deterministic: same data, same artifact checksum.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard import features
from detectors.guard.cascade import DEFAULT_PATH, GuardModel
from detectors.guard.data import PromptRow, source_counts, training_rows
from detectors.guard.normalize import clean
from detectors.guard.windows import windows

MODEL_VERSION = "3"
ENCODER_SETTINGS = {"max_tokens": 256, "head": 128, "quantize": False, "layers": 0}


@dataclass
class TrainConfig:
    dim: int = 1 << 18
    alpha: float = 2e-5          # L2 penalty of the SGD logistic regressions
    epochs: int = 5
    balance_power: float = 0.5
    max_windows: int = 6         # per training row (serving scores every window)
    cascade: tuple[float, float] = (0.02, 0.98)
    threshold: float | None = None   # None: chosen out of source inside the training data (threshold.py)
    inner_folds: int = 2
    seed: bool = True            # add data.seed_rows() (warden's everyday benign seed) in main()
    embeddings: bool = False     # the joint MiniLM stage (see the module doc for why it is off by default)
    refine: bool = True


@dataclass
class Examples:
    texts: list[str]
    y: np.ndarray
    w: np.ndarray
    row: np.ndarray          # the row each window came from


def row_weights(rows: Sequence[PromptRow], power: float) -> np.ndarray:
    """Each source weighs n_source^(1 - power) in all (a large source cannot outvote the others),
    split equally between its two classes when it has both (what tells one of its documents from
    another is then the injection, not the source's topic: BIPIA's e-mails are not evidence), and
    the two classes weigh the same overall."""
    y = np.array([r.label for r in rows])
    per_source: dict[str, list[int]] = {}
    for r in rows:
        per_source.setdefault(r.source, [0, 0])[r.label] += 1
    w = np.empty(len(rows), np.float64)
    for i, r in enumerate(rows):
        n = per_source[r.source]
        total = float(sum(n)) ** (1.0 - power)
        share = total / 2.0 if n[0] and n[1] else total
        w[i] = share / n[r.label]
    for c in (0, 1):
        if (y == c).any():
            w[y == c] *= len(rows) / 2.0 / w[y == c].sum()
    return w


def build_examples(rows: Sequence[PromptRow], cfg: TrainConfig) -> Examples:
    rw = row_weights(rows, cfg.balance_power)
    texts, y, w, row = [], [], [], []
    for i, r in enumerate(rows):
        ws = windows(clean(r.text), limit=cfg.max_windows)
        share = rw[i] / (np.sqrt(len(ws)) if r.label == 0 else len(ws))
        texts += ws
        y += [r.label] * len(ws)
        w += [share] * len(ws)
        row += [i] * len(ws)
    return Examples(texts, np.array(y), np.array(w), np.array(row))


def _logreg(X, y, w, cfg: "TrainConfig"):
    """Weighted logistic regression by SGD (a fixed number of epochs, fixed seed: deterministic;
    liblinear needs minutes per fit on the ~10^8 non-zeros of all windows on a small CPU)."""
    from sklearn.linear_model import SGDClassifier
    m = SGDClassifier(loss="log_loss", alpha=cfg.alpha, max_iter=cfg.epochs, tol=None, random_state=0,
                      learning_rate="optimal", average=False)
    m.fit(X, y, sample_weight=w)
    return m.coef_[0], float(m.intercept_[0])


def _f16(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float16).astype(np.float32)   # what the artifact stores


def _fit_stages(X, E, ex: Examples, keep: np.ndarray, cfg: TrainConfig) -> tuple:
    import scipy.sparse as sp
    Xk, yk, wk = X[keep], ex.y[keep], ex.w[keep]
    lex_w, lex_b = _logreg(Xk, yk, wk, cfg)
    if E is None:
        return _f16(lex_w), lex_b, np.zeros(0, np.float32), np.zeros(0, np.float32), 0.0
    coef, b = _logreg(sp.hstack([Xk, sp.csr_matrix(E[keep])], format="csr"), yk, wk, cfg)
    return _f16(lex_w), lex_b, _f16(coef[:cfg.dim]), coef[cfg.dim:].astype(np.float32), b


def _refine(model: GuardModel, X, E, ex: Examples) -> np.ndarray:
    """Keep every benign window and, per attack row, only its highest-scoring window."""
    keep = ex.y == 0
    att = np.flatnonzero(ex.y == 1)
    p = model.p_joint(X[att], E[att]) if E is not None else model.p_lex(X[att])
    best: dict[int, tuple[float, int]] = {}
    for k, pk in zip(att, p):
        r = int(ex.row[k])
        if r not in best or pk > best[r][0]:
            best[r] = (float(pk), int(k))
    keep = keep.copy()
    for _, k in best.values():
        keep[k] = True
    w = ex.w.copy()
    counts = np.bincount(ex.row[att], minlength=int(ex.row.max()) + 1)
    for _, k in best.values():
        w[k] = ex.w[k] * counts[ex.row[k]]       # the row's whole weight on its chosen window
    ex.w = w
    return keep


def fit(rows: Sequence[PromptRow], cfg: TrainConfig | None = None, *, store=None, encoder=None,
        progress: bool = True, featurize: Callable[[list[str]], Any] | None = None) -> GuardModel:
    """A GuardModel fitted on `rows` (embeddings through `store.embed(encoder, texts)` when given;
    `featurize(texts) -> CSR matrix` replaces features.matrix, e.g. to reuse features across folds)."""
    cfg = cfg or TrainConfig()
    steps = (["threshold (out of source)"] if cfg.threshold is None else []) + \
        ["windows", "n-gram features", "embeddings", "fit", "refine + refit"]
    from core.progress import Bar
    bar = Bar("train prompt guard", len(steps), enabled=progress)

    def step(name: str) -> None:
        bar.describe(name)
        bar.update(1)

    featurize = featurize or features.FeatureCache(cfg.dim)
    threshold, choice = cfg.threshold, {"threshold": cfg.threshold, "fine_threshold": 1.0, "why": "fixed in the config"}
    if threshold is None:
        from detectors.guard.threshold import choose_out_of_source
        choice = choose_out_of_source(
            rows, cfg, lambda r, c: fit(r, c, progress=False, featurize=featurize, store=store, encoder=encoder),
            featurize, encoder=encoder if cfg.embeddings else None)
        threshold = choice["threshold"]
        step("threshold (out of source)")
    ex = build_examples(rows, cfg)
    step("windows")
    X = featurize(ex.texts)
    step("n-gram features")
    E = None
    if cfg.embeddings:
        from detectors.guard.embed import TextEncoder
        from detectors.guard.embed_store import EmbeddingStore
        encoder = encoder or TextEncoder.shared(**ENCODER_SETTINGS)
        store = store or EmbeddingStore(None, encoder.settings())
        E = store.embed(encoder, ex.texts, progress=progress)
    step("embeddings")
    keep = np.ones(len(ex.texts), bool)
    model = GuardModel(cfg.dim, **_parts(_fit_stages(X, E, ex, keep, cfg)), cascade=tuple(cfg.cascade),
                       threshold=threshold, fine_threshold=float(choice.get("fine_threshold", 1.0)),
                       model_version=MODEL_VERSION, meta={"threshold_choice": choice})
    step("fit")
    if cfg.refine and (ex.y == 1).any():
        keep = _refine(model, X, E, ex)
        lex_w, lex_b, joint_w, emb_w, joint_b = _fit_stages(X, E, ex, keep, cfg)
        model.lex_w, model.lex_b, model.joint_w, model.emb_w, model.joint_b = lex_w, lex_b, joint_w, emb_w, joint_b
    step("refine + refit")
    bar.close()
    if E is not None:
        model.encoder = dict(encoder.settings())
    return model


def _parts(t: tuple) -> dict[str, Any]:
    lex_w, lex_b, joint_w, emb_w, joint_b = t
    return {"lex_w": lex_w, "lex_b": lex_b, "joint_w": joint_w, "emb_w": emb_w, "joint_b": joint_b}


def main(data: str | Path, out: str | Path | None = None, device: str = "auto", *, limit: int | None = None,
         embed_cache: str | None = None, progress: bool = True, cfg: TrainConfig | None = None) -> dict:
    """Train model 3 on every row of `data`, save the artifact to `out` (default: the shipped path, which
    then holds model 3 instead of model 4)."""
    from detectors.guard.embed import TextEncoder
    from detectors.guard.embed_store import EmbeddingStore
    cfg = cfg or TrainConfig()
    t0 = time.time()
    rows = training_rows(data, limit, cfg.seed)
    encoder = TextEncoder(device=device, **ENCODER_SETTINGS) if cfg.embeddings else None
    store = EmbeddingStore(embed_cache, encoder.settings()) if encoder else None
    model = fit(rows, cfg, store=store, encoder=encoder, progress=progress)
    srcs = source_counts(rows)
    # nothing time-dependent in the artifact: same data, same bytes
    model.meta.update({"data": Path(data).name, "rows": len(rows), "sources_trained": sorted(srcs),
                       "source_counts": srcs,
                       "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
                       "device": encoder.device if encoder else "cpu"})
    path = model.save(out or DEFAULT_PATH)
    return {"out": str(path), "model_version": model.model_version, "rows": len(rows),
            "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "seconds": round(time.time() - t0, 1), "device": model.meta["device"],
            "threshold": model.threshold}
