"""The detector API (river-style streaming, PyOD-style batch).

- `score_many(events) -> np.ndarray`: causal scores, high = more anomalous; does not learn.
- `learn_many(events)`: update state.
- `process(events) -> list[Finding]`: the stage's entry point. In stream order it scores each event
  with the state *before* it, thresholds the score (thresholding is separate from scoring), and
  learns only from events that were not flagged (no poisoning) once past warm-up.
  Subclasses with vectorised paths override `process`; the result must equal the default's.
- `snapshot(entity=None) -> bytes` / `restore(blob, entity=None)`: whole state or one entity's,
  versioned (core.snapshot). `dirty_entities()` lists entities changed since the last
  `mark_clean()`, so a checkpoint writes only what changed.
"""
from __future__ import annotations

from typing import ClassVar, Iterable, Sequence

import numpy as np

from core.component import Component
from core.event import Event, Finding


class Detector(Component):
    kind = "detector"
    #: event kinds this detector reads
    event_kinds: ClassVar[tuple[str, ...]] = ("metric",)
    #: version of the snapshot format
    state_version: ClassVar[int] = 1

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._dirty: set[str] = set()

    # routing ---------------------------------------------------------------------------------
    def accepts(self, event: Event) -> bool:
        return event.kind in self.event_kinds

    def select(self, events: list[Event]) -> list[Event]:
        """Batch form of accepts() over events already of this detector's kinds (the detect
        stage groups each batch by kind once); same events, same order. Override with a faster
        equivalent where accepts() looks at more than the kind."""
        return [e for e in events if self.accepts(e)]

    # scoring ---------------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        raise NotImplementedError

    def learn_many(self, events: Sequence[Event]) -> None:
        raise NotImplementedError

    def score_one(self, event: Event) -> float:
        return float(self.score_many([event])[0])

    def learn_one(self, event: Event) -> None:
        self.learn_many([event])

    def threshold_for(self, event: Event) -> float:
        return float(getattr(self.config, "threshold", 1.0))

    def is_warm(self, event: Event) -> bool:
        return True

    def finding_for(self, event: Event, score: float, threshold: float) -> Finding | None:
        """Build the finding for a flagged event (override to add evidence)."""
        return Finding.create(detector=self.name, entity=event.entity, time=event.time, score=score,
                              threshold=threshold, severity="medium",
                              title=f"{event.name} anomalous on {event.entity}",
                              evidence={"metric": event.name, "value": event.value},
                              event_ids=(event.id,), rule=event.name)

    def process(self, events: Sequence[Event]) -> list[Finding]:
        findings: list[Finding] = []
        for ev in events:
            warm = self.is_warm(ev)
            score = self.score_one(ev)
            thr = self.threshold_for(ev)
            flagged = warm and score >= thr
            if flagged:
                f = self.finding_for(ev, score, thr)
                if f is not None:
                    findings.append(f)
            else:
                self.learn_one(ev)
            self._dirty.add(ev.entity)
        return findings

    # state -----------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        raise NotImplementedError

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        raise NotImplementedError

    def entities(self) -> Iterable[str]:
        return ()

    def forget(self, entity: str) -> None:
        """Drop one entity's in-memory state (its partition moved to another replica)."""

    def dirty_entities(self) -> set[str]:
        return set(self._dirty)

    def mark_clean(self) -> None:
        self._dirty.clear()
