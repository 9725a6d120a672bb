"""Hidden states of the lower MiniLM layers, computed once per text and kept on disk, so fine-tuning
the top layers (detectors.guard.finetune) costs only those layers per step.

Files (gitignored, e.g. bench/out/guard/minilm-l4-bf16.npy): `<stem>.npy`, one memory-mapped
uint16 array (the bfloat16 bits, lossless) of every stored text's word-piece states stacked
(tokens x 384), and `<stem>.idx.npz`: `keys` (SHA-1 of the text), `offsets`, `lengths` and the
encoder `settings` (JSON; a store of other settings is refused with the reason). Each text is run
alone and unpadded through the first `layers` layers in bfloat16, exactly as the guard serves it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard.embed_store import text_key


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix == ".npy" else p
    return stem.with_suffix(".npy"), stem.with_name(stem.name + ".idx.npz")


class HiddenStore:
    """Read side: `states(text)` -> (T, 384) float32 array of the text's lower-layer states."""

    def __init__(self, path: str | Path, settings: dict[str, Any]) -> None:
        self.data_path, self.index_path = _paths(path)
        self.settings = json.dumps(settings, sort_keys=True)
        with np.load(self.index_path) as z:
            if str(z["settings"]) != self.settings:
                raise ValueError(f"hidden-state store {self.index_path} holds states of other encoder settings "
                                 f"({z['settings']}, not {self.settings})")
            keys, self.offsets, self.lengths = z["keys"], z["offsets"], z["lengths"]
            n = int(z["done"])
        self._row = {bytes(k).ljust(20, b"\0"): i for i, k in enumerate(keys[:n])}
        self._data = np.load(self.data_path, mmap_mode="r")

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, text: str) -> bool:
        return text_key(text) in self._row

    def raw(self, text: str) -> np.ndarray:
        """The stored uint16 (bfloat16 bits) states of `text`, T x 384."""
        i = self._row[text_key(text)]
        o = int(self.offsets[i])
        return self._data[o:o + int(self.lengths[i])]


def build(path: str | Path, encoder: Any, texts: Sequence[str], *, progress: bool = True,
          pause: Callable[[], None] | None = None, log: Callable[[str], None] | None = None) -> HiddenStore:
    """Compute and store the lower-layer states of every distinct text of `texts` (`encoder`: a
    detectors.guard.embed.TextEncoder with `layers` = k and dtype bfloat16). Resumable: an index
    saved every few hundred texts records how far it got; a complete store that already holds
    every text is returned as it is. `pause()` runs between texts (the
    bench's quiet-machine convention)."""
    import torch

    from core.progress import track
    data_path, index_path = _paths(path)
    settings = json.dumps(dict(encoder.settings(), quantize=False), sort_keys=True)
    uniq = list(dict.fromkeys(texts))
    if index_path.exists():             # a complete store holding every text (e.g. of a larger set) is used as is
        try:
            full = HiddenStore(data_path, json.loads(settings))
        except ValueError:
            full = None
        if full is not None and len(full) == len(full.offsets) and all(t in full for t in uniq):
            return full
    ids = encoder.token_ids(uniq)
    lengths = np.array([len(x) for x in ids], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    keys = np.array([text_key(t) for t in uniq], dtype="S20")
    done = 0
    if index_path.exists():
        with np.load(index_path) as z:
            same = str(z["settings"]) == settings and np.array_equal(z["keys"], keys)
            if not same:
                raise ValueError(f"{index_path} holds another store (other texts or settings); give another path")
            done = int(z["done"])
    if done < len(uniq):
        mode = "r+" if data_path.exists() and done else "w+"
        data = np.lib.format.open_memmap(data_path, mode=mode, dtype=np.uint16, shape=(int(lengths.sum()), 384))

        def save(n: int) -> None:
            data.flush()
            tmp = index_path.with_name(index_path.name + ".tmp.npz")
            np.savez(tmp, keys=keys, offsets=offsets, lengths=lengths, settings=settings, done=n)
            tmp.replace(index_path)

        t0 = time.time()
        for i in track(range(done, len(uniq)), "hidden states", enabled=progress):
            if pause is not None:
                pause()
            h = encoder.hidden(ids[i]).to(torch.bfloat16).contiguous().view(torch.int16).cpu().numpy()
            data[offsets[i]:offsets[i] + lengths[i]] = h.view(np.uint16)
            if (i + 1) % 500 == 0 or i + 1 == len(uniq):
                save(i + 1)
                if log is not None:
                    log(f"hidden states {i + 1}/{len(uniq)} {time.time() - t0:.0f}s")
        del data
    return HiddenStore(data_path, json.loads(settings))


def to_float(raw: np.ndarray):
    """uint16 bfloat16 bits -> float32 torch tensor."""
    import torch
    return torch.from_numpy(np.array(raw, np.uint16).view(np.int16)).view(torch.bfloat16).float()
