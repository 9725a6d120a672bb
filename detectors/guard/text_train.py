"""Train model 4 of the prompt guard (detectors.guard.text_model; model 5, opt-in, with cfg.skeleton)
and save its artifact.

    warden train prompt-guard --data ../shared/data/prompts [--out F] [--embed-cache F] [--device auto]

Steps, each on a progress bar (the embedding step has its own):
1. every row's text is cleaned (normalize.clean); the lexical stage sees it whole up to
   text_model.WINDOW characters (longer: the first and last WINDOW / 2), as it serves a window;
2. character n-gram counts, IDF over the training rows, sublinear TF-IDF;
3. MiniLM embeddings (bfloat16, ENCODER_SETTINGS["dtype"]: each text alone, as the guard serves
   them; on the GPU when there is one) of every cleaned text, through an
   EmbeddingStore (`--embed-cache`: computed once, reused by every later run and bench fold);
4. model 5 only (cfg.skeleton): the skeleton stage (detectors.guard.skeleton: function-word
   skeletons, word 1-3-gram TF-IDF, its K = 300 words chosen from the training rows);
5. two class-balanced logistic regressions (warden's everyday seed weighing as one source) (liblinear for the 2^20 n-gram features, lbfgs for
   the 384 embedding dimensions), L2, C = 1: 0.5 is the balanced operating point of each and of
   their mean, so the threshold is 0.5 and nothing is tuned on any evaluation data.
Both solvers are deterministic: same data, same artifact checksum.

Source reweighting (every source weighing the same, split between its classes) was tried with
leave-one-source-out and did worse than class balance alone (README). `dro_eta` (opt-in, `--dro`)
fits the embedding head with group-DRO weights over the (source, class) groups instead
(detectors.guard.group_dro); None chooses eta inside the training sources (grouped K-fold).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard import group_dro, skeleton, text_model as tm
from detectors.guard.cascade import DEFAULT_PATH
from detectors.guard.data import PromptRow, source_counts, training_rows
from detectors.guard.normalize import clean
from detectors.guard.tfidf import idf_of, tfidf

SEED_SOURCE = "everyday_seed"
ENCODER_SETTINGS = {"max_tokens": 128, "head": 64, "quantize": False, "layers": 0, "dtype": "bfloat16"}


@dataclass
class TextTrainConfig:
    C_lex: float = 1.0
    C_emb: float = 1.0
    cascade: tuple[float, float] = (0.05, 0.95)
    embeddings: bool = True
    seed: bool = True            # add data.seed_rows() (warden's everyday benign seed) in main()
    dro_eta: float | None = 0.0  # group DRO of the embedding head: 0 off, None chosen in training
    skeleton: bool = False       # True: model 5, the third stage (detectors.guard.skeleton; format 5)


def sample_weights(rows: Sequence[PromptRow], seed_source: str = SEED_SOURCE) -> np.ndarray:
    """Class-balanced weights (each class weighs half), except that warden's everyday seed (171
    greetings and one-line tasks, a kind of prompt no public source has) weighs as much as an
    average source: in class balance alone its rows would be lost among 36,000."""
    y = np.array([r.label for r in rows])
    w = np.ones(len(rows))
    for c in (0, 1):
        if (y == c).any():
            w[y == c] = len(rows) / 2.0 / (y == c).sum()
    seed = np.array([r.source == seed_source for r in rows])
    n_sources = len({r.source for r in rows})
    if seed.any() and n_sources > 1:
        w[seed] = w[~seed].sum() / (n_sources - 1) / seed.sum()
    return w


def lexical_text(text: str) -> str:
    h = tm.WINDOW // 2
    return text if len(text) <= tm.WINDOW else text[:h] + " " + text[-h:]


class CountCache:
    """Character n-gram counts computed once per distinct text, shared by every bench fold."""

    def __init__(self) -> None:
        self._row: dict[str, int] = {}
        self._M = None

    def __call__(self, texts: list[str]):
        import scipy.sparse as sp
        todo = list(dict.fromkeys(t for t in texts if t not in self._row))
        if todo:
            C = tm.counts(todo)
            base = 0 if self._M is None else self._M.shape[0]
            self._M = C if self._M is None else sp.vstack([self._M, C], format="csr")
            self._row.update({t: base + i for i, t in enumerate(todo)})
        return self._M[[self._row[t] for t in texts]]


def fit(rows: Sequence[PromptRow], cfg: TextTrainConfig | None = None, *,
        embed: Callable[[list[str]], np.ndarray] | None = None, featurize: Callable | None = None,
        progress: bool = True) -> tm.TextModel:
    """A TextModel fitted on `rows`; `embed(texts) -> (n, 384)` gives the MiniLM embeddings (None or
    cfg.embeddings False: lexical stage only)."""
    from sklearn.linear_model import LogisticRegression

    from core.progress import Bar
    cfg = cfg or TextTrainConfig()
    bar = Bar("train prompt guard", 5, enabled=progress)
    texts = [clean(r.text) for r in rows]
    y = np.array([r.label for r in rows])
    bar.describe("n-gram counts")
    C = (featurize or tm.counts)([lexical_text(t) for t in texts])
    idf = np.asarray(idf_of(C), np.float16).astype(np.float32)     # what the artifact stores
    bar.update(1)
    bar.describe("lexical stage")
    w = sample_weights(rows)
    lex = LogisticRegression(C=cfg.C_lex, solver="liblinear", max_iter=1000)
    lex.fit(tfidf(C, idf), y, sample_weight=w)
    bar.update(1)
    bar.describe("skeleton stage")
    skel = skeleton.fit(texts, y, w) if cfg.skeleton else None
    bar.update(1)
    emb_w, emb_b, dro = np.zeros(0, np.float32), 0.0, {}
    bar.describe("embeddings")
    E = embed(texts) if (embed is not None and cfg.embeddings) else None
    bar.update(1)
    bar.describe("embedding head")
    if E is not None:
        X, srcs, eta = np.asarray(E, np.float64), [r.source for r in rows], cfg.dro_eta
        if eta is None:
            choice = group_dro.choose_eta(X, y, srcs, lambda idx: sample_weights([rows[i] for i in idx]),
                                          keep=(SEED_SOURCE,), C=cfg.C_emb)
            eta, dro = choice.eta, {"scores": {str(k): round(v, 4) for k, v in choice.scores.items()}}
        head = group_dro.fit_head(X, y, w, srcs, eta, C=cfg.C_emb)
        emb_w, emb_b = head.coef_[0].astype(np.float32), float(head.intercept_[0])
        dro["eta"] = eta
    bar.update(1)
    bar.close()
    return tm.TextModel(idf=idf, lex_w=np.asarray(lex.coef_[0], np.float16).astype(np.float32),
                        lex_b=float(lex.intercept_[0]), emb_w=emb_w, emb_b=emb_b, cascade=tuple(cfg.cascade),
                        threshold=0.5, encoder=dict(ENCODER_SETTINGS) if E is not None else {},
                        meta={"dro": dro} if cfg.dro_eta != 0 and dro else {},
                        model_version="5" if skel is not None else "4", skeleton=skel)


def _finetuned(model: tm.TextModel, rows: Sequence[PromptRow], ft: Any, device: str, hidden_cache: str | None,
               progress: bool, ensemble: bool = False) -> tm.TextModel:
    """Model 6: the lower layers' states of every cleaned text stored once, then the top layers
    fine-tuned (detectors.guard.finetune), all on `device` (cuda when there is one); model 7
    (`ensemble`) keeps model 4's frozen head beside the fine-tuned one."""
    import os
    import tempfile

    from detectors.guard import finetune, hidden_store
    from detectors.guard.embed import TextEncoder
    lower = TextEncoder(device=device, **dict(ENCODER_SETTINGS, layers=ft.lower_layers), alone=True)
    texts = [clean(r.text) for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        pause = finetune.pause_while(os.environ.get("WARDEN_QUIET_FILE"))
        store = hidden_store.build(hidden_cache or Path(tmp) / "hidden.npy", lower, texts, progress=progress,
                                   pause=pause)
        model, _ = finetune.fit_onto(model, texts, np.array([r.label for r in rows]), [r.source for r in rows],
                                     store, ft, device=lower.device, progress=progress, pause=pause,
                                     ensemble=ensemble)
        del store
    return model


def store_embedder(store: Any, encoder: Any, progress: bool = True) -> Callable[[list[str]], np.ndarray]:
    return lambda texts: store.embed(encoder, texts, progress=progress)


def main(data: str | Path, out: str | Path | None = None, device: str = "auto", *, limit: int | None = None,
         embed_cache: str | None = None, progress: bool = True, cfg: TextTrainConfig | None = None,
         finetune_cfg: Any = None, hidden_cache: str | None = None, ensemble: bool = False) -> dict:
    """Train on every row of `data` (plus the seed), save the artifact to `out` (default: the shipped
    artifact, detectors/guard/model/guard.bin). With `finetune_cfg` (a finetune.FineTuneConfig):
    model 6, the sentence stage fine-tuned (lower layers' states kept in `hidden_cache`, else in a
    temporary file); with `ensemble` too: model 7 (model 4's frozen head and the fine-tuned one averaged)."""
    cfg = cfg or TextTrainConfig()
    t0 = time.time()
    rows = training_rows(data, limit, cfg.seed)
    embed, dev = None, "cpu"
    if cfg.embeddings:
        from detectors.guard.embed import TextEncoder
        from detectors.guard.embed_store import EmbeddingStore
        encoder = TextEncoder(device=device, **ENCODER_SETTINGS)
        dev = encoder.device
        settings = dict(encoder.settings(), quantize=False)
        embed = store_embedder(EmbeddingStore(embed_cache, settings), encoder, progress)
    model = fit(rows, cfg, embed=embed, progress=progress)
    if finetune_cfg is not None and model.has_embedding:
        model = _finetuned(model, rows, finetune_cfg, device, hidden_cache, progress, ensemble)
    srcs = source_counts(rows)
    # nothing time-dependent in the artifact: same data, same bytes
    model.meta.update({"data": Path(data).name, "rows": len(rows), "sources_trained": sorted(srcs),
                       "source_counts": srcs,
                       # dro_eta 0 (off) is left out: the default artifact stays byte for byte what it was
                       "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()
                                  if (k, v) not in (("dro_eta", 0), ("skeleton", False))}})
    path = model.save(out or DEFAULT_PATH)
    return {"out": str(path), "model_version": model.model_version, "rows": len(rows),
            "bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "seconds": round(time.time() - t0, 1), "device": dev, "threshold": model.threshold}
