"""The prompt-guard model: a lexical / embedding cascade, its artifact, and its scoring.

Stage 1 (lexical): hashed char / word n-grams (detectors.guard.features) -> linear logit `z_lex`.
Stage 2 (semantic): all-MiniLM-L6-v2 sentence embedding -> small MLP head -> logit `z_emb`.
Calibration (Platt, fitted on a split not used to train either stage, class-balanced):
  p_lex = sigmoid(a_lex * z_lex + c_lex)                 (lexical alone)
  p     = sigmoid(a * z_lex + b * z_emb + c)             (both stages)
Cascade: when p_lex <= cascade_low or p_lex >= cascade_high the lexical stage decides alone (clear
cases, ~0.2 ms); otherwise the embedding stage runs (~10-30 ms on a small CPU). The decision
threshold on the calibrated score is `threshold` (0.5 by default: with class-balanced calibration
this is the balanced-accuracy operating point).

Artifact (`detectors/guard/model/guard.bin`), no pickle:
  b"WGRD" | u32 header length | JSON header | raw little-endian arrays
The header holds `format`, `model_version`, `sha256` of the array section, each array's dtype /
shape / offset, the calibration, cascade bounds, threshold, encoder settings and training metrics.
`GuardModel.load()` checks magic, format and checksum and raises ArtifactError with the reason.
"""
from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.guard import features

MAGIC = b"WGRD"
FORMAT = 1
DEFAULT_PATH = Path(__file__).resolve().parent / "model" / "guard.bin"


class ArtifactError(ValueError):
    pass


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@dataclass
class GuardModel:
    dim: int
    lex_w: np.ndarray                 # (dim,) float32
    lex_b: float
    head: dict[str, np.ndarray]       # w1 (384, H), b1 (H,), w2 (H,), b2 (1,)  -- empty: lexical only
    calib_lex: tuple[float, float]    # a_lex, c_lex
    calib: tuple[float, float, float]  # a, b, c
    cascade: tuple[float, float] = (0.05, 0.95)
    threshold: float = 0.5
    encoder: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    model_version: str = "0"

    # -- scoring --------------------------------------------------------------------------------
    @property
    def has_embedding(self) -> bool:
        return bool(self.head)

    def lex_logit(self, text: str) -> float:
        ids, w = features.featurize(text, self.dim)
        return float(np.dot(self.lex_w[ids], w)) + self.lex_b

    def lex_logits(self, texts) -> np.ndarray:
        return np.array([self.lex_logit(t) for t in texts], np.float64)

    def emb_logits(self, emb: np.ndarray) -> np.ndarray:
        h = emb.astype(np.float32) @ self.head["w1"] + self.head["b1"]
        h = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))  # GELU (tanh approx.)
        return (h @ self.head["w2"] + self.head["b2"][0]).astype(np.float64)

    def p_lex(self, z_lex: float) -> float:
        return _sigmoid(self.calib_lex[0] * z_lex + self.calib_lex[1])

    def p_both(self, z_lex: float, z_emb: float) -> float:
        a, b, c = self.calib
        return _sigmoid(a * z_lex + b * z_emb + c)

    def in_cascade_band(self, p_lex: float) -> bool:
        return self.cascade[0] < p_lex < self.cascade[1]

    # -- artifact -------------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        arr = {"lex_w": self.lex_w.astype(np.float16)}
        for k, v in self.head.items():
            arr["head." + k] = np.asarray(v, np.float32)
        return arr

    def to_bytes(self) -> bytes:
        body = bytearray()
        spec = {}
        for name, a in self.arrays().items():
            a = np.ascontiguousarray(a)
            b = a.astype(a.dtype.newbyteorder("<")).tobytes()
            spec[name] = {"dtype": a.dtype.str.lstrip("<>|="), "shape": list(a.shape),
                          "offset": len(body), "nbytes": len(b)}
            body += b
        header = {"format": FORMAT, "kind": "warden.prompt_guard", "model_version": self.model_version,
                  "sha256": hashlib.sha256(bytes(body)).hexdigest(), "arrays": spec, "dim": self.dim,
                  "lex_b": self.lex_b, "calib_lex": list(self.calib_lex), "calib": list(self.calib),
                  "cascade": list(self.cascade), "threshold": self.threshold,
                  "encoder": self.encoder, "meta": self.meta}
        hb = json.dumps(header, sort_keys=True).encode()
        return MAGIC + struct.pack("<I", len(hb)) + hb + bytes(body)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)
        return path

    @classmethod
    def from_bytes(cls, blob: bytes) -> "GuardModel":
        if len(blob) < 8 or blob[:4] != MAGIC:
            raise ArtifactError("not a warden guard artifact (bad magic)")
        (hlen,) = struct.unpack_from("<I", blob, 4)
        if 8 + hlen > len(blob):
            raise ArtifactError("guard artifact truncated (header)")
        try:
            header = json.loads(blob[8:8 + hlen])
        except ValueError as e:
            raise ArtifactError(f"guard artifact header is not JSON: {e}") from None
        if header.get("format") != FORMAT:
            raise ArtifactError(f"unsupported guard artifact format {header.get('format')!r}")
        body = blob[8 + hlen:]
        if hashlib.sha256(body).hexdigest() != header.get("sha256"):
            raise ArtifactError("guard artifact checksum mismatch (corrupt or tampered)")
        arrays = {}
        for name, s in header["arrays"].items():
            if s["offset"] + s["nbytes"] > len(body):
                raise ArtifactError(f"guard artifact truncated (array {name})")
            a = np.frombuffer(body, dtype=np.dtype("<" + s["dtype"]) if s["dtype"][0] in "fiu" else s["dtype"],
                              count=int(np.prod(s["shape"])) if s["shape"] else 1, offset=s["offset"])
            arrays[name] = a.reshape(s["shape"]).astype(np.float32)
        head = {k[5:]: v for k, v in arrays.items() if k.startswith("head.")}
        return cls(dim=int(header["dim"]), lex_w=arrays["lex_w"], lex_b=float(header["lex_b"]), head=head,
                   calib_lex=tuple(header["calib_lex"]), calib=tuple(header["calib"]),
                   cascade=tuple(header["cascade"]), threshold=float(header["threshold"]),
                   encoder=header.get("encoder", {}), meta=header.get("meta", {}),
                   model_version=str(header.get("model_version", "0")))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "GuardModel":
        p = Path(path) if path else DEFAULT_PATH
        if not p.exists():
            raise ArtifactError(f"guard artifact not found: {p} (train one with "
                                f"python -m detectors.guard.train)")
        return cls.from_bytes(p.read_bytes())
