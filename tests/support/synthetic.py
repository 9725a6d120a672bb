"""A small synthetic collector for pipeline tests: noisy metric series with one level shift,
plus optional malformed records. (Detection quality is measured on real data in bench/.)"""
from __future__ import annotations

import random
from dataclasses import dataclass

from core.event import Event
from collectors.base import Collector


@dataclass
class SyntheticConfig:
    points: int = 400
    shift_at: int = 300
    nodes: int = 3
    seed: int = 1


class SyntheticCollector(Collector):
    type = "synthetic"   # not registered: tests build it directly
    bounded = True
    Config = SyntheticConfig

    def events(self) -> list[Event]:
        r = random.Random(self.config.seed)
        out = []
        for i in range(self.config.points):
            for n in range(self.config.nodes):
                v = 50 + r.gauss(0, 1.0) + (30 if n == 0 and i >= self.config.shift_at else 0)
                out.append(Event.create(source="synthetic/test", kind="metric", entity=f"node-{n}",
                                        name="gpu.utilization", time=1.7e9 + 60 * i, value=v, observed_time=0.0))
        return out

    def run_once(self) -> int:
        if not self.first_run():
            return 0
        evs = self.events()
        for e in evs:
            self.emitter.emit(e)
        return len(evs)
