"""The bench's model 6 candidate (`text6`): model 4's trainer per fold, then its sentence stage
fine-tuned (detectors.guard.finetune) from a store of the lower MiniLM layers' states
(bench/out/guard/minilm-l4-bf16.npy, gitignored; built on first use, one forward pass per text).

Long CPU work: fine-tuning sleeps between steps while /work/wt/QUIET (or $WARDEN_QUIET_FILE) exists
(another process measuring latency), and logs its progress to bench/out/guard/text6.log."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from detectors.guard.data import PromptRow

OUT = Path(__file__).resolve().parents[1] / "out" / "guard"
QUIET = Path(os.environ.get("WARDEN_QUIET_FILE", "/work/wt/QUIET"))
_HIDDEN: list[Any] = []


def quiet_pause() -> None:
    from detectors.guard.finetune import pause_while
    pause_while(str(QUIET))()


def log(msg: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "text6.log", "a", encoding="utf-8") as fh:
        fh.write(time.strftime("%H:%M:%S ") + msg + "\n")


def lower_encoder(k: int):
    from detectors.guard.embed import TextEncoder
    from detectors.guard.text_train import ENCODER_SETTINGS
    return TextEncoder.shared(**dict(ENCODER_SETTINGS, layers=k), alone=True)


def hidden(rows: Sequence[PromptRow], k: int):
    """The HiddenStore of every row's cleaned text (built once, for all sources: a cache of the
    frozen lower layers, the same bits the guard computes when it serves the text)."""
    if not _HIDDEN:
        from detectors.guard import hidden_store
        from detectors.guard.data import load_sources, seed_rows
        from detectors.guard.normalize import clean
        enc = lower_encoder(k)
        path = OUT / f"minilm-l{k}-bf16.npy"
        try:
            _HIDDEN.append(hidden_store.HiddenStore(path, dict(enc.settings(), quantize=False)))
        except FileNotFoundError:
            texts = [clean(r.text) for r in list(rows) + seed_rows()]
            _HIDDEN.append(hidden_store.build(path, enc, texts, pause=quiet_pause, log=log))
    return _HIDDEN[0]


def fit(rows: Sequence[PromptRow], store: Any, enc: Any, counts: Any, cfg: Any = None,
        ensemble: bool = False) -> tuple[Any, Any]:
    """(model 6 fitted on `rows` and the seed, its encoder reading `hidden`'s store): `store`, `enc`
    and `counts` are the bench's model 4 embedding store, encoder and n-gram count cache.
    `ensemble`: model 7 (model 4's frozen head kept and averaged with the fine-tuned one)."""
    from detectors.guard import finetune, text_train
    from detectors.guard.data import seed_rows
    from detectors.guard.normalize import clean
    cfg = cfg or finetune.FineTuneConfig()
    rows = list(rows) + seed_rows()
    held = sorted({r.source for r in rows})
    log(f"fold: {len(rows)} training rows, sources {held}")
    t0 = time.time()
    model = text_train.fit(rows, text_train.TextTrainConfig(), embed=text_train.store_embedder(store, enc, False),
                           featurize=counts, progress=False)
    log(f"model 4 stages fitted {time.time() - t0:.0f}s")
    hs = hidden(rows, cfg.lower_layers)
    texts = [clean(r.text) for r in rows]
    model, layers = finetune.fit_onto(model, texts, np.array([r.label for r in rows]), [r.source for r in rows],
                                      hs, cfg, progress=False, pause=quiet_pause, log=log, ensemble=ensemble)
    frozen = finetune.top_layers(cfg.lower_layers) if ensemble else None
    top = finetune.TopLayers(lower_encoder(cfg.lower_layers), layers, store=hs, frozen=frozen)
    log(f"fine-tuned {time.time() - t0:.0f}s")
    return model, top
