"""The "sigma" detector: Sigma rules evaluated on every audit event as it arrives.

Config:
  rules: extra rule files/dirs (SigmaHQ folders, your own) on top of warden's own rules
  builtin_rules: load warden's rules in rules/sigma (default true)
  filters: path of an exclusions YAML file (see detectors.sigma.filters), "" for none
  lateness: seconds an event may arrive behind the newest one and still count in correlations
  fail_on_rule_errors: make a rule that cannot be compiled a config error (default: report+count)
  min_level: rules below this Sigma level are loaded and linted but not evaluated (hunting rules);
             correlation inputs are always evaluated (they feed their correlation, and report no
             finding of their own). Default "informational" (all). Which levels *alert* is the
             policies' choice (policy/risk.py: by default low and informational findings add risk).
  outcome_aware: a failed call (errorCode / denied / non-2xx) does not match rules that do not
             themselves inspect the outcome - a change that failed changed nothing. Default true.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import numpy as np

from core import snapshot as snap
from core.component import FilePath
from core.errors import ConfigError
from core.event import Event, Finding
from core.registry import register
from detectors.base import Detector
from detectors.sigma.compiler import LEVELS
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.filters import ExclusionError, ExclusionSet, load_exclusions

BUILTIN_RULES = Path(__file__).resolve().parents[2] / "rules" / "sigma"


@register
class SigmaDetector(Detector):
    type: ClassVar[str] = "sigma"
    event_kinds: ClassVar[tuple[str, ...]] = ("audit",)
    state_version: ClassVar[int] = 1

    @dataclass
    class Config:
        rules: list[FilePath] = field(default_factory=list)
        builtin_rules: bool = True
        filters: FilePath = ""
        lateness: float = 900.0
        fail_on_rule_errors: bool = False
        min_level: str = "informational"
        outcome_aware: bool = True

        def validate(self) -> None:
            if self.min_level not in LEVELS:
                raise ValueError(f"min_level must be one of {', '.join(LEVELS)}, got {self.min_level!r}")
            if self.lateness < 0:
                raise ValueError(f"lateness must be >= 0 seconds, got {self.lateness}")
            if self.filters and not Path(self.filters).is_file():
                raise ValueError(f"filters file {self.filters!r} not found")

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        cfg = self.config
        excl = ExclusionSet()
        if cfg.filters:
            try:
                excl = ExclusionSet(load_exclusions(cfg.filters))
            except ExclusionError as e:
                raise ConfigError(f"{self.name}: {e}") from None
        self.engine = SigmaEngine(lateness=cfg.lateness, detector_name=self.name, exclusions=excl,
                                  min_level=cfg.min_level, outcome_aware=cfg.outcome_aware)
        paths: list = ([BUILTIN_RULES] if cfg.builtin_rules and BUILTIN_RULES.is_dir() else []) + list(cfg.rules)
        self.engine.load_paths(paths)
        if cfg.fail_on_rule_errors and self.engine.errors:
            path, reason = self.engine.errors[0]
            raise ConfigError(f"{self.name}: {len(self.engine.errors)} rule(s) failed to load; first: {path}: {reason}")

    # introspection ---------------------------------------------------------------------------
    @property
    def rule_errors(self) -> list[tuple[str, str]]:
        """Rules/files that could not be loaded: [(path, reason)]."""
        return list(self.engine.errors)

    def stats(self) -> dict:
        return self.engine.stats()

    # detector API ----------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        """1.0 for events some (non-correlation) rule matches, else 0.0. Does not touch state."""
        return np.array([1.0 if self.engine.match(e) else 0.0 for e in events], dtype=float)

    def learn_many(self, events: Sequence[Event]) -> None:
        """Sigma rules do not learn."""

    def process(self, events: Sequence[Event]) -> list[Finding]:
        evs = [e for e in events if e.kind in self.event_kinds]
        findings = self.engine.process(evs)
        if self.engine.correlations:
            self._dirty.update(self.engine.take_touched())
        return findings

    # state -----------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        return snap.pack(f"detector/{self.type}", self.state_version,
                         {"entity": entity, "correlations": self.engine.state(entity)})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        _, st = snap.unpack(blob, f"detector/{self.type}", self.state_version)
        if not isinstance(st, dict) or not isinstance(st.get("correlations"), dict):
            raise snap.SnapshotError("sigma snapshot: missing correlations state")
        self.engine.load_state(st["correlations"], merge=entity is not None)

    def entities(self) -> Iterable[str]:
        return sorted(self.engine.entities())

    def forget(self, entity: str) -> None:
        for st in self.engine.states.values():
            for k in [k for k, h in st.groups.items() if h and h[0][4] == entity]:
                del st.groups[k]
