"""The steps of an alert: every contributing finding, one step per (detector, rule, entity), in
the order they first appeared — the alert's timeline (an attacker session: failed logins, a user
created, weights pulled) and the list of every rule that contributed.

A step is a plain JSON object on the alert (`Alert.steps`): `detector`, `rule`, `entity`,
`policy`, `title`, `severity`, `first_seen`, `last_seen`, `count`, `finding_id` (the first) and
`evidence` (the first finding's). At most MAX_STEPS are kept per alert; findings of further steps
are counted in the alert's `steps_omitted`, never dropped silently.
"""
from __future__ import annotations

from typing import Any

from core.event import Finding, max_severity

MAX_STEPS = 50


def add_step(steps: list[dict[str, Any]], f: Finding, policy: str) -> bool:
    """Fold a finding into its step (or open a new one). False when there was no room."""
    for s in steps:
        if s["detector"] == f.detector and s["rule"] == f.rule and s["entity"] == f.entity:
            s["count"] += 1
            s["first_seen"] = min(s["first_seen"], f.time)
            s["last_seen"] = max(s["last_seen"], f.time)
            s["severity"] = max_severity(s["severity"], f.severity)
            if isinstance(f.evidence, dict) and "chart" in f.evidence:   # a metric step keeps its latest chart
                s["evidence"] = {**(s.get("evidence") or {}), "chart": f.evidence["chart"]}
            return True
    if len(steps) >= MAX_STEPS:
        return False
    steps.append({"detector": f.detector, "rule": f.rule, "entity": f.entity, "policy": policy, "title": f.title,
                  "severity": f.severity, "first_seen": f.time, "last_seen": f.time, "count": 1,
                  "finding_id": f.id, "evidence": f.evidence})
    steps.sort(key=lambda s: s["first_seen"])
    return True


def step_rules(steps: list[dict[str, Any]] | tuple) -> list[str]:
    """Every distinct contributing (detector, rule), in timeline order: 'sigma/default: <title>'."""
    seen, out = set(), []
    for s in steps:
        k = (s.get("detector"), s.get("rule"))
        if k not in seen:
            seen.add(k)
            out.append(f"{s.get('detector')} {s.get('rule')}: {s.get('title')}")
    return out


def merge_steps(dst: list[dict[str, Any]], src: list[dict[str, Any]]) -> None:
    """Fold another alert's steps into these (episodes of one incident merged)."""
    for st in src:
        mine = next((s for s in dst if (s["detector"], s["rule"], s["entity"]) ==
                     (st["detector"], st["rule"], st["entity"])), None)
        if mine is not None:
            mine["count"] += st["count"]
            mine["first_seen"] = min(mine["first_seen"], st["first_seen"])
            mine["last_seen"] = max(mine["last_seen"], st["last_seen"])
            mine["severity"] = max_severity(mine["severity"], st["severity"])
        elif len(dst) < MAX_STEPS:
            dst.append(dict(st))
    dst.sort(key=lambda s: s["first_seen"])
