"""Train the prompt guard (lexical + embedding cascade) and save its artifact.

    python -m detectors.guard.train ../shared/data/prompts/prompt_injection_dev.jsonl \
        --out detectors/guard/model/guard.bin [--holdout-source neuralchemy] [--device auto]

Data: JSON lines with `text`, `label` (1 = injection / jailbreak) and `source`.
Splits (all deterministic from `seed`):
- test: rows whose source ends with `/validation` (the data set's own validation splits) - never
  trained on; when there are none, a random `test_fraction`.
- holdout: rows whose source starts with `holdout_source` (e.g. "neuralchemy"): left out of
  training and calibration entirely, measured separately (out-of-source generalisation).
- calibration: `calib_fraction` of the remaining rows; fits Platt scaling and the cascade bounds.
- train: the rest; trains the lexical model and the embedding head (torch, `device` auto = GPU
  when present). Embeddings come from the same int8 CPU encoder the guard serves with: the first
  `layers` (default 3 of 6) transformer layers of all-MiniLM-L6-v2, mean-pooled - half the
  latency of the full model for the inline path, at a small cost in accuracy.

Operating point (model version 2): the lexical stage is trained lightly (3 epochs, L2 1e-5; the
8-epoch / 1e-6 model of version 1 learned task words such as "sentence", "rewrite", "plot" as
injection signals), and the decision threshold is calibrated on the calibration split: the
highest in 0.5..0.95 within `threshold_tolerance` (0.01) of the balanced accuracy at 0.5, which
halves the false denies of ordinary task instructions for ~1.5 points of balanced accuracy.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from detectors.guard import features
from detectors.guard.cascade import DEFAULT_PATH, GuardModel

MODEL_VERSION = "2"


def load_rows(path: str | Path, limit: int | None = None) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if not isinstance(r.get("text"), str) or r.get("label") not in (0, 1):
                raise ValueError(f"{path}:{i + 1}: need text (string) and label (0/1)")
            r.setdefault("source", "unknown")
            rows.append(r)
    if limit is not None and len(rows) > limit:
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), limit, replace=False))]
    return rows


def split(rows: Sequence[dict], holdout_source: str | None, seed: int = 0, test_fraction: float = 0.15,
          calib_fraction: float = 0.15) -> dict[str, np.ndarray]:
    src = np.array([str(r.get("source", "")) for r in rows])
    n = len(rows)
    rng = np.random.default_rng(seed)
    hold = np.zeros(n, bool)
    if holdout_source:
        hold = np.char.startswith(src, holdout_source)
        if not hold.any():
            raise ValueError(f"no rows with a source starting with {holdout_source!r}")
    test = np.char.endswith(src, "/validation") & ~hold
    if not test.any():
        test = (rng.random(n) < test_fraction) & ~hold
    rest = np.where(~hold & ~test)[0]
    rest = rng.permutation(rest)
    nc = max(int(len(rest) * calib_fraction), min(len(rest) // 2, 20))
    return {"train": np.sort(rest[nc:]), "calib": np.sort(rest[:nc]), "test": np.where(test)[0],
            "holdout": np.where(hold)[0]}


# -- torch training ----------------------------------------------------------------------------

class _Adam:
    """Adam / AdamW on a list of tensors (torch.optim pulls in torch._dynamo: seconds of import)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps: float = 1e-8):
        import torch
        self.params = list(params)
        self.lr, self.wd, self.b1, self.b2, self.eps = lr, weight_decay, betas[0], betas[1], eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                g = p.grad
                if self.wd:
                    p.mul_(1 - self.lr * self.wd)
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                p.addcdiv_(m / c1, (v / c2).sqrt_().add_(self.eps), value=-self.lr)


def _bags(ids, ws, offs, lens, idx):
    import torch
    starts, ls = offs[idx], lens[idx]
    ii = np.concatenate([ids[s:s + l] for s, l in zip(starts, ls)])
    ww = np.concatenate([ws[s:s + l] for s, l in zip(starts, ls)])
    oo = np.concatenate([[0], np.cumsum(ls)[:-1]]).astype(np.int64)
    return torch.from_numpy(ii), torch.from_numpy(ww), torch.from_numpy(oo)


def train_lexical(feats, y: np.ndarray, idx: np.ndarray, dim: int, device: str, epochs: int = 8,
                  lr: float = 0.05, l2: float = 1e-6, seed: int = 0, progress: bool = True):
    import torch
    torch.manual_seed(seed)
    ids, ws, offs = feats
    lens = np.diff(np.append(offs, len(ids)))
    emb = torch.nn.EmbeddingBag(dim, 1, mode="sum").to(device)
    torch.nn.init.zeros_(emb.weight)
    bias = torch.zeros(1, device=device, requires_grad=True)
    opt = _Adam(list(emb.parameters()) + [bias], lr=lr)
    yt = torch.tensor(y, dtype=torch.float32, device=device)
    pos = max(int((y[idx] == 1).sum()), 1)
    pw = torch.tensor(((y[idx] == 0).sum()) / pos, device=device)
    rng = np.random.default_rng(seed)
    it = range(epochs)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="lexical", unit="epoch")
    for _ in it:
        perm = rng.permutation(idx)
        for s in range(0, len(perm), 256):
            b = perm[s:s + 256]
            ii, ww, oo = (t.to(device) for t in _bags(ids, ws, offs, lens, b))
            z = emb(ii, oo, per_sample_weights=ww).squeeze(1) + bias
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, yt[b], pos_weight=pw)
            loss = loss + l2 * emb.weight.pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return emb.weight.detach().cpu().numpy()[:, 0].astype(np.float32), float(bias.detach().cpu()[0])


def train_head(X: np.ndarray, y: np.ndarray, idx: np.ndarray, device: str, hidden: int = 128,
               epochs: int = 30, lr: float = 2e-3, wd: float = 1e-4, seed: int = 0, progress: bool = True):
    import torch
    torch.manual_seed(seed)
    Xt = torch.from_numpy(X).to(device)
    yt = torch.tensor(y, dtype=torch.float32, device=device)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.GELU(approximate="tanh"),
                              torch.nn.Dropout(0.2), torch.nn.Linear(hidden, 1)).to(device)
    opt = _Adam(net.parameters(), lr=lr, weight_decay=wd)
    pos = max(int((y[idx] == 1).sum()), 1)
    pw = torch.tensor(((y[idx] == 0).sum()) / pos, device=device)
    rng = np.random.default_rng(seed + 1)
    it = range(epochs)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="embedding head", unit="epoch")
    for _ in it:
        net.train()
        perm = rng.permutation(idx)
        for s in range(0, len(perm), 128):
            b = torch.from_numpy(perm[s:s + 128]).to(device)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(Xt[b]).squeeze(1), yt[b], pos_weight=pw)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    l1, l2 = net[0], net[3]
    return {"w1": l1.weight.detach().cpu().numpy().T.copy(), "b1": l1.bias.detach().cpu().numpy(),
            "w2": l2.weight.detach().cpu().numpy()[0].copy(), "b2": l2.bias.detach().cpu().numpy()}


def fit_platt(Z: np.ndarray, y: np.ndarray, iters: int = 100) -> np.ndarray:
    """Class-balanced logistic regression of y on the columns of Z (+ intercept), Newton / IRLS
    with a small ridge: returns [coefs..., intercept]."""
    X = np.column_stack([np.asarray(Z, np.float64), np.ones(len(Z))])
    y = np.asarray(y, np.float64)
    npos, nneg = max((y == 1).sum(), 1), max((y == 0).sum(), 1)
    w = np.where(y == 1, 0.5 / npos, 0.5 / nneg)
    ridge = np.full(X.shape[1], 1e-4)
    ridge[-1] = 0.0
    theta = np.zeros(X.shape[1])
    for _ in range(iters):
        z = np.clip(X @ theta, -35, 35)
        p = 1.0 / (1.0 + np.exp(-z))
        g = X.T @ (w * (p - y)) + 2 * ridge * theta
        H = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(2 * ridge + 1e-9)
        step = np.linalg.solve(H, g)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return theta


def choose_cascade(p_lex: np.ndarray, y: np.ndarray, max_error: float = 0.01,
                   threshold: float = 0.5) -> tuple[float, float]:
    """Widest-coverage band around `threshold` outside which the lexical stage decides alone,
    keeping the lexical error among those decisions <= max_error on the calibration split.
    The band is [threshold * (1 - k), threshold + (1 - threshold) * k] (symmetric for 0.5), so
    every lexical-alone decision agrees with the threshold."""
    best = (0.0, 1.0)
    for k in np.linspace(0.9, 0.0, 91):  # relative margin, from narrow band (wide lexical) down
        lo, hi = threshold * (1 - k), threshold + (1 - threshold) * k
        conf = (p_lex <= lo) | (p_lex >= hi)
        if conf.sum() == 0:
            continue
        err = ((p_lex[conf] >= threshold) != (y[conf] == 1)).mean()
        if err <= max_error:
            best = (float(lo), float(hi))
    return best


def choose_threshold(p: np.ndarray, y: np.ndarray, tolerance: float = 0.01,
                     grid=np.round(np.arange(0.5, 0.951, 0.01), 2)) -> float:
    """Decision threshold on the calibrated score: the highest one in `grid` (0.5 .. 0.95) whose
    balanced accuracy on the calibration split is within `tolerance` of the one at 0.5.

    Class-balanced Platt scaling makes 0.5 the balanced-accuracy optimum on the training
    distribution; benign prompts in deployment (ordinary task instructions: "Rewrite this
    sentence ...", "Write a function ...") are scarcer in the data than injections phrased the
    same way, so the guard trades up to `tolerance` of balanced accuracy for fewer false denies.
    tolerance = 0 keeps 0.5."""
    if tolerance <= 0 or len(y) == 0:
        return 0.5
    base = balanced_accuracy(p >= 0.5, y)["balanced_accuracy"]
    best = 0.5
    for th in grid:
        if balanced_accuracy(p >= th, y)["balanced_accuracy"] >= base - tolerance:
            best = float(th)
    return best


def balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pos, neg = y == 1, y == 0
    tpr = float(pred[pos].mean()) if pos.any() else float("nan")
    tnr = float((~pred[neg]).mean()) if neg.any() else float("nan")
    return {"balanced_accuracy": 0.5 * (tpr + tnr), "accuracy_injection": tpr, "accuracy_benign": tnr,
            "n": int(len(y)), "n_injection": int(pos.sum()), "n_benign": int(neg.sum())}


def cascade_scores(model: GuardModel, zl: np.ndarray, ze: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores as served (cascade), and which rows used the embedding stage."""
    pl = np.array([model.p_lex(z) for z in zl])
    if ze is None or not model.has_embedding:
        return pl, np.zeros(len(zl), bool)
    band = (pl > model.cascade[0]) & (pl < model.cascade[1])
    pb = np.array([model.p_both(a, b) for a, b in zip(zl, ze)])
    return np.where(band, pb, pl), band


def evaluate(model: GuardModel, zl: np.ndarray, ze: np.ndarray | None, y: np.ndarray) -> dict[str, Any]:
    if len(y) == 0:
        return {}
    p, band = cascade_scores(model, zl, ze)
    out = balanced_accuracy(p >= model.threshold, y)
    out["embedding_stage_share"] = float(band.mean())
    out["lexical_only_balanced_accuracy"] = balanced_accuracy(
        np.array([model.p_lex(z) for z in zl]) >= model.threshold, y)["balanced_accuracy"]
    return out


def main(data: str | Path, out: str | Path | None = None, device: str = "auto",
         holdout_source: str | None = None, *, seed: int = 0, dim: int = 1 << 18,
         lex_epochs: int = 3, head_epochs: int = 30, hidden: int = 128, embeddings: bool = True,
         lex_l2: float = 1e-5,
         max_tokens: int = 64, layers: int = 3, limit: int | None = None, threads: int | None = None,
         cascade_error: float = 0.01, threshold_tolerance: float = 0.01, progress: bool = True,
         embed_cache: str | None = None) -> dict:
    """Train, evaluate on the test and holdout splits, save the artifact to `out`; return metrics."""
    import torch
    from detectors.guard.embed import TextEncoder, resolve_device
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    t0 = time.time()
    rows = load_rows(data, limit)
    texts = [r["text"] for r in rows]
    y = np.array([int(r["label"]) for r in rows])
    sp = split(rows, holdout_source, seed)
    feats = features.featurize_many(texts, dim)
    lex_w, lex_b = train_lexical(feats, y, sp["train"], dim, dev, epochs=lex_epochs, seed=seed,
                                 l2=lex_l2, progress=progress)
    model = GuardModel(dim=dim, lex_w=lex_w, lex_b=lex_b, head={}, calib_lex=(1.0, 0.0),
                       calib=(1.0, 0.0, 0.0), model_version=MODEL_VERSION)
    zl = model.lex_logits(texts)
    ze = None
    if embeddings:
        enc = TextEncoder.shared(max_tokens=max_tokens, layers=layers)
        E = None
        if embed_cache and Path(embed_cache).exists():
            E = np.load(embed_cache)
            if E.shape != (len(texts), 384):
                E = None
        if E is None:
            E = enc.encode(texts, batch_size=64, progress=progress)
            if embed_cache:
                np.save(embed_cache, E)
        model.head = train_head(E, y, sp["train"], dev, hidden=hidden, epochs=head_epochs, seed=seed,
                                progress=progress)
        model.encoder = enc.settings()
        ze = model.emb_logits(E)
    cal = sp["calib"]
    a_l, c_l = fit_platt(zl[cal, None], y[cal])
    model.calib_lex = (float(a_l), float(c_l))
    if ze is not None:
        a, b, c = fit_platt(np.column_stack([zl[cal], ze[cal]]), y[cal])
        model.calib = (float(a), float(b), float(c))
        pb = np.array([model.p_both(a_, b_) for a_, b_ in zip(zl[cal], ze[cal])])
        model.threshold = choose_threshold(pb, y[cal], threshold_tolerance)
        pl = np.array([model.p_lex(z) for z in zl[cal]])
        model.cascade = choose_cascade(pl, y[cal], cascade_error, model.threshold)
    else:
        model.calib = (float(a_l), 0.0, float(c_l))
        model.threshold = choose_threshold(np.array([model.p_lex(z) for z in zl[cal]]), y[cal],
                                           threshold_tolerance)
        model.cascade = (model.threshold, model.threshold)
    metrics: dict[str, Any] = {}
    for name in ("test", "holdout"):
        idx = sp[name]
        if len(idx):
            metrics[name] = evaluate(model, zl[idx], None if ze is None else ze[idx], y[idx])
    model.meta = {"trained": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "data": Path(data).name, "holdout_source": holdout_source, "seed": seed,
                  "n_train": int(len(sp["train"])), "n_calib": int(len(sp["calib"])),
                  "sources_trained": sorted({rows[i].get("source", "") for i in sp["train"]}),
                  "metrics": metrics, "train_seconds": round(time.time() - t0, 1),
                  "threshold_tolerance": threshold_tolerance,
                  "threshold_note": "deny when calibrated score >= threshold; class-balanced Platt "
                                    "calibration makes 0.5 the balanced-accuracy operating point; the "
                                    "threshold is the highest in 0.5..0.95 within threshold_tolerance "
                                    "of that balanced accuracy on the calibration split (fewer "
                                    "false denies of benign task instructions)"}
    if out is not None:
        model.save(out)
    return {"metrics": metrics, "cascade": model.cascade, "threshold": model.threshold, "calib": model.calib,
            "calib_lex": model.calib_lex, "out": str(out) if out else None,
            "seconds": round(time.time() - t0, 1)}


def _cli(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("--out", default=str(DEFAULT_PATH))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--holdout-source", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-embeddings", action="store_true")
    ap.add_argument("--layers", type=int, default=3, help="MiniLM layers used (0 = all 6)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--embed-cache", default=None, help="npy file to reuse embeddings between runs")
    ap.add_argument("--threshold-tolerance", type=float, default=0.01,
                    help="balanced accuracy (calibration split) traded for a higher threshold; 0 = 0.5")
    a = ap.parse_args(argv)
    res = main(a.data, a.out, a.device, a.holdout_source, seed=a.seed, embeddings=not a.no_embeddings,
               threads=a.threads, limit=a.limit, embed_cache=a.embed_cache, layers=a.layers,
               threshold_tolerance=a.threshold_tolerance)
    print(json.dumps(res, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
