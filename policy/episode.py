"""An alert episode: the decide stage's state for one open alert — one (policy, grouping key), or
several policies' findings of one incident (policy.correlate) — from its first finding
until it resolves. Kept in the checkpoint state (`decide:episodes`) as a JSON object of these
fields; an episode written before a field existed reads with that field's default."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(slots=True)
class Episode:
    id: str                          # the alert id: policy, grouping key and first finding's id hashed
    policy: str                      # the policy naming the alert (the most specific one, when correlated)
    group_key: str
    entity: str
    detector: str
    rule_title: str
    description: str
    severity: str
    first_seen: float
    last_seen: float
    count: int                       # findings folded in
    finding_ids: list[str]           # shown on the alert (up to decide.MAX_IDS)
    seen: list[str]                  # remembered for redelivery dedup (up to decide.MAX_SEEN)
    event_ids: list[str]
    tags: list[str]
    evidence: dict[str, Any]
    labels: dict[str, str]
    emitted_count: int = 0           # count and severity of the last alert emitted
    emitted_severity: str = ""
    status: str = ""                 # of the last alert emitted: "" (none yet) | firing | suppressed | resolved
    suppressed_by: str = ""          # silence:<id> | inhibit:<rule>:<source alert id> | ""
    steps: list[dict[str, Any]] = field(default_factory=list)   # policy.steps
    steps_omitted: int = 0
    corr_keys: list[str] = field(default_factory=list)          # correlation join keys (policy.correlate)
    watermark: float = 0.0           # the decide stage's event-time watermark when last changed
    #: the count up to which muted findings were counted (None: up to `emitted_count`)
    counted_suppressed_upto: int | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, blob: bytes) -> "Episode":
        """An episode from the checkpoint state; keys it does not know are ignored."""
        d = orjson.loads(blob)
        d.setdefault("seen", list(d.get("finding_ids", [])))
        d.setdefault("labels", {})
        d.setdefault("status", "firing" if d.get("emitted_count") else "")
        return cls(**{k: v for k, v in d.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in dataclasses.fields(Episode))
