"""Embeddings of texts kept on disk by content, so training and the leave-one-source-out bench
embed every window once: an .npz file of `keys` (SHA-1 of the text, 20 bytes each) and `vectors`
(float32, n x 384), for one encoder setting (`settings` JSON). A file of other settings is refused
with the reason (it is someone's cache of other vectors: never mixed in, never overwritten)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingStore:
    def __init__(self, path: str | Path | None, settings: dict) -> None:
        self.path = Path(path) if path else None
        self.settings = json.dumps(settings, sort_keys=True)
        self._rows: dict[bytes, int] = {}
        self._vecs: list[np.ndarray] = []
        if self.path is not None and self.path.exists():
            with np.load(self.path) as z:
                if str(z["settings"]) != self.settings:
                    raise ValueError(f"embedding store {self.path} holds vectors of other encoder settings "
                                     f"({z['settings']}, not {self.settings}); give another file")
                self._vecs = list(z["vectors"])
                # numpy "S20" drops trailing NUL bytes: pad them back
                self._rows = {bytes(k).ljust(20, b"\0"): i for i, k in enumerate(z["keys"])}

    def __len__(self) -> int:
        return len(self._vecs)

    def embed(self, encoder, texts: Sequence[str], progress: bool = True, batch_size: int = 32) -> np.ndarray:
        """Vectors for `texts` (n x dim), encoding only those not stored yet."""
        keys = [text_key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if todo:
            first = {}
            for k, t in zip(keys, texts):
                first.setdefault(k, t)
            E = encoder.encode([first[k] for k in todo], batch_size=batch_size, progress=progress)
            for k, v in zip(todo, E):
                self._rows[k] = len(self._vecs)
                self._vecs.append(v)
            self.save()
        if not keys:
            return np.zeros((0, 384), np.float32)
        return np.stack([self._vecs[self._rows[k]] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        keys = np.array(sorted(self._rows, key=self._rows.get), dtype="S20")
        np.savez(tmp, keys=keys, vectors=np.stack(self._vecs).astype(np.float32), settings=self.settings)
        tmp.replace(self.path)


class StoredEncoder:
    """An encoder that looks every text up in an EmbeddingStore first (bench folds and training
    score texts that were embedded before); the same vectors as the encoder alone."""

    def __init__(self, store: EmbeddingStore, encoder) -> None:
        self.store = store
        self.encoder = encoder

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self.store.embed(self.encoder, list(texts), progress=progress, batch_size=batch_size)
