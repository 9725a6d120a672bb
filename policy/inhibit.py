"""Inhibition: a firing source alert mutes target alerts that share the `equal` labels
(e.g. a node-down alert mutes the pod / GPU alerts on that node).

```yaml
inhibit_rules:
  - source: {alertname: node-down}
    target: {alertname: "=~gpu-.*|straggler"}
    equal: [node]
```
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from core.errors import ConfigError
from policy.matchers import Matcher, matches_all, parse_matchers
from policy.sections import known_mapping


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = ""

    def inhibits(self, source_labels: dict[str, str], target_labels: dict[str, str]) -> bool:
        return (matches_all(self.source, source_labels) and matches_all(self.target, target_labels)
                and all(str(source_labels.get(k, "")) == str(target_labels.get(k, "")) for k in self.equal))


def parse_inhibit_rules(raw: Any, where: str) -> list[InhibitRule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: inhibit_rules must be a list")
    out = []
    for i, r in enumerate(raw):
        w = f"{where}[{i}]"
        known_mapping(r, ("source", "target", "equal", "name"), w, "an inhibit rule")
        if not r.get("source") or not r.get("target"):
            raise ConfigError(f"{w}: needs both source and target matchers")
        equal = r.get("equal") or []
        if not isinstance(equal, list) or not all(isinstance(e, str) for e in equal):
            raise ConfigError(f"{w}: equal must be a list of label names")
        out.append(InhibitRule(parse_matchers(r["source"], f"{w}.source"), parse_matchers(r["target"], f"{w}.target"),
                               tuple(equal), str(r.get("name") or f"inhibit[{i}]")))
    return out


def inhibited_by(rules: list[InhibitRule], alert_id: str, labels: dict[str, str],
                 firing: Iterable[tuple[str, dict[str, str]]]) -> tuple[str, str] | None:
    """(rule name, source alert id) of the first firing alert that inhibits this one, or None.
    An alert never inhibits itself."""
    if not rules:
        return None
    candidates = [r for r in rules if matches_all(r.target, labels)]
    if not candidates:
        return None
    for sid, slabels in firing:
        if sid == alert_id:
            continue
        for r in candidates:
            if r.inhibits(slabels, labels):
                return r.name, sid
    return None
