"""Sequential evidence over a principal's session: a one-sided CUSUM of event surprises.

    S <- max(0, S + min(x, event_cap) - k)        x: the event's surprise in bits (surprise.py)

A session is a principal's run of events with gaps shorter than `session_gap` seconds; S starts at 0 in
each. `k` is what a normal event may cost (an allowance per event), `event_cap` what one event may add
at most, `h` the evidence that raises an alert. With event_cap < h a single rare event never alerts, and a
session of several surprising calls does; ordinary calls between them drain S by k each.
After an alert S restarts from 0, so a long attack raises a new finding only after as much new evidence.
The events that carried S up are kept (bounded) as the finding's evidence. Learning (no poisoning): an
ordinary event is learned at once; a surprising one waits while the evidence is up, and is learned when
S drains back to 0 or the session ends without an alert (meanwhile a value already counted in the session
counts 0 bits: the same new client or address on every call is one surprise, not one per call); the events of an alerted session are held back
and learned `quarantine` seconds later, so a benign one-off that alerted becomes known instead of alerting
again each time it recurs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_STEPS = 16          # events kept as a session's evidence
MAX_HELD = 64           # events of alerted sessions held back from learning per principal


@dataclass
class Step:
    id: str
    time: float
    bits: float
    reasons: list[dict[str, Any]]

    def to_state(self) -> list:
        return [self.id, self.time, self.bits, self.reasons]

    @classmethod
    def from_state(cls, s: list) -> "Step":
        return cls(str(s[0]), float(s[1]), float(s[2]), list(s[3]))


@dataclass
class Session:
    score: float = 0.0
    last: float = float("-inf")
    alerted_at: float | None = None               # time of this session's last alert
    steps: list[Step] = field(default_factory=list)
    pending: list[dict[str, str]] = field(default_factory=list)             # surprising, not learned yet
    counted: set[str] = field(default_factory=set)      # "field=value" already counted in this session
    held: list[tuple[float, dict[str, str]]] = field(default_factory=list)   # (release time, features)
    held_dropped: int = 0

    def add(self, t: float, bits: float, step: Step | None, feats: dict[str, str], *, k: float, event_cap: float,
            gap: float, quarantine: float) -> tuple[float, list[dict[str, str]]]:
        """Fold one event in: (the session's evidence after it, the events that may be learned now)."""
        ready: list[dict[str, str]] = []
        if t - self.last > gap:         # the last session ended without (further) alert
            if self.alerted_at is None:
                ready = self.pending
            else:
                for f in self.pending:
                    self.hold(self.last, f, quarantine)
            self.score, self.steps, self.pending, self.alerted_at = 0.0, [], [], None
            self.counted = set()
        self.last = max(self.last, t)
        self.score = max(0.0, self.score + min(bits, event_cap) - k)
        if self.score <= 0.0:
            ready += self.pending
            ready.append(feats)
            self.steps, self.pending, self.counted = [], [], set()
        elif bits > k and step is not None:
            if len(self.counted) < 4 * MAX_HELD:
                self.counted.update(f"{r['field']}={r['value']}" for r in step.reasons)
            self.steps.append(step)
            if len(self.steps) > MAX_STEPS:      # keep the most surprising ones
                self.steps.remove(min(self.steps, key=lambda s: s.bits))
            self.pending.append(feats)
            if len(self.pending) > MAX_HELD:
                ready.append(self.pending.pop(0))
        else:
            ready.append(feats)
        return self.score, ready

    def alerted(self, t: float, quarantine: float) -> list[Step]:
        """The session crossed the threshold: its evidence; S restarts, its surprising events are held."""
        steps, self.steps, self.score, self.alerted_at = self.steps, [], 0.0, t
        for f in self.pending:
            self.hold(t, f, quarantine)
        self.pending = []
        return steps

    def hold(self, t: float, feats: dict[str, str], quarantine: float) -> None:
        if len(self.held) >= MAX_HELD:
            self.held_dropped += 1
            return
        self.held.append((t + quarantine, feats))

    def release(self, t: float) -> list[dict[str, str]]:
        """Held events whose quarantine has ended (to learn now)."""
        if not self.held or min(r for r, _ in self.held) > t:
            return []
        out = [f for r, f in self.held if r <= t]
        self.held = [(r, f) for r, f in self.held if r > t]
        return out

    def to_state(self) -> dict[str, Any]:
        return {"score": self.score, "last": None if self.last == float("-inf") else self.last,
                "alerted_at": self.alerted_at, "steps": [s.to_state() for s in self.steps],
                "pending": self.pending, "counted": sorted(self.counted), "held": [[r, f] for r, f in self.held], "held_dropped": self.held_dropped}

    @classmethod
    def from_state(cls, s: dict[str, Any] | None) -> "Session":
        if not s:
            return cls()
        return cls(score=float(s["score"]), last=float("-inf") if s.get("last") is None else float(s["last"]),
                   alerted_at=None if s.get("alerted_at") is None else float(s["alerted_at"]),
                   steps=[Step.from_state(x) for x in s.get("steps", [])],
                   counted={str(x) for x in s.get("counted", [])},
                   pending=[{str(k): str(v) for k, v in f.items()} for f in s.get("pending", [])],
                   held=[(float(r), {str(k): str(v) for k, v in f.items()}) for r, f in s.get("held", [])],
                   held_dropped=int(s.get("held_dropped", 0)))
