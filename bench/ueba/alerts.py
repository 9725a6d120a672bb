"""Findings as a user receives them: alerts after the policies' grouping and incident correlation.

The decide stage (agent/stages/decide.py) keeps one open alert per (policy, grouping key); a finding
matching a policy joins that policy's open alert for its key unless the alert has been quiet for the
policy's `resolve_after` (event time), when a new alert opens. A finding of a policy named in a
correlation rule (`correlate:` in rules/policies, policy.correlate) whose own alert is not open joins an
open alert of that rule that shares one of its join keys (same principal, same source address...), as
the decide stage does (two alerts already open when a finding links them stay two here: both were
already sent). Risk-based alerting (policy.risk) as the decide stage does it: a building block
(a finding below the alerting level) that would open a new alert is held in its principal's ledger
until the principal gathers enough different rules, then every held finding goes through the policies.
This replays all of it over a bench's findings with warden's policies, so "false alerts" count
notifications, not detector findings. Not replayed: silences and inhibition (they can only hide
alerts, so the counts here are an upper bound on what a user receives).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable

from core.event import Finding
from core.lookup import lookup
from policy.policies import Policy, PolicySet
from policy.risk import RiskLedger, RiskRule


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


def with_risk(policies: PolicySet, rule: RiskRule | None) -> PolicySet:
    """The same policies with another risk rule (None: every finding may alert on its own)."""
    out = copy.copy(policies)
    out.risk = rule
    return out


def group_alerts(findings: Iterable[Finding], policies: PolicySet) -> list[Alert]:
    """The alerts `findings` (any order) open under `policies` (and their risk rule), in order of opening."""
    g = _Grouping(policies, RiskLedger(policies.risk) if policies.risk is not None else None)
    for f in sorted(findings, key=lambda f: (f.time, f.id)):
        ps = policies.match(f)
        if g.ledger is None or not ps:
            g.apply(f, ps)
            continue
        todo, _ = g.ledger.gate(f, ps, g.folds, policies.match)
        for h, hps in todo:
            g.apply(h, hps)
        for h, hps in g.ledger.attach(f.entity, g.folds, policies.match) if todo else ():
            g.apply(h, hps)
    return g.out


class _Grouping:
    def __init__(self, policies: PolicySet, ledger: RiskLedger | None) -> None:
        self.policies, self.ledger = policies, ledger
        self.out: list[Alert] = []
        self.open: dict[str, Alert] = {}
        self.joins: dict[str, Alert] = {}                 # correlation join key -> the alert that holds it

    def _target(self, f: Finding, p: Policy) -> tuple[Alert | None, list[str]]:
        """The open alert the finding folds into under policy `p` (None: it opens one), and its join keys."""
        a = self.open.get(f"{p.id}|{p.group_key(f)}")
        rule = next((r for r in self.policies.correlate if p.id in r.policies), None)
        ckeys = rule.keys(f, lookup) if rule is not None else []
        if a is None or not a.open_at(f.time):
            a = next((j for k in ckeys if (j := self.joins.get(k)) is not None and j.open_at(f.time)), None)
        return a, ckeys

    def folds(self, f: Finding, ps: list[Policy]) -> bool:
        return any(self._target(f, p)[0] is not None for p in ps)

    def apply(self, f: Finding, ps: list[Policy]) -> None:
        for p in ps:
            a, ckeys = self._target(f, p)
            if a is None:
                key = f"{p.id}|{p.group_key(f)}"
                a = self.open[key] = Alert(p.id, key, f.entity, f.time, f.time, p.resolve_after,
                                           opened_by=tuple(sorted(f.event_ids)))
                self.out.append(a)
            a.last_seen = max(a.last_seen, f.time)
            a.rules.add(f.rule)
            a.detectors.add(f.detector)
            a.event_ids.update(f.event_ids)
            a.findings += 1
            for k in ckeys:
                self.joins[k] = a
