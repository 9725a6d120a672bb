"""The records that flow through warden: Event, Finding, Alert, Action.

All four are small frozen dataclasses. Times are float seconds since the Unix epoch (UTC).
`attributes` / `evidence` dicts are treated as read-only once a record is built.
Serialisation lives in core.codec and nowhere else.
"""
from __future__ import annotations

import hashlib
import time as _time
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

KINDS = ("metric", "log", "audit", "inference", "trace")
SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def stable_id(*parts: Any) -> str:
    """Deterministic 128-bit hex id of the given parts (bytes, str or JSON-able values)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        if isinstance(p, bytes):
            b = p
        elif isinstance(p, str):
            b = p.encode("utf-8", "surrogatepass")
        else:
            b = orjson.dumps(p, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def max_severity(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    time: float
    kind: str
    source: str
    entity: str
    name: str
    value: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    observed_time: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown event kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if not self.entity:
            raise ValueError("event entity must not be empty")

    @classmethod
    def create(cls, *, source: str, kind: str, entity: str, name: str, time: float,
               value: float | None = None, attributes: dict[str, Any] | None = None,
               raw: bytes | str | dict | None = None, observed_time: float | None = None) -> "Event":
        """Build an event whose id is a stable hash of its source record.

        `raw` is the original record: the same input always gives the same id. When absent, the
        id hashes the event's own content (source, kind, entity, name, time, value, attributes).
        """
        attrs = attributes or {}
        if raw is None:
            eid = stable_id(source, kind, entity, name, time, value, attrs)
        else:
            eid = stable_id(source, raw)
        return cls(id=eid, time=float(time), kind=kind, source=source, entity=str(entity), name=name,
                   value=None if value is None else float(value), attributes=attrs,
                   observed_time=_time.time() if observed_time is None else observed_time)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a detector found: scored, thresholded, with the evidence behind it."""
    id: str
    detector: str              # component name, e.g. "baseline/default"
    entity: str
    time: float                # event time of the last event behind the finding
    score: float
    threshold: float
    severity: str
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    event_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    rule: str = ""             # rule id / check name within the detector (e.g. metric name, sigma rule id)

    @classmethod
    def create(cls, *, detector: str, entity: str, time: float, score: float, threshold: float,
               severity: str, title: str, evidence: dict | None = None, event_ids=(), tags=(),
               rule: str = "") -> "Finding":
        event_ids = tuple(event_ids)
        fid = stable_id("finding", detector, rule, entity, event_ids or time)
        # the frozen dataclass __init__ (one object.__setattr__ per field) skipped: detectors
        # create findings on the hot path; same fields, same values
        f = _new(cls)
        for put, v in zip(_FINDING_SET, (fid, detector, entity, float(time), float(score), float(threshold),
                                         severity, title, evidence or {}, event_ids, tuple(tags), rule)):
            put(f, v)
        return f


_new = object.__new__
#: the slot setters of Finding in field order (Finding.create passes its values in that order)
_FINDING_SET = tuple(getattr(Finding, f.name).__set__ for f in fields(Finding))


@dataclass(frozen=True, slots=True)
class Alert:
    """What people see: one per incident (rule x grouping key x episode), deterministic id."""
    id: str
    rule: str                  # policy rule id that made it
    title: str
    severity: str
    entity: str
    group_key: str
    status: str                # firing | acknowledged | resolved | suppressed
    first_seen: float
    last_seen: float
    count: int = 1             # findings folded into this alert
    detector: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    finding_ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    assignee: str = ""
    updated: float = 0.0
    #: where the policy routes it: ({"responder": "webhook/oncall", "dry_run": true, "params": {...}}, ...)
    routes: tuple[dict[str, Any], ...] = ()
    #: every contributing finding, one step per (detector, rule, entity): policy.steps
    steps: tuple[dict[str, Any], ...] = ()
    #: people's changes (ack, assign, resolve, notes) as read from the store: core.stores.workflow
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    """What a responder did (or would do, in dry-run) to a target, and how to undo it."""
    id: str                    # idempotency key: stable over (alert, responder, target)
    alert_id: str
    responder: str             # component name, e.g. "webhook/oncall"
    action: str                # verb, e.g. "notify", "quarantine_pod"
    target: str
    dry_run: bool
    status: str                # planned | done | failed | skipped | undone | pending_approval
    time: float
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    undo: dict[str, Any] = field(default_factory=dict)
