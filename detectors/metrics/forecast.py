"""Torch forecaster: a small MLP predicts the next value from the last ``window`` values.

The network sees each window instance-normalised (minus the window mean, over the window standard
deviation floored at ``min_rel_std`` x |mean|) and predicts the next value in the same units, so
one model serves series of any scale. The normalised residual ``(x - prediction) / std`` is then
compared with a per-series robust residual scale (EWMA of |residual|, learned only from unflagged
points): raw score = |residual| / (1.2533 x scale) — a robust z of the forecast error; then, as in
``novelty``, record suppression over the last ``suppress`` raw scores and flag-rate calibration
(``rate_target``) give the score.

The model comes from a saved artifact (``model_path``, written by ``detectors.metrics.train`` /
``warden train metric-model``: versioned and checksummed with core.snapshot, verified on load)
or, without one, is trained by the detector itself once ``fit_after`` windows have been learned
(pooled over its series, fixed seed, ``fit_epochs`` epochs) and then frozen. Inference is batched
over every series of a batch in one forward pass, on ``device`` (``auto``: cuda when available).

Causal: the window of a point holds only values before it; the model is frozen when it scores.
Bad input: NaN skipped and counted; late points scored on the current window, not learned; the
std floor keeps flat windows finite.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.component import FilePath
from core.event import Event
from core.registry import register
from detectors.metrics.common import MetricDetector, RunResult, halflife_alpha, unscored
from detectors.metrics.columns import extract
from detectors.metrics.config import CalibrationConfig
# build_net is re-exported for bench.metric_throughput
from detectors.metrics.forecast_net import (build_net, fit_net, load_artifact, net_from_state,  # noqa: F401
                                            net_to_state, normalise_windows, pick_device)
from detectors.metrics.forecast_residual import LEARNED, NCOL, SCALE, residual_kernel


class _S:
    __slots__ = ("ctx", "last", "nan", "late", "seen", "first")

    def __init__(self):
        self.ctx: list[float] = []
        self.last = -math.inf
        self.nan = 0
        self.late = 0
        self.seen = 0
        self.first = math.nan


@register
class ForecastDetector(MetricDetector):
    """Robust z of the forecast error of a small torch MLP (GPU when present)."""

    type = "forecast"
    state_version = 1

    @dataclass
    class Config(CalibrationConfig):
        model_path: FilePath = ""     # artifact from `warden train metric-model`; "" = self-train
        device: str = "auto"          # auto | cuda | cpu
        window: int = 32              # values the network sees (self-trained model)
        hidden: int = 64
        fit_after: int = 1024         # learned windows (pooled) before self-training
        fit_epochs: int = 15
        seed: int = 0
        warmup: int = 20              # residuals per series before it scores
        threshold: float = 8.0
        halflife: float = 200.0       # residual scale EWMA half-life, points
        min_rel_std: float = 1e-3
        min_scale: float = 0.05       # floor of the residual scale (normalised units)
        batch_size: int = 65536       # inference batch

        def validate(self) -> None:
            if self.device not in ("auto", "cuda", "cpu"):
                raise ValueError("device must be auto, cuda or cpu")
            if self.window < 2 or self.hidden < 1 or self.fit_epochs < 1:
                raise ValueError("window >= 2, hidden >= 1 and fit_epochs >= 1 required")
            if self.fit_after < 32 or self.warmup < 1 or self.batch_size < 1:
                raise ValueError("fit_after >= 32, warmup >= 1 and batch_size >= 1 required")
            if not (self.threshold > 0 and self.halflife > 0 and self.min_scale > 0):
                raise ValueError("threshold, halflife and min_scale must be > 0")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.series: dict[tuple[str, str], _S] = {}
        self.sid: dict[tuple[str, str], int] = {}
        self._ncols = NCOL + max(self.config.suppress, 1)
        self.rstate = np.zeros((0, self._ncols))
        self.net = None
        self.arch = {"window": self.config.window, "hidden": self.config.hidden, "layers": 2}
        self.pool_W: list[np.ndarray] = []      # learned windows until self-training
        self.pool_y: list[np.ndarray] = []
        self.pool_n = 0
        self._device = None
        if self.config.model_path:
            self.net, self.arch, _ = load_artifact(self.config.model_path)

    @property
    def torch_device(self) -> str:
        if self._device is None:
            self._device = pick_device(self.config.device)
        return self._device

    @property
    def W(self) -> int:
        return int(self.arch["window"])

    def _sid(self, key) -> int:
        s = self.sid.get(key)
        if s is None:
            s = self.sid[key] = len(self.sid)
            if s >= len(self.rstate):
                grown = np.zeros((max(16, 2 * len(self.rstate)), self._ncols))
                grown[:len(self.rstate)] = self.rstate
                self.rstate = grown
        return s

    def predict(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw-unit predictions, window means and stds for raw windows W (n x window)."""
        import torch
        Z, mu, sd = normalise_windows(W, self.config.min_rel_std)
        out = np.empty(len(W))
        net = self.net.to(self.torch_device)
        bs = self.config.batch_size
        with torch.inference_mode():
            for b in range(0, len(W), bs):
                xb = torch.from_numpy(Z[b:b + bs].astype(np.float32)).to(self.torch_device)
                out[b:b + bs] = net(xb)[:, 0].float().cpu().numpy()
        return mu + out * sd, mu, sd

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        ex = extract(events, self.event_kinds)
        okm = self._accept_mask(ex)
        scores, flags, center, scale = unscored(n)
        w = self.W
        if mode == 2:
            return self._score_only(events, ex, okm)
        # per series: windows of the in-order finite points (context = values before them)
        rows_i, rows_W, late_i, late_W = [], [], [], []
        for i in np.flatnonzero(okm):
            key = ex.keys[i]
            s = self.series.get(key)
            if s is None:
                s = self.series[key] = _S()
                self._sid(key)
            xi, ti = ex.values[i], ex.times[i]
            if not math.isfinite(xi):
                if mode != 2:
                    s.nan += 1
                continue
            if ti < s.last:
                if len(s.ctx) >= w:
                    late_i.append(i)
                    late_W.append(s.ctx[-w:])
                s.late += 1
                continue
            if len(s.ctx) >= w:
                rows_i.append(i)
                rows_W.append(s.ctx[-w:])
            s.ctx.append(float(xi))
            if len(s.ctx) > 4 * w:
                del s.ctx[:-w]
            s.last = ti
            s.seen += 1
            if math.isnan(s.first):
                s.first = float(ti)
        if self.net is None:
            # not trained yet: the first windows fill the training pool (score 0); the model is
            # trained as soon as it is full and scores the rest of the batch
            need = self.config.fit_after - self.pool_n
            take = rows_i[:need]
            if take:
                self.pool_W.append(np.asarray(rows_W[:need]))
                self.pool_y.append(ex.values[np.asarray(take)])
                self.pool_n += len(take)
            if self.pool_n < self.config.fit_after:
                return RunResult(scores, flags, center, scale)
            self._self_train()
            cut = take[-1] if take else -1
            rows_W = rows_W[len(take):]
            rows_i = rows_i[len(take):]
            keep = [k for k, i in enumerate(late_i) if i > cut]
            late_i = [late_i[k] for k in keep]
            late_W = [late_W[k] for k in keep]
        idx = np.asarray(rows_i + late_i, dtype=np.int64)
        Wm = np.asarray(rows_W + late_W, dtype=np.float64).reshape(-1, w)
        isl = np.r_[np.zeros(len(rows_i), bool), np.ones(len(late_i), bool)]
        if not len(idx):
            return RunResult(scores, flags, center, scale)
        pred, mu, sd = self.predict(Wm)
        order = np.argsort(idx, kind="stable")          # stream order for the sequential part
        idx, pred, sd, isl = idx[order], pred[order], sd[order], isl[order]
        sids = np.asarray([self.sid[ex.keys[i]] for i in idx], dtype=np.int64)
        sc = np.empty(len(idx))
        fl = np.empty(len(idx), dtype=np.bool_)
        cfg = self.config
        residual_kernel(sids, ex.values[idx], pred, sd, isl, self.rstate, mode, cfg.warmup,
                         cfg.threshold, halflife_alpha(cfg.halflife), cfg.min_scale, cfg.suppress,
                         cfg.rate_target, halflife_alpha(cfg.rate_halflife), sc, fl)
        scores[idx] = sc
        flags[idx] = fl
        center[idx] = pred
        scale[idx] = sd * np.maximum(self.rstate[sids, SCALE] * 1.2533, cfg.min_scale)
        return RunResult(scores, flags, center, scale)

    def _score_only(self, events, ex, okm) -> RunResult:
        """Pure scoring: windows from the stored context plus earlier points of this batch."""
        scores, flags, center, scale = unscored(len(events))
        if self.net is None:
            return RunResult(scores, flags, center, scale)
        w = self.W
        ctx: dict = {}
        last: dict = {}
        rows_i, rows_W = [], []
        for i in np.flatnonzero(okm):
            key = ex.keys[i]
            s = self.series.get(key)
            if s is None:
                continue
            c = ctx.get(key)
            if c is None:
                c = ctx[key] = list(s.ctx[-w:])
                last[key] = s.last
            xi, ti = ex.values[i], ex.times[i]
            if not math.isfinite(xi):
                continue
            if len(c) >= w:
                rows_i.append(i)
                rows_W.append(c[-w:])
            if ti >= last[key]:
                c.append(float(xi))
                last[key] = ti
        if rows_i:
            idx = np.asarray(rows_i)
            pred, _, sd = self.predict(np.asarray(rows_W, dtype=np.float64))
            sids = np.asarray([self.sid[ex.keys[i]] for i in idx], dtype=np.int64)
            cfg = self.config
            sc = np.empty(len(idx))
            fl = np.empty(len(idx), dtype=np.bool_)
            residual_kernel(sids, ex.values[idx], pred, sd, np.zeros(len(idx), np.bool_), self.rstate.copy(),
                             2, cfg.warmup, cfg.threshold, halflife_alpha(cfg.halflife), cfg.min_scale,
                             cfg.suppress, cfg.rate_target, halflife_alpha(cfg.rate_halflife), sc, fl)
            scores[idx] = sc
            center[idx] = pred
            scale[idx] = sd * np.maximum(self.rstate[sids, SCALE] * 1.2533, cfg.min_scale)
        return RunResult(scores, flags, center, scale)

    def _self_train(self) -> None:
        W = np.concatenate(self.pool_W)[: self.config.fit_after]
        y = np.concatenate(self.pool_y)[: self.config.fit_after]
        net, losses = fit_net(W, y, window=self.config.window, hidden=self.config.hidden,
                              epochs=self.config.fit_epochs, device=self.torch_device, seed=self.config.seed,
                              min_rel_std=self.config.min_rel_std)
        self.net = net
        self.train_loss = losses[-1]
        self.pool_W, self.pool_y, self.pool_n = [], [], 0

    def is_warm(self, event: Event) -> bool:
        s = self.sid.get((event.entity, event.name))
        return self.net is not None and s is not None and self.rstate[s, LEARNED] >= self.config.warmup

    def window_evidence(self) -> dict:
        return {"window_points": self.W, "model": "mlp-forecaster", "device": self._device or "auto"}

    def stats(self, entity: str | None = None) -> dict:
        return {k: {"seen": s.seen, "nan": s.nan, "late": s.late,
                    "residuals": int(self.rstate[self.sid[k], LEARNED]), "trained": self.net is not None}
                for k, s in self.series.items() if entity is None or k[0] == entity}

    # state ------------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        rows = []
        for key, s in self.series.items():
            if entity is not None and key[0] != entity:
                continue
            r = self.rstate[self.sid[key]]
            rows.append({"entity": key[0], "name": key[1], "ctx": s.ctx, "last": repr(float(s.last)),
                         "nan": s.nan, "late": s.late, "seen": s.seen, "first": repr(float(s.first)),
                         "rstate": r.tolist()})
        extra = {"net": net_to_state(self.net, self.arch) if self.net is not None else None, "pool": None}
        if self.net is None and self.pool_n:
            extra["pool"] = {"W": np.concatenate(self.pool_W).tolist(), "y": np.concatenate(self.pool_y).tolist()}
        return self._pack_state(rows, entity, **extra)

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        state = self._unpack_state(blob, entity)
        if state.get("net") is not None:
            self.net, self.arch = net_from_state(state["net"])
        elif entity is None:
            self.net = None
        if entity is None:
            self.series, self.sid, self.rstate = {}, {}, np.zeros((0, self._ncols))
            pool = state.get("pool")
            self.pool_W, self.pool_y, self.pool_n = [], [], 0
            if pool:
                self.pool_W = [np.asarray(pool["W"], dtype=np.float64).reshape(-1, self.config.window)]
                self.pool_y = [np.asarray(pool["y"], dtype=np.float64)]
                self.pool_n = len(self.pool_y[0])
        else:
            self.forget(entity)
        for r in state["rows"]:
            key = (r["entity"], r["name"])
            s = _S()
            s.ctx = [float(v) for v in r["ctx"]]
            s.last, s.first = float(r["last"]), float(r["first"])
            s.nan, s.late, s.seen = int(r["nan"]), int(r["late"]), int(r["seen"])
            self.series[key] = s
            sid = self._sid(key)
            rs = np.asarray(r["rstate"], dtype=np.float64)
            if rs.shape != (self._ncols,):
                raise ValueError("snapshot was taken with a different suppress configuration")
            self.rstate[sid] = rs

    def entities(self):
        return sorted({k[0] for k in self.series})

    def forget(self, entity: str) -> None:
        for k in [k for k in self.series if k[0] == entity]:
            del self.series[k]
            self.rstate[self.sid[k]] = 0.0
        self._dirty.discard(entity)
