"""The candidates `warden bench guard --leave-one-source-out` compares (see bench/guard/loso.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from detectors.guard.data import PromptRow

CLIP = 4000


def _clip(t: str) -> str:
    return t if len(t) <= CLIP else t[:CLIP // 2] + " " + t[-CLIP // 2:]


@dataclass
class TfidfScorer:
    vec: Any
    tfidf: Any
    lr: Any
    threshold: float = 0.5

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        X = self.tfidf.transform(self.vec.transform([_clip(t) for t in texts]))
        return self.lr.predict_proba(X)[:, 1]


def fit_tfidf(rows: Sequence[PromptRow]) -> TfidfScorer:
    """Baseline: character 2-5-grams (word-bounded), sublinear TF-IDF, class-balanced logistic
    regression (C = 1), threshold 0.5."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=1 << 20, alternate_sign=False,
                            norm=None, lowercase=True)
    X = vec.transform([_clip(r.text) for r in rows])
    tfidf = TfidfTransformer(sublinear_tf=True).fit(X)
    lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000, solver="liblinear")
    lr.fit(tfidf.transform(X), np.array([r.label for r in rows]))
    return TfidfScorer(vec, tfidf, lr)


@dataclass
class GuardScorer:
    guard: Any

    @property
    def threshold(self) -> float:
        return self.guard.threshold

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([1.0 if s is None else s for s, _ in self.guard.score_many(list(texts))])


def fit_shipped(rows: Sequence[PromptRow]) -> GuardScorer:
    """The artifact in the repository as it is (not refitted)."""
    from detectors.guard.guard import PromptGuard
    return GuardScorer(PromptGuard())


_FEATURES: dict[int, Any] = {}


def embed_cache_path(dtype: str = "bfloat16") -> Path:
    """bench/out/guard/minilm-128[-bf16].npz: one store per encoder precision (a store of other
    settings is not read, and would be overwritten)."""
    return Path(__file__).resolve().parents[1] / "out" / "guard" / \
        ("minilm-128.npz" if dtype == "float32" else f"minilm-128-{dtype.replace('float', 'f')}.npz")



_STORE: list[Any] = []
_COUNTS: list[Any] = []


def _stored():
    """One MiniLM embedding store (bench/out/guard/, gitignored) and count cache for every fold."""
    if not _STORE:
        from detectors.guard.embed import TextEncoder
        from detectors.guard.embed_store import EmbeddingStore
        from detectors.guard.text_train import ENCODER_SETTINGS, CountCache
        enc = TextEncoder(device="cpu", **ENCODER_SETTINGS)
        _STORE.append((EmbeddingStore(embed_cache_path(enc.dtype), dict(enc.settings(), quantize=False)), enc))
        _COUNTS.append(CountCache())
    return _STORE[0] + (_COUNTS[0],)


def fit_text(rows: Sequence[PromptRow], embeddings: bool = True, dro_eta: float | None = 0.0,
             skeleton: bool = False) -> GuardScorer:
    """The shipped trainer (detectors.guard.text_train.fit: model 4; model 5 with `skeleton`)
    refitted on the training sources plus warden's everyday seed, scored as the guard serves it
    (views, windows, cascade); embeddings from the store (computed once)."""
    from detectors.guard import text_train
    from detectors.guard.data import seed_rows
    from detectors.guard.embed_store import StoredEncoder
    from detectors.guard.guard import PromptGuard
    store, enc, counts = _stored()
    cfg = text_train.TextTrainConfig(embeddings=embeddings, dro_eta=dro_eta, skeleton=skeleton)
    model = text_train.fit(list(rows) + seed_rows(), cfg, embed=text_train.store_embedder(store, enc, False),
                           featurize=counts, progress=False)
    return GuardScorer(PromptGuard(model=model, encoder=StoredEncoder(store, enc), use_embedding=embeddings))


def fit_text4(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 4 (lexical stage + sentence head), as served: the same as `text`."""
    return fit_text(rows)


def fit_text5(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 5 (model 4 and the skeleton stage, detectors.guard.skeleton), as it would be served."""
    return fit_text(rows, skeleton=True)


def fit_text_dro(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 4 with a group-DRO sentence head, eta chosen inside the training sources
    (detectors.guard.group_dro)."""
    return fit_text(rows, dro_eta=None)


def fit_lexical(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 4's lexical stage alone (the ablation)."""
    return fit_text(rows, embeddings=False)


def fit_guard(rows: Sequence[PromptRow], cfg: Any = None) -> GuardScorer:
    """Model 3.s trainer (the previous shipped model; detectors.guard.train.fit: hashed n-grams), refitted on
    the training sources."""
    from detectors.guard import train
    from detectors.guard.guard import PromptGuard
    cfg = cfg or train.TrainConfig()
    from detectors.guard.features import FeatureCache
    cache = _FEATURES.setdefault(cfg.dim, FeatureCache(cfg.dim))
    from detectors.guard.data import seed_rows
    model = train.fit(list(rows) + (seed_rows() if cfg.seed else []), cfg, progress=False, featurize=cache)
    return GuardScorer(PromptGuard(model=model, use_embedding=cfg.embeddings))


@dataclass
class SkeletonScorer:
    stage: Any
    threshold: float = 0.5

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        from detectors.guard.normalize import clean
        return self.stage.p([clean(t) for t in texts])


def fit_skeleton(rows: Sequence[PromptRow]) -> SkeletonScorer:
    """The skeleton stage alone (detectors.guard.skeleton), trained as model 5 trains it."""
    from detectors.guard import skeleton
    from detectors.guard.data import seed_rows
    from detectors.guard.normalize import clean
    from detectors.guard.text_train import sample_weights
    rows = list(rows) + seed_rows()
    return SkeletonScorer(skeleton.fit([clean(r.text) for r in rows], np.array([r.label for r in rows]),
                                       sample_weights(rows)))


def fit_text6(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 6: model 4 with its sentence stage fine-tuned (the top MiniLM layers, pooling and head,
    detectors.guard.finetune; the lower layers' states from bench/out/guard/minilm-l4-bf16.npy),
    scored as it would be served (views, windows, cascade, bfloat16)."""
    from bench.guard import finetuned
    from detectors.guard.guard import PromptGuard
    model, encoder = finetuned.fit(rows, *_stored())
    return GuardScorer(PromptGuard(model=model, encoder=encoder))


def fit_text7(rows: Sequence[PromptRow]) -> GuardScorer:
    """Model 7: model 6 keeping model 4's frozen sentence head, p_emb the mean of the two heads
    (score = (p_lex + (p_frozen + p_finetuned) / 2) / 2), scored as it would be served."""
    from bench.guard import finetuned
    from detectors.guard.guard import PromptGuard
    model, encoder = finetuned.fit(rows, *_stored(), ensemble=True)
    return GuardScorer(PromptGuard(model=model, encoder=encoder))
