"""Straggler node in a data-parallel training job: training.step.duration vs its peers.

Every node of a data-parallel job runs the same step, so the peers are the baseline: a node is a
straggler when its recent step time (EWMA over ``halflife`` samples) is ``threshold`` times the
median of the other nodes of the same job (attribute ``job.name``) that reported within
``stale_after`` seconds. score = node recent step time / peer median (flag at ``threshold``,
default 1.5 = 50% slower); at least ``min_peers`` fresh peers are needed, else the score is 0.

The per-node EWMA is the node's own measurement (it is updated by every in-order sample, flagged
or not); the baseline it is compared with — the peers — is not learned at all, so a slow node
cannot poison it. Findings are about the node (entity) and name the job, the peer median, the
ratio and the peers.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from core.names import TRAIN_STEP_DURATION
from core.registry import register
from core.units import metric_value
from detectors.metrics.common import halflife_alpha
from detectors.metrics.config import MetricConfig
from detectors.metrics.keyed import KeyedStateDetector


@register
class StragglerDetector(KeyedStateDetector):
    """One node of a data-parallel job much slower than the median of its peers."""

    type = "straggler"
    metric_names = (TRAIN_STEP_DURATION,)
    tags = ("training", "straggler")

    @dataclass
    class Config(MetricConfig):
        threshold: float = 1.5        # node / peer-median step time that flags
        halflife: float = 3.0         # samples; smooths one-off slow steps
        warmup: int = 3               # samples of a node before it is judged
        min_peers: int = 2            # fresh peers needed for a verdict
        stale_after: float = 600.0    # seconds: peers silent longer are ignored
        job_attribute: str = "job.name"
        metrics: list[str] = field(default_factory=lambda: [TRAIN_STEP_DURATION])

        def validate(self) -> None:
            if self.threshold <= 1.0:
                raise ValueError("threshold must be > 1 (a ratio to the peer median)")
            if self.halflife <= 0 or self.warmup < 1 or self.min_peers < 1 or self.stale_after <= 0:
                raise ValueError("halflife, warmup, min_peers and stale_after must be positive")
            super().validate()

    def _job(self, ev) -> str:
        return str(ev.attributes.get(self.config.job_attribute, "") or "")

    def key_for(self, ev):
        return ev.entity, f"{ev.name}@{self._job(ev)}"

    def new_state(self, ev):
        return {"ewma": None, "t": None}

    def warm(self, st):
        return st["_n"] >= self.config.warmup - 1

    def _peers(self, ev, now: float):
        sub = f"{ev.name}@{self._job(ev)}"
        out = {}
        for node, per in self.states.items():
            if node == ev.entity:
                continue
            st = per.get(sub)
            if st and st["ewma"] is not None and st["t"] is not None and now - st["t"] <= self.config.stale_after \
                    and st["_n"] >= self.config.warmup:
                out[node] = st["ewma"]
        return out

    def _recent(self, st, v):
        a = halflife_alpha(self.config.halflife)
        return v if st["ewma"] is None else st["ewma"] + a * (v - st["ewma"])

    def evaluate(self, st, ev, v, t):
        recent = self._recent(st, v)
        peers = self._peers(ev, t)
        med = statistics.median(peers.values()) if len(peers) >= self.config.min_peers else None
        ratio = recent / med if med and med > 0 else 0.0
        slowest = sorted(peers.items(), key=lambda kv: -kv[1])[:3]
        return ratio, {"metric": ev.name, "value": v, "job": self._job(ev), "job.name": self._job(ev),
                       "node": ev.entity, "recent": recent,
                       "baseline": med, "ratio": ratio, "deviation": (recent - med) if med else None,
                       "direction": "up", "peers": len(peers),
                       "slowest_peers": [{"node": n, "step": s} for n, s in slowest],
                       "window": {"halflife_points": self.config.halflife,
                                  "stale_after_s": self.config.stale_after}}

    def update(self, st, ev, v, t, flagged):
        st["ewma"] = self._recent(st, v)
        st["t"] = t

    def title(self, ev, e):
        return (f"straggler in job {e['job'] or '?'}: {ev.entity} step {metric_value(e['recent'], ev.name)} is "
                f"{e['ratio']:.2f}x the peer median {metric_value(e['baseline'], ev.name)} ({e['peers']} peers)")
