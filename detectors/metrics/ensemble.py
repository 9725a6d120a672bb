"""Ensemble of metric detectors: one calibrated score per point.

Each member is a registered metric detector (``members``: type names, options per type in
``member_options``). A member's score is calibrated by its own threshold (``score / threshold``:
1.0 is where that member would flag), weighted (``weights``, default 1) and combined:

- ``max`` (default): the most confident member speaks; with unit weights the ensemble flags a
  point exactly when some member would;
- ``mean``: weighted mean of the calibrated scores (a vote);
- ``rank2``: the second largest calibrated score (two members must agree).

Flag at ``threshold`` (1.0 by default). Every member runs its own stream semantics (score with
the state before the point, learn only from points *it* did not flag), so scores stay causal;
a point the ensemble flags is never learned by the member(s) that flagged it.

Findings name the member that contributed most (``evidence.member``) with that member's evidence
(baseline, scale, deviation...) and every member's calibrated score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from core import registry
from core.event import Event, Finding
from core.registry import register
from core.snapshot import pack, unpack
from detectors.metrics.common import MetricDetector, RunResult, SeriesTable, halflife_alpha, njit
from detectors.metrics.columns import extract
from detectors.metrics.config import MetricConfig

COMBINE = ("max", "mean", "rank2")


@njit
def _rate_kernel(ids, cal, st, mode, a, r0, out):
    """Per series and member: EWMA of the member's flag rate (cal >= 1) before each point; the
    calibrated score is damped by min(1, r0 / rate) so a member that fires often on a series counts
    less there. Learned from every in-order point the member scored (flag rates are measurements)."""
    m, n = cal.shape
    for i in range(n):
        s = ids[i]
        for k in range(m):
            c = cal[k, i]
            if s < 0:
                out[k, i] = c
                continue
            rate = st[s, k]
            damp = 1.0 if rate <= r0 else r0 / rate
            out[k, i] = c * damp
            if mode != 2:
                st[s, k] = rate + a * ((1.0 if c >= 1.0 else 0.0) - rate)


@register
class EnsembleDetector(MetricDetector):
    """Calibrated combination of metric detectors (novelty + changepoint by default)."""

    type = "ensemble"
    state_version = 1

    @dataclass
    class Config(MetricConfig):
        members: list[str] = field(default_factory=lambda: ["novelty", "changepoint"])
        weights: list[float] = field(default_factory=list)     # per member, default 1.0
        member_options: dict = field(default_factory=dict)     # {type: {option: value}}
        combine: str = "max"
        rate_target: float = 0.001    # expected flag rate of a member; above it, it is damped (0 = off)
        rate_halflife: float = 2000.0  # points

        def validate(self) -> None:
            if not self.members:
                raise ValueError("members must not be empty")
            if "ensemble" in self.members:
                raise ValueError("an ensemble cannot contain an ensemble")
            if self.weights and len(self.weights) != len(self.members):
                raise ValueError("weights must have one entry per member")
            if any(w < 0 for w in self.weights):
                raise ValueError("weights must be >= 0")
            if self.combine not in COMBINE:
                raise ValueError(f"combine must be one of {', '.join(COMBINE)}")
            if self.combine == "rank2" and len(self.members) < 2:
                raise ValueError("combine rank2 needs at least two members")
            unknown = set(self.member_options) - set(self.members)
            if unknown:
                raise ValueError(f"member_options for non-members: {', '.join(sorted(unknown))}")
            super().validate()

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        base = self.name.split("/", 1)[1]
        self.parts = []
        for i, typ in enumerate(cfg.members):
            opts = dict(cfg.member_options.get(typ, {}))
            if cfg.metrics and "metrics" not in opts:
                opts["metrics"] = list(cfg.metrics)
            m = registry.create("detector", f"{typ}/{base}.{i}", opts)
            if not isinstance(m, MetricDetector):
                raise ValueError(f"ensemble member {typ!r} is not a metric detector")
            self.parts.append(m)
        self._w = np.asarray(cfg.weights or [1.0] * len(self.parts), dtype=np.float64)
        self._last: list[RunResult] = []
        self.rates = SeriesTable(len(self.parts), 0, [cfg.rate_target] * len(self.parts))

    def _combine(self, cal: np.ndarray) -> np.ndarray:
        if self.config.combine == "max":
            return cal.max(axis=0)
        if self.config.combine == "mean":
            return cal.sum(axis=0) / max(float(self._w.sum()), 1e-12)
        return np.sort(cal, axis=0)[-2]

    def _calibrated(self, results: list[RunResult]) -> np.ndarray:
        rows = []
        for m, w, r in zip(self.parts, self._w, results):
            thr = float(m.config.threshold)
            rows.append(w * np.nan_to_num(r.scores, nan=0.0, posinf=1e12) / thr)
        return np.vstack(rows)

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        results = [m._run(events, mode) for m in self.parts]
        cal = self._calibrated(results)
        if self.config.rate_target > 0 and len(events):
            ex = extract(events, self.event_kinds)
            ok = self._accept_mask(ex) & np.isfinite(ex.values)
            ids = self.rates.ids(ex.keys, ok, create=(mode != 2))
            damped = np.empty_like(cal)
            st = self.rates.state if mode != 2 else self.rates.state.copy()
            _rate_kernel(ids, cal, st, mode, halflife_alpha(self.config.rate_halflife),
                         self.config.rate_target, damped)
            cal = damped
        score = self._combine(cal)
        flags = (score >= self.config.threshold) if mode == 0 else np.zeros(len(events), bool)
        best = cal.argmax(axis=0) if len(events) else np.zeros(0, int)
        ar = np.arange(len(events))
        center = np.array([results[b].center[i] for i, b in zip(ar, best)]) if len(events) else np.zeros(0)
        scale = np.array([results[b].scale[i] for i, b in zip(ar, best)]) if len(events) else np.zeros(0)
        self._last, self._cal = results, cal
        return RunResult(score, flags, center, scale)

    def run(self, events: Sequence[Event]) -> RunResult:
        res = super().run(events)
        for m in self.parts:
            m._dirty |= {e.entity for e in events}
        return res

    def process(self, events: Sequence[Event]) -> list[Finding]:
        if not len(events):
            return []
        res = self.run(events)
        out = []
        thr = float(self.config.threshold)
        for i in np.flatnonzero(res.flags):
            b = int(self._cal[:, i].argmax())
            m = self.parts[b]
            r = self._last[b]
            sub = m._finding(events[i], float(r.scores[i]), float(m.config.threshold),
                             float(r.center[i]), float(r.scale[i])) if hasattr(m, "_finding") else None
            evd = dict(sub.evidence) if sub is not None else {"metric": events[i].name, "value": events[i].value}
            evd["member"] = m.name
            evd["members"] = {mm.type: float(self._cal[k, i]) for k, mm in enumerate(self.parts)}
            score = float(res.scores[i])
            out.append(Finding.create(
                detector=self.name, entity=events[i].entity, time=events[i].time, score=score,
                threshold=thr, severity=self.severity_for(score, thr),
                title=(sub.title if sub is not None else f"{events[i].name} anomalous on {events[i].entity}"),
                evidence=evd, event_ids=(events[i].id,), rule=events[i].name))
        return out

    def is_warm(self, event: Event) -> bool:
        return any(m.is_warm(event) for m in self.parts)

    # state -------------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        import base64
        parts = [base64.b64encode(m.snapshot(entity)).decode() for m in self.parts]
        return pack(f"detector.{self.type}", self.state_version,
                    {"entity": entity, "members": list(self.config.members), "parts": parts,
                     "rates": self.rates.dump(entity)})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        import base64
        _, st = unpack(blob, f"detector.{self.type}", self.state_version)
        if st.get("entity") != entity:
            raise ValueError(f"snapshot is for entity {st.get('entity')!r}, not {entity!r}")
        if st.get("members") != list(self.config.members):
            raise ValueError("snapshot was taken with other ensemble members")
        for m, p in zip(self.parts, st["parts"]):
            m.restore(base64.b64decode(p), entity)
        self.rates.load(st.get("rates", []), entity)

    def entities(self):
        return sorted(set().union(*[set(m.entities()) for m in self.parts]))

    def forget(self, entity: str) -> None:
        self.rates.forget(entity)
        for m in self.parts:
            m.forget(entity)
        self._dirty.discard(entity)

    def mark_clean(self) -> None:
        super().mark_clean()
        for m in self.parts:
            m.mark_clean()
