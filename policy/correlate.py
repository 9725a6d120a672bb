"""Incident correlation: findings of different policies that describe one incident fold into one
alert episode.

```yaml
correlate:
  # a metric anomaly and the AI-platform detector that explains it, on the same entity and metric
  - name: metric-explained
    policies: [gpu-memory-leak, training-straggler, latency-slo-burn, inference-error-burst, metric-anomaly]
    join_on: [[entity, evidence.metric]]
  # the steps of one attacker session: same principal, same source address, or a user the
  # session created or changed
  - name: attacker-session
    policies: [credential-abuse, attack-technique]
    join_on: [[entity], [evidence.event.source.ip], [principal_name], [evidence.event.user.target.name]]
```

A finding whose policy is listed joins an open episode of the same rule that shares any of its
`join_on` keys (each key: the values of its fields, all present); the keys of every finding that
joins are added to the episode, so a session grows from principal to source address to the
principal created from it. `policies` is in precedence order: the alert is named (title, policy,
routes, labels) by the highest-ranked policy among its findings, and its headline evidence is that
policy's finding's — the others are kept as steps (`policy.steps`). The episode's
policy's `resolve_after` still ends it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.errors import ConfigError
from core.event import Finding, max_severity, stable_id
from policy.episode import Episode
from policy.sections import known_mapping
from policy.steps import merge_steps


Lookup = Callable[[Any, str], Any]


@dataclass(frozen=True)
class CorrelationRule:
    name: str
    policies: tuple[str, ...]
    join_on: tuple[tuple[str, ...], ...]

    def rank(self, policy_id: str) -> int:
        """Lower is more specific (names the alert); unknown policies rank last."""
        try:
            return self.policies.index(policy_id)
        except ValueError:
            return len(self.policies)

    def keys(self, f: Finding, lookup: Lookup) -> list[str]:
        """The finding's join keys (a key whose fields are not all present is left out). A key
        hashes its values, not the field names, so different fields holding the same value join:
        `principal_name` of one finding and `evidence.event.user.target.name` of another.
        `lookup(finding, dotted_path)` reads a dotted path (the policy engine's)."""
        out = []
        for fields in self.join_on:
            vals = []
            for name in fields:
                v = field_value(f, name, lookup)
                if v is None or v == "":
                    break
                vals.append(str(v))
            else:
                out.append(stable_id(self.name, vals))
        return out


def field_value(f: Finding, name: str, lookup: Lookup):
    """A join field: a finding attribute, `principal_name` (the entity's last path segment: `alice`
    of `arn:aws:iam::1:user/alice`), or a dotted path into the finding (`evidence.metric`)."""
    if name in ("entity", "rule", "detector"):
        return getattr(f, name)
    if name == "principal_name":
        return f.entity.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return lookup(f, name)


def parse_correlate(raw: Any, where: str) -> list[CorrelationRule]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: correlate must be a list")
    out = []
    for i, r in enumerate(raw):
        w = f"{where}[{i}]"
        known_mapping(r, ("name", "policies", "join_on"), w, "a correlation rule")
        pols = r.get("policies")
        if not isinstance(pols, list) or len(pols) < 1 or not all(isinstance(p, str) for p in pols):
            raise ConfigError(f"{w}.policies: expected a list of policy ids")
        join = r.get("join_on")
        if (not isinstance(join, list) or not join
                or not all(isinstance(k, list) and k and all(isinstance(x, str) for x in k) for k in join)):
            raise ConfigError(f"{w}.join_on: expected a list of field lists, e.g. [[entity, evidence.metric]]")
        out.append(CorrelationRule(str(r.get("name") or f"correlate[{i}]"), tuple(pols),
                                   tuple(tuple(k) for k in join)))
    return out


def check_rules(rules: list[CorrelationRule], policy_ids: set[str]) -> None:
    """Every policy named exists and belongs to one rule at most."""
    owner: dict[str, str] = {}
    for r in rules:
        for p in r.policies:
            if p not in policy_ids:
                raise ConfigError(f"correlate {r.name}: unknown policy {p!r}")
            if p in owner:
                raise ConfigError(f"correlate: policy {p!r} is in both {owner[p]} and {r.name}")
            owner[p] = r.name


class Correlator:
    """Join key → episode key, for the open episodes. The keys live in each episode
    (`Episode.corr_keys`), so the index is rebuilt from restored episodes."""

    def __init__(self, rules: list[CorrelationRule]) -> None:
        self.rules = rules
        self._by_policy = {p: r for r in rules for p in r.policies}
        self.index: dict[str, str] = {}

    def rule_for(self, policy_id: str) -> CorrelationRule | None:
        return self._by_policy.get(policy_id)

    def find(self, rule: CorrelationRule, keys: list[str]) -> str | None:
        for k in keys:
            hit = self.index.get(k)
            if hit is not None:
                return hit
        return None

    def add(self, ep_key: str, ep: Episode, keys: list[str]) -> list[str]:
        """Index the episode under the keys; returns the other open episodes that held one of them
        (findings arrived out of order — partitions are ordered per entity only — and two
        episodes of one incident opened: the caller merges them)."""
        have = ep.corr_keys
        others = []
        for k in keys:
            prev = self.index.get(k)
            if prev is not None and prev != ep_key and prev not in others:
                others.append(prev)
            if k not in have:
                have.append(k)
            self.index[k] = ep_key
        return others

    def restore(self, ep_key: str, ep: Episode) -> None:
        for k in ep.corr_keys:
            self.index[k] = ep_key

    def forget(self, ep_key: str, ep: Episode) -> None:
        for k in ep.corr_keys:
            if self.index.get(k) == ep_key:
                del self.index[k]


def merge_episode(dst: Episode, src: Episode, rule: CorrelationRule, max_ids: int) -> None:
    """Fold episode `src` into `dst` (two episodes of one incident: the earlier keeps its id)."""
    dst.count += src.count
    dst.first_seen = min(dst.first_seen, src.first_seen)
    dst.last_seen = max(dst.last_seen, src.last_seen)
    dst.severity = max_severity(dst.severity, src.severity)
    dst.finding_ids = (dst.finding_ids + src.finding_ids)[:max_ids]
    dst.event_ids = (dst.event_ids + src.event_ids)[:max_ids * 2]
    have = set(dst.seen)
    dst.seen = dst.seen + [i for i in src.seen if i not in have]
    dst.tags = dst.tags + [t for t in src.tags if t not in dst.tags]
    merge_steps(dst.steps, src.steps)
    dst.steps_omitted += src.steps_omitted
    for k in src.corr_keys:
        if k not in dst.corr_keys:
            dst.corr_keys.append(k)
    if rule.rank(src.policy) < rule.rank(dst.policy):
        dst.policy, dst.rule_title, dst.description = src.policy, src.rule_title, src.description
        dst.detector, dst.evidence, dst.labels = src.detector, src.evidence, src.labels
    dst.labels["severity"] = dst.severity
