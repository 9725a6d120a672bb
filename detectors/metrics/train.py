"""Train the metric forecaster offline: ``warden train metric-model --data DIR --out DIR [--device ...]``.

``main(data, out, device="auto", epochs=20, ...)`` reads every ``*.csv`` under ``data`` (a file or
a directory; columns ``timestamp,value`` like NAB, or ``value`` alone), cuts each series into
windows of ``window`` values with the next value as target, trains the MLP of
``detectors.metrics.forecast_net`` (on cuda when ``device`` is auto and a GPU is present; rich progress
bar) and writes a versioned, checksummed artifact (core.snapshot) that the ``forecast`` detector
loads with ``model_path``. Returns a summary dict (path, device, epochs, windows, loss, checksum).
"""
from __future__ import annotations

import csv
import hashlib
import math
import time
from pathlib import Path

import numpy as np

from core.errors import InputError
from detectors.metrics.forecast_net import ARTIFACT_VERSION, fit_net, load_artifact, pick_device, save_artifact

DEFAULT_NAME = "metric-forecast.wmodel"


def read_series(data) -> list[tuple[str, np.ndarray]]:
    p = Path(data)
    files = sorted(p.rglob("*.csv")) if p.is_dir() else [p]
    out = []
    for f in files:
        vals = []
        with open(f, newline="") as fh:
            rd = csv.reader(fh)
            header = next(rd, None)
            if header is None:
                continue
            col = header.index("value") if "value" in header else (1 if len(header) > 1 else 0)
            for row in rd:
                try:
                    vals.append(float(row[col]))
                except (ValueError, IndexError):
                    continue
        v = np.asarray(vals, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            out.append((str(f), v))
    if not out:
        raise InputError(f"no CSV series with a value column under {data} (files *.csv with a header, "
                         "numbers in the 'value' column or the second)")
    return out


def make_windows(series: list[np.ndarray], window: int, max_windows: int, seed: int = 0):
    Ws, ys = [], []
    for v in series:
        if len(v) <= window:
            continue
        W = np.lib.stride_tricks.sliding_window_view(v[:-1], window)
        Ws.append(W)
        ys.append(v[window:])
    if not Ws:
        raise InputError(f"no series longer than the window ({window} points): --window smaller, or longer series")
    W = np.concatenate(Ws)
    y = np.concatenate(ys)
    if len(W) > max_windows:
        idx = np.random.default_rng(seed).choice(len(W), max_windows, replace=False)
        idx.sort()
        W, y = W[idx], y[idx]
    return np.ascontiguousarray(W), y


def main(data, out, device: str = "auto", epochs: int = 20, window: int = 32, hidden: int = 64,
         lr: float = 3e-3, batch_size: int = 1024, max_windows: int = 500_000, seed: int = 0,
         progress: bool = True) -> dict:
    """Train on the CSV series under `data`, save the artifact at `out` (file, or directory +
    metric-forecast.wmodel), print and return a summary."""
    dev = pick_device(device)
    t0 = time.perf_counter()
    series = read_series(data)
    W, y = make_windows([v for _, v in series], window, max_windows, seed)
    net, losses = fit_net(W, y, window=window, hidden=hidden, epochs=epochs, lr=lr,
                          batch_size=batch_size, device=dev, seed=seed, progress=progress)
    outp = Path(out)
    if outp.is_dir() or str(out).endswith(("/", "\\")) or outp.suffix == "":   # a directory
        outp.mkdir(parents=True, exist_ok=True)
        outp = outp / DEFAULT_NAME
    else:
        outp.parent.mkdir(parents=True, exist_ok=True)
    arch = {"window": window, "hidden": hidden, "layers": 2}
    meta = {"series": len(series), "windows": int(len(W)), "epochs": epochs, "device": dev,
            "loss": losses[-1] if losses else math.nan, "seed": seed}
    blob = save_artifact(str(outp), net, arch, meta)
    load_artifact(str(outp))                      # verify what was written
    res = {"path": str(outp), "device": dev, "epochs": epochs, "series": len(series),
           "windows": int(len(W)), "loss": meta["loss"], "losses": losses,
           "seconds": time.perf_counter() - t0, "version": ARTIFACT_VERSION,
           "checksum": hashlib.blake2b(blob, digest_size=16).hexdigest()}
    print(f"trained metric forecaster on {res['series']} series ({res['windows']:,} windows), "
          f"{epochs} epochs on {dev}: loss {res['loss']:.4f}; wrote {outp} "
          f"(artifact v{ARTIFACT_VERSION}, {len(blob):,} bytes) in {res['seconds']:.1f} s")
    return res


train = main


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--window", type=int, default=32)
    a = ap.parse_args()
    main(a.data, a.out, a.device, a.epochs, a.window)
