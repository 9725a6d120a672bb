"""Exclusions: tune false positives without editing rules.

A YAML file holding a list (or `{exclusions: [...]}`) of entries:

    - rule: 0b8c4fe5-...        # rule id, rule title, or "*" for every rule
      match:                     # Sigma detection syntax: all fields must match (modifiers allowed)
        userIdentity.arn|endswith: ":role/ci-deployer"
        sourceIPAddress|cidr: 10.0.0.0/8
      reason: CI pipeline rotates keys nightly

A list under `match` of mappings means "any of them". An event that matches an exclusion is not
reported by that rule and does not feed that rule's correlations. Each exclusion counts its hits.
Bad entries raise ExclusionError naming the entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sigma.rule import SigmaDetection

from detectors.sigma.conditions import Node, compile_detection
from detectors.sigma.fields import EventView


class ExclusionError(ValueError):
    pass


@dataclass
class Exclusion:
    rule: str
    node: Node
    reason: str = ""
    hits: int = 0
    index: int = 0

    def applies(self, rule_id: str, title: str) -> bool:
        return self.rule == "*" or self.rule == rule_id or self.rule == title


def parse_exclusions(data: Any, where: str = "exclusions") -> list[Exclusion]:
    if data is None:
        return []
    if isinstance(data, dict):
        data = data.get("exclusions", [])
    if not isinstance(data, list):
        raise ExclusionError(f"{where}: expected a list of exclusions, got {type(data).__name__}")
    out = []
    for i, ent in enumerate(data):
        if not isinstance(ent, dict):
            raise ExclusionError(f"{where}[{i}]: expected a mapping with 'rule' and 'match'")
        rule = ent.get("rule")
        match = ent.get("match")
        if not isinstance(rule, str) or not rule:
            raise ExclusionError(f"{where}[{i}]: 'rule' must be a rule id, title or '*'")
        if not isinstance(match, (dict, list)) or not match:
            raise ExclusionError(f"{where}[{i}]: 'match' must be a non-empty mapping of field: value")
        try:
            node = compile_detection(SigmaDetection.from_definition(match))
        except Exception as e:  # noqa: BLE001 - pySigma / compile errors
            raise ExclusionError(f"{where}[{i}]: {e}") from None
        out.append(Exclusion(rule, node, str(ent.get("reason", "")), 0, i))
    return out


def load_exclusions(path: str | Path) -> list[Exclusion]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ExclusionError(f"{p}: cannot read exclusions file: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ExclusionError(f"{p}: invalid YAML: {e}") from None
    return parse_exclusions(data, str(p))


class ExclusionSet:
    def __init__(self, exclusions: list[Exclusion] | None = None) -> None:
        self.items = list(exclusions or [])
        self.suppressed = 0

    def __bool__(self) -> bool:
        return bool(self.items)

    def excluded(self, rule_id: str, title: str, view: EventView) -> Exclusion | None:
        for ex in self.items:
            if ex.applies(rule_id, title) and ex.node.fn(view):
                ex.hits += 1
                self.suppressed += 1
                return ex
        return None
