"""Per-endpoint, per-model-version drift state: the reference being collected, then the frozen
reference and its sequential test (detectors.drift.stream)."""
from __future__ import annotations

import math
from typing import Any

from core.event import Event
from core.names import MODEL_VERSION
from detectors.drift.stream import SequentialDrift


def version_of(ev: Event) -> str:
    """The model version an inference event was served by ("" when it names none): each version of
    a model gets its own reference, so a release is not reported as drift of the previous one."""
    v = ev.attributes.get(MODEL_VERSION)
    return "" if v is None else str(v)


def scalar(v: Any) -> Any:
    if v is None or isinstance(v, str) or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(float(v)) else None
    return None  # lists / dicts: wrong type -> missing


class Endpoint:
    """State of one endpoint: warming (collecting the reference) or monitoring."""

    def __init__(self) -> None:
        self.ref_rows: list[dict] = []
        self.ref_texts: list[str] = []
        self.seq: SequentialDrift | None = None
        self.projector = None
        self.model: dict[str, str] = {}
        self.n = 0
        self.last_score = 0.0
        self.findings = 0

    def to_state(self) -> dict:
        return {"ref_rows": self.ref_rows, "ref_texts": self.ref_texts,
                "seq": self.seq.to_state() if self.seq else None,
                "projector": self.projector.to_state() if self.projector is not None else None,
                "model": self.model, "n": self.n, "last_score": self.last_score, "findings": self.findings}

    @classmethod
    def from_state(cls, st: dict) -> "Endpoint":
        from detectors.drift.text import Projector
        e = cls()
        e.ref_rows, e.ref_texts = list(st["ref_rows"]), list(st["ref_texts"])
        e.seq = SequentialDrift.from_state(st["seq"]) if st.get("seq") else None
        e.projector = Projector.from_state(st["projector"]) if st.get("projector") else None
        e.model, e.n = dict(st["model"]), int(st["n"])
        e.last_score, e.findings = float(st["last_score"]), int(st["findings"])
        return e
