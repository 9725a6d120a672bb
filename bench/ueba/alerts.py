"""Findings as a user receives them: alerts after the policies' grouping and incident correlation.

The decide stage (agent/stages/decide.py) keeps one open alert per (policy, grouping key); a finding
matching a policy joins that policy's open alert for its key unless the alert has been quiet for the
policy's `resolve_after` (event time), when a new alert opens. A finding of a policy named in a
correlation rule (`correlate:` in rules/policies, policy.correlate) whose own alert is not open joins an
open alert of that rule that shares one of its join keys (same principal, same source address...), as
the decide stage does (two alerts already open when a finding links them stay two here: both were
already sent). This replays both over a bench's findings with warden's policies, so "false
alerts" count notifications, not detector findings. Not replayed: silences and inhibition (they can
only hide alerts, so the counts here are an upper bound on what a user receives).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from core.event import Finding
from core.lookup import lookup
from policy.policies import PolicySet


@dataclass
class Alert:
    policy: str
    key: str
    entity: str
    first_seen: float
    last_seen: float
    resolve_after: float = 3600.0
    rules: set[str] = field(default_factory=set)
    detectors: set[str] = field(default_factory=set)
    event_ids: set[str] = field(default_factory=set)
    opened_by: tuple[str, ...] = ()             # the event ids of the finding that opened it
    findings: int = 0

    def open_at(self, t: float) -> bool:
        return t - self.last_seen <= self.resolve_after


def group_alerts(findings: Iterable[Finding], policies: PolicySet) -> list[Alert]:
    """The alerts `findings` (any order) open under `policies`, in order of opening."""
    out: list[Alert] = []
    open_: dict[str, Alert] = {}
    joins: dict[str, Alert] = {}                  # correlation join key -> the alert that holds it
    for f in sorted(findings, key=lambda f: (f.time, f.id)):
        for p in policies.match(f):
            key = f"{p.id}|{p.group_key(f)}"
            a = open_.get(key)
            rule = next((r for r in policies.correlate if p.id in r.policies), None)
            ckeys = rule.keys(f, lookup) if rule is not None else []
            if a is None or not a.open_at(f.time):
                a = next((j for k in ckeys if (j := joins.get(k)) is not None and j.open_at(f.time)), None)
            if a is None:
                a = open_[key] = Alert(p.id, key, f.entity, f.time, f.time, p.resolve_after,
                                       opened_by=tuple(sorted(f.event_ids)))
                out.append(a)
            a.last_seen = max(a.last_seen, f.time)
            a.rules.add(f.rule)
            a.detectors.add(f.detector)
            a.event_ids.update(f.event_ids)
            a.findings += 1
            for k in ckeys:
                joins[k] = a
    return out
