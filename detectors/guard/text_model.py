"""Models 4 and 5 of the prompt guard: character n-gram TF-IDF and a MiniLM sentence head (model 4),
and a function-word skeleton stage (model 5), averaged.

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
  skeleton:  (model 5) p_skel of the cleaned text's function-word skeleton (detectors.guard.skeleton);
  score:     (p_lex + p_emb) / 2, or (p_lex + p_emb + p_skel) / 3 in model 5, denied at `threshold` (0.5: both stages are class-balanced
             logistic regressions, so 0.5 is their balanced operating point; nothing tuned);
  fine scale: a text over FINE_FROM characters is also cut into FINE_SIZE-character windows every
             FINE_STRIDE, so a paragraph in the middle of a long e-mail is not diluted by the rest
             (nor missed by an embedding of the text's first and last word pieces). A fine window
             the lexical stage flags (p_lex >= threshold) is scored as a text of its own would be
             (its own embedding where the cascade leaves it undecided); where that score reaches
             FINE_THRESHOLD (0.8, above the 0.5 a whole text needs: with up to MAX_FINE windows a
             text, the balanced bar denied 2-4% more of the long benign documents held out) and
             beats the whole text's, it is the text's score. Windows the lexical stage does not
             flag add nothing (and cost no encoder run).
Cascade: where p_lex <= cascade[0] or >= cascade[1] the encoder does not run and p_lex stands in for
p_emb (model 4: p_lex decides alone; model 5: (2 p_lex + p_skel) / 3, on the same side of 0.5 as
p_lex for cascade (0.05, 0.95)); the encoder runs on the rest. Without an encoder (package missing)
likewise.

A text's score depends on that text alone (hashed features; one encoder run per text; bfloat16
runs each text alone and unpadded): the same alone or in any batch. Artifact: detectors.guard.artifact, kind `tfidf+minilm`, format 4 (model 4) or 5 (model 5: the
skeleton stage's K words in the header, its IDF and weights as arrays), 6 (model 6: the sentence
stage's top MiniLM layers fine-tuned, detectors.guard.finetune) or 7 (model 7: model 6 keeping model
4's frozen head, `frozen_w` / `frozen_b`; the encoder gives [frozen | fine-tuned] vectors and
p_emb = (sigmoid(frozen head) + sigmoid(fine-tuned head)) / 2, so score = (p_lex + p_emb) / 2 is the
mean of model 4's and model 6's scores wherever no fine window decides); all are read.
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
from detectors.guard.skeleton import SkeletonStage
from detectors.guard.tfidf import tfidf
from detectors.guard.windows import windows

FORMAT = 4               # lexical + sentence head
FORMAT_SKELETON = 5      # and the skeleton stage (detectors.guard.skeleton)
FORMAT_FINETUNED = 6     # model 4 with fine-tuned top MiniLM layers (detectors.guard.finetune)
FORMAT_ENSEMBLE = 7      # model 6 keeping model 4's frozen sentence head: the two heads averaged
FORMATS = (FORMAT, FORMAT_SKELETON, FORMAT_FINETUNED, FORMAT_ENSEMBLE)
KIND = "tfidf+minilm"
N_FEATURES = 1 << 20
WINDOW, STRIDE = 4000, 3200
MAX_WINDOWS = 16
FINE_SIZE, FINE_STRIDE = 1000, 500   # the fine scale, for texts over FINE_FROM characters
FINE_FROM = 2000                     # (~512 word pieces: shorter prompts keep their latency)
FINE_THRESHOLD = 0.8                 # a fine window counts at this score (README: why not 0.5)
MAX_FINE = 72                        # covers max_chars 32,768 (65 windows) with overlap
ARRAYS = ("idf", "lex_w", "emb_w")
SKELETON_ARRAYS = ("skel_idf", "skel_w")


def _vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer
    return HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES,
                             alternate_sign=False, norm=None, lowercase=True)


def counts(texts: Sequence[str]):
    """Raw hashed character n-gram counts (CSR, n x N_FEATURES)."""
    return _vectorizer().transform(list(texts)).tocsr()


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
    skeleton: SkeletonStage | None = None     # the third stage (format 5)
    top: dict[str, np.ndarray] | None = None  # fine-tuned top MiniLM layers by name (format 6)
    lower_layers: int = 0                     # format 6: the package's first k layers run below them
    frozen_w: np.ndarray | None = None        # format 7: model 4's head on the frozen encoder's vector
    frozen_b: float = 0.0

    def __post_init__(self) -> None:
        # float64 once (the same values): converting 2^20-long vectors per request cost milliseconds
        self.idf, self.lex_w, self.emb_w = (np.asarray(a, np.float64) for a in (self.idf, self.lex_w, self.emb_w))
        self.frozen_w = np.zeros(0) if self.frozen_w is None else np.asarray(self.frozen_w, np.float64)

    @property
    def is_ensemble(self) -> bool:
        """Model 7: the encoder gives [frozen vector | fine-tuned vector] (768 wide) and p_emb is the
        mean of model 4's head on the first half and model 6's on the second."""
        return bool(self.top) and self.frozen_w.size > 0

    @property
    def has_embedding(self) -> bool:
        return self.emb_w.size > 0

    def p_lex(self, texts: Sequence[str], featurize: Callable | None = None) -> np.ndarray:
        C = (featurize or counts)(list(texts))
        return sigmoid(tfidf(C, self.idf) @ self.lex_w + self.lex_b)

    def p_emb(self, E: np.ndarray) -> np.ndarray:
        E = np.asarray(E, np.float64)
        if not self.is_ensemble:
            return sigmoid(E @ self.emb_w + self.emb_b)
        d = self.frozen_w.size
        if E.shape[1] != d + self.emb_w.size:
            raise ValueError(f"model 7 needs [frozen | fine-tuned] vectors of width {d + self.emb_w.size}, got {E.shape[1]}")
        return (sigmoid(E[:, :d] @ self.frozen_w + self.frozen_b) + sigmoid(E[:, d:] @ self.emb_w + self.emb_b)) / 2.0

    def _skeleton(self, texts: Sequence[str]) -> np.ndarray | None:
        return None if self.skeleton is None else self.skeleton.p(texts)

    @staticmethod
    def _mean(pl: np.ndarray, pe: np.ndarray, ps: np.ndarray | None) -> np.ndarray:
        """The stages' mean: (p_lex + p_emb) / 2, or (p_lex + p_emb + p_skeleton) / 3 with a skeleton
        stage; where the encoder did not run, p_emb is p_lex (the cascade's lexical decision)."""
        return (pl + pe) / 2.0 if ps is None else (pl + pe + ps) / 3.0

    def score_texts(self, encoder: Any, texts: Sequence[str], featurize: Callable | None = None,
                    batch_size: int = 32) -> list[ScoreDetail]:
        """Scores of already-validated texts (`encoder` None: the lexical stage alone)."""
        units: list[tuple[int, str, int, str, bool]] = []     # text, view, window, window text, fine?
        main: list[str] = []
        for i, t in enumerate(texts):
            for v in views(t):
                if v.name == "text":
                    main.append(v.text)
                ws = [(w, False) for w in windows(v.text, WINDOW, STRIDE, limit=MAX_WINDOWS)]
                if len(v.text) > FINE_FROM:
                    ws += [(w, True) for w in windows(v.text, FINE_SIZE, FINE_STRIDE, limit=MAX_FINE)]
                units += [(i, v.name, j, w, fine) for j, (w, fine) in enumerate(ws)]
        if not units:
            return []
        p = self.p_lex([u[3] for u in units], featurize)
        best: dict[int, int] = {}
        nwin: dict[int, int] = {}
        for k, u in enumerate(units):
            nwin[u[0]] = nwin.get(u[0], 0) + 1
            if not u[4] and (u[0] not in best or p[k] > p[best[u[0]]]):
                best[u[0]] = k
        pl = np.array([p[best[i]] for i in range(len(texts))])
        enc = encoder if encoder is not None and self.has_embedding else None
        pe, used = self._embedded(enc, main, pl, batch_size)
        score = self._mean(pl, pe, self._skeleton(main))
        for k, s, by_enc in self._fine(enc, units, p, batch_size):
            i = units[k][0]
            if s > score[i]:
                score[i], best[i], used[i] = s, k, by_enc
        return [ScoreDetail(float(score[i]), "embedding" if used[i] else "lexical", units[best[i]][1],
                            units[best[i]][2], nwin[i], float(p[best[i]])) for i in range(len(texts))]

    def _fine(self, enc: Any, units: Sequence[tuple[int, str, int, str, bool]], p: np.ndarray,
              batch_size: int) -> list[tuple[int, float, bool]]:
        """(unit, score, encoder ran?) of the fine windows that reach FINE_THRESHOLD: those the
        lexical stage flags (p_lex >= threshold) and whose mean could reach it with p_emb = 1 (the
        others cannot count, so the encoder does not run on them)."""
        fine = np.array([k for k, u in enumerate(units) if u[4] and p[k] >= self.threshold], int)
        if not fine.size:
            return []
        pl = p[fine]
        ps = self._skeleton([units[k][3] for k in fine])
        may_embed = (pl > self.cascade[0]) & (pl < self.cascade[1]) & (enc is not None)
        could = self._mean(pl, np.where(may_embed, 1.0, pl), ps) >= FINE_THRESHOLD
        fine, pl, ps = fine[could], pl[could], None if ps is None else ps[could]
        pe, used = self._embedded(enc, [units[k][3] for k in fine], pl, batch_size)
        return [(int(k), float(s), bool(u)) for k, s, u in zip(fine, self._mean(pl, pe, ps), used)
                if s >= FINE_THRESHOLD]

    def _embedded(self, enc: Any, texts: Sequence[str], pl: np.ndarray,
                  batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(p_emb, encoder ran?) per text: the sentence head where the cascade leaves p_lex
        undecided (cascade[0] < p_lex < cascade[1]), p_lex itself elsewhere or without an encoder."""
        pe, used = pl.copy(), np.zeros(len(pl), bool)
        if enc is not None:
            band = np.flatnonzero((pl > self.cascade[0]) & (pl < self.cascade[1]))
            if band.size:
                pe[band] = self.p_emb(enc.encode([texts[i] for i in band], batch_size=batch_size))
                used[band] = True
        return pe, used

    # -- artifact -------------------------------------------------------------------------------
    def format(self) -> int:
        if self.top:
            return FORMAT_ENSEMBLE if self.is_ensemble else FORMAT_FINETUNED
        return FORMAT_SKELETON if self.skeleton is not None else FORMAT

    def to_bytes(self) -> bytes:
        """Format 4 (two stages), 5 (and a skeleton stage: its K words in the header) or 6 (fine-tuned
        top MiniLM layers as float16 arrays `top.*`, the number of frozen layers below in the header)."""
        header = {"format": self.format(), "kind": KIND,
                  "model_version": self.model_version, "n_features": N_FEATURES, "lex_b": self.lex_b,
                  "emb_b": self.emb_b, "cascade": list(self.cascade), "threshold": self.threshold,
                  "encoder": self.encoder, "meta": self.meta}
        arrays = {"idf": np.asarray(self.idf, np.float16), "lex_w": np.asarray(self.lex_w, np.float16),
                  "emb_w": np.asarray(self.emb_w, np.float32)}
        if self.skeleton is not None:
            header["skeleton"] = self.skeleton.header()
            arrays.update(skel_idf=np.asarray(self.skeleton.idf, np.float16),
                          skel_w=np.asarray(self.skeleton.w, np.float16))
        if self.top:
            header["finetune"] = {"lower_layers": self.lower_layers}
            arrays.update({k: np.asarray(v, np.float16) for k, v in sorted(self.top.items())})
        if self.is_ensemble:
            header["frozen_b"] = self.frozen_b
            arrays["frozen_w"] = np.asarray(self.frozen_w, np.float32)
        return artifact.write(header, arrays)

    def save(self, path: str | Path) -> Path:
        return artifact.save(self.to_bytes(), path)

    @classmethod
    def from_parts(cls, header: dict[str, Any], body: bytes) -> "TextModel":
        fmt = header.get("format")
        if fmt not in FORMATS or header.get("kind") != KIND or int(header.get("n_features", 0)) != N_FEATURES:
            raise artifact.ArtifactError(f"not a {KIND} guard artifact of format {' or '.join(map(str, FORMATS))} "
                                         f"with {N_FEATURES} features (format {fmt!r}, kind {header.get('kind')!r})")
        skel = fmt == FORMAT_SKELETON
        if skel and not isinstance(header.get("skeleton"), dict):
            raise artifact.ArtifactError("guard artifact of format 5 without its skeleton stage header")
        top_names: tuple[str, ...] = ()
        ens = fmt == FORMAT_ENSEMBLE
        if fmt in (FORMAT_FINETUNED, FORMAT_ENSEMBLE):
            top_names = tuple(sorted(k for k in (header.get("arrays") or {}) if k.startswith("top.")))
            if not top_names or not isinstance((header.get("finetune") or {}).get("lower_layers"), int):
                raise artifact.ArtifactError(f"guard artifact of format {fmt} without its fine-tuned layers")
            if ens and not isinstance(header.get("frozen_b"), (int, float)):
                raise artifact.ArtifactError("guard artifact of format 7 without its frozen sentence head")
        a = artifact.read_arrays(header, body, ARRAYS + (SKELETON_ARRAYS if skel else ()) + top_names
                                 + (("frozen_w",) if ens else ()))
        stage = None
        if skel:
            try:
                stage = SkeletonStage.from_header(header["skeleton"], a["skel_idf"], a["skel_w"])
            except (KeyError, TypeError, ValueError) as e:
                raise artifact.ArtifactError(f"guard artifact's skeleton stage unreadable: {e}") from None
        return cls(idf=a["idf"], lex_w=a["lex_w"], lex_b=float(header["lex_b"]), emb_w=a["emb_w"],
                   emb_b=float(header["emb_b"]), cascade=tuple(header["cascade"]),
                   threshold=float(header["threshold"]), encoder=header.get("encoder", {}),
                   meta=header.get("meta", {}), model_version=str(header.get("model_version", "4")),
                   skeleton=stage, top={k: a[k] for k in top_names} or None,
                   lower_layers=int((header.get("finetune") or {}).get("lower_layers", 0)),
                   frozen_w=a.get("frozen_w"), frozen_b=float(header.get("frozen_b", 0.0)))
