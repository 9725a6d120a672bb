"""The forecaster's network: a small torch MLP, its training and its saved artifact.

``build_net`` makes the MLP (``window`` inputs, ``layers`` GELU layers of ``hidden`` units, one
output); ``normalise_windows`` instance-normalises windows (minus the window mean, over the window
standard deviation floored at ``min_rel_std`` x |mean|) so one model serves series of any scale;
``fit_net`` trains it on windows and next values (Smooth L1, Adam, fixed seed). The artifact
(``save_artifact`` / ``load_artifact``) is the network's weights and architecture, versioned and
checksummed with core.snapshot and verified on load. Used by ``detectors.metrics.forecast`` (the
detector) and ``detectors.metrics.train`` (``warden train metric-model``).
"""
from __future__ import annotations

import base64
import math

import numpy as np

from core.snapshot import pack, unpack

ARTIFACT_KIND = "model.metric-forecast"
ARTIFACT_VERSION = 1


def pick_device(device: str = "auto") -> str:
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but torch.cuda.is_available() is False")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cuda or cpu, not {device!r}")
    return device


def build_net(window: int, hidden: int, layers: int = 2):
    import torch.nn as nn
    mods, d = [], window
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.GELU()]
        d = hidden
    mods.append(nn.Linear(d, 1))
    return nn.Sequential(*mods)


def normalise_windows(W: np.ndarray, min_rel_std: float = 1e-3, min_std: float = 1e-9):
    mu = W.mean(axis=1)
    sd = W.std(axis=1)
    sd = np.maximum(sd, np.maximum(min_rel_std * np.abs(mu), min_std))
    return (W - mu[:, None]) / sd[:, None], mu, sd


def net_to_state(net, arch: dict, meta: dict | None = None) -> dict:
    tensors = {}
    for k, v in net.state_dict().items():
        a = v.detach().cpu().numpy().astype("<f4")
        tensors[k] = {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}
    return {"arch": arch, "tensors": tensors, "meta": meta or {}}


def net_from_state(state: dict):
    import torch
    arch = state["arch"]
    net = build_net(int(arch["window"]), int(arch["hidden"]), int(arch.get("layers", 2)))
    sd = {}
    for k, t in state["tensors"].items():
        a = np.frombuffer(base64.b64decode(t["data"]), dtype="<f4").reshape(t["shape"])
        sd[k] = torch.from_numpy(a.copy())
    net.load_state_dict(sd)
    net.eval()
    return net, arch


def save_artifact(path, net, arch: dict, meta: dict | None = None) -> bytes:
    blob = pack(ARTIFACT_KIND, ARTIFACT_VERSION, net_to_state(net, arch, meta))
    if path:
        with open(path, "wb") as fh:
            fh.write(blob)
    return blob


def load_artifact(path_or_blob):
    """(net, arch, meta) from an artifact file or bytes; version and checksum are verified."""
    blob = path_or_blob if isinstance(path_or_blob, (bytes, bytearray)) else open(path_or_blob, "rb").read()
    _, state = unpack(bytes(blob), ARTIFACT_KIND, ARTIFACT_VERSION)
    net, arch = net_from_state(state)
    return net, arch, state.get("meta", {})


def fit_net(W: np.ndarray, y: np.ndarray, *, window: int, hidden: int, epochs: int, lr: float = 3e-3,
            batch_size: int = 512, device: str = "cpu", seed: int = 0, progress: bool = False,
            min_rel_std: float = 1e-3):
    """Train the forecaster on raw windows W (n x window) and next values y; returns (net, losses)."""
    import torch
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    Z, mu, sd = normalise_windows(W, min_rel_std)
    T = np.clip((y - mu) / sd, -20, 20)
    X = torch.tensor(Z, dtype=torch.float32)
    Y = torch.tensor(T, dtype=torch.float32)[:, None]
    net = build_net(window, hidden).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.SmoothL1Loss()
    n = len(X)
    losses = []
    from core.progress import Bar
    bar = Bar(f"train forecaster ({device})", epochs * max(1, math.ceil(n / batch_size)), enabled=progress)
    net.train()
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for b in range(0, n, batch_size):
            idx = perm[b:b + batch_size]
            xb, yb = X[idx].to(device), Y[idx].to(device)
            opt.zero_grad()
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
            bar.update(1)
        losses.append(tot / max(n, 1))
        bar.describe(f"epoch {ep + 1}, loss {losses[-1]:.4f}")
    bar.close()
    net.eval()
    return net.cpu(), losses
