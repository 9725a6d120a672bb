"""Findings as a user receives them: alerts after the policies' grouping.

The decide stage keeps one open alert per (policy, grouping key); a finding matching a policy joins
that policy's open alert for its key unless the alert has been quiet for the policy's `resolve_after`
(event time), when a new alert opens. This replays that rule over a bench's findings with warden's
policies (rules/policies), so "false alerts" count notifications, not detector findings. Not replayed:
silences, inhibition and cross-policy correlation (they can only merge or hide alerts, so the counts
here are an upper bound on what a user receives).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from core.event import Finding
from policy.policies import PolicySet


@dataclass
class Alert:
    policy: str
    key: str
    entity: str
    first_seen: float
    last_seen: float
    rules: set[str] = field(default_factory=set)
    event_ids: set[str] = field(default_factory=set)
    findings: int = 0


def group_alerts(findings: Iterable[Finding], policies: PolicySet) -> list[Alert]:
    """The alerts `findings` (any order) open under `policies`, in order of opening."""
    out: list[Alert] = []
    open_: dict[str, Alert] = {}
    for f in sorted(findings, key=lambda f: (f.time, f.id)):
        for p in policies.match(f):
            key = f"{p.id}|{p.group_key(f)}"
            a = open_.get(key)
            if a is None or f.time - a.last_seen > p.resolve_after:
                a = open_[key] = Alert(p.id, key, f.entity, f.time, f.time)
                out.append(a)
            a.last_seen = max(a.last_seen, f.time)
            a.rules.add(f.rule)
            a.event_ids.update(f.event_ids)
            a.findings += 1
    return out
