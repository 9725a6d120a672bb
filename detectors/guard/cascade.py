"""The prompt-guard model: a lexical stage, a joint lexical + MiniLM stage, and its artifact.

Per window of cleaned text (detectors.guard.normalize, detectors.guard.windows):
  stage 1 (lexical): hashed char / word n-grams x (detectors.guard.features)
                     p_lex = sigmoid(lex_w . x + lex_b)
  stage 2 (joint):   the same x and e, the unit-norm mean-pooled all-MiniLM-L6-v2 embedding of the
                     window (fp32, never quantised: the same vector alone or in any batch)
                     p = sigmoid(joint_w . x + emb_w . e + joint_b)
Both are class- and source-balanced logistic regressions (detectors.guard.train), so 0.5 is their
balanced operating point. Cascade: where p_lex <= cascade[0] or >= cascade[1] the lexical stage
decides alone; between the two the joint stage runs. A text's score is the highest over its
windows and decoded views.

Artifact (`detectors/guard/model/guard.bin`), no pickle:
  b"WGRD" | u32 header length | JSON header | raw little-endian arrays
The header holds `format`, `model_version`, `sha256` of the array section, each array's dtype /
shape / offset, cascade bounds, threshold, encoder settings and training metadata.
`GuardModel.load()` checks magic, format and checksum and raises ArtifactError with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.guard import artifact, features
from detectors.guard.artifact import MAGIC, ArtifactError  # noqa: F401 - re-exported

FORMAT = 3
DEFAULT_PATH = Path(__file__).resolve().parent / "model" / "guard.bin"
ARRAYS = ("lex_w", "joint_w", "emb_w")


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.clip(np.asarray(z, np.float64), -40, 40)
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class GuardModel:
    dim: int
    lex_w: np.ndarray                  # (dim,)
    lex_b: float
    joint_w: np.ndarray                # (dim,)   -- empty: lexical only
    emb_w: np.ndarray                  # (384,)   -- empty: lexical only
    joint_b: float = 0.0
    cascade: tuple[float, float] = (0.02, 0.98)
    threshold: float = 0.5
    fine_threshold: float = 1.0        # raw score at which a fine-scale (300-character) window denies
    encoder: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    model_version: str = "3"

    @property
    def has_embedding(self) -> bool:
        return self.emb_w.size > 0

    def sparse(self, texts) -> Any:
        return features.matrix(texts, self.dim)

    def p_lex(self, X) -> np.ndarray:
        return sigmoid(X @ self.lex_w.astype(np.float64) + self.lex_b)

    def p_joint(self, X, E: np.ndarray) -> np.ndarray:
        z = X @ self.joint_w.astype(np.float64) + E.astype(np.float64) @ self.emb_w.astype(np.float64)
        return sigmoid(z + self.joint_b)

    def fine_map(self, p: np.ndarray) -> np.ndarray:
        """Monotone map of fine-scale window scores: fine_threshold -> threshold, 0 -> 0, 1 -> 1;
        fine_threshold >= 1 turns the fine scale off (every mapped score stays below threshold)."""
        th, tf = self.threshold, self.fine_threshold
        p = np.asarray(p, np.float64)
        if tf >= 1.0:
            return p * th * (1.0 - 1e-9)
        return np.where(p < tf, p * th / tf, th + (p - tf) * (1.0 - th) / max(1.0 - tf, 1e-9))

    def in_band(self, p_lex: np.ndarray) -> np.ndarray:
        return (p_lex > self.cascade[0]) & (p_lex < self.cascade[1])

    # -- artifact (detectors.guard.artifact) ------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = {"format": FORMAT, "kind": "warden.prompt_guard", "model_version": self.model_version,
                  "dim": self.dim, "lex_b": self.lex_b, "joint_b": self.joint_b, "cascade": list(self.cascade),
                  "threshold": self.threshold, "fine_threshold": self.fine_threshold, "encoder": self.encoder,
                  "meta": self.meta}
        return artifact.write(header, {name: np.asarray(getattr(self, name),
                                                        np.float16 if name != "emb_w" else np.float32)
                                       for name in ARRAYS})

    def save(self, path: str | Path) -> Path:
        return artifact.save(self.to_bytes(), path)

    @classmethod
    def from_bytes(cls, blob: bytes) -> "GuardModel":
        header, body = artifact.read_header(blob)
        if header.get("format") != FORMAT:
            raise ArtifactError(f"unsupported guard artifact format {header.get('format')!r} (this warden "
                                f"reads formats {FORMAT}, 4 and 5; retrain with `warden train prompt-guard`)")
        arrays = artifact.read_arrays(header, body, ARRAYS)
        return cls(dim=int(header["dim"]), lex_b=float(header["lex_b"]), joint_b=float(header["joint_b"]),
                   cascade=tuple(header["cascade"]), threshold=float(header["threshold"]),
                   fine_threshold=float(header.get("fine_threshold", 1.0)),
                   encoder=header.get("encoder", {}), meta=header.get("meta", {}),
                   model_version=str(header.get("model_version", "0")), **arrays)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "GuardModel":
        p = Path(path) if path else DEFAULT_PATH
        if not p.exists():
            raise ArtifactError(f"guard artifact not found: {p} (train one with `warden train prompt-guard`)")
        return cls.from_bytes(p.read_bytes())
