"""Compile a pySigma rule once into a `CompiledRule`: a predicate plus routing and metadata."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sigma.rule import SigmaRule

from detectors.sigma.conditions import CompileError, Node, _or, compile_condition, compile_detection
from detectors.sigma.fields import EventView
from detectors.sigma.modifiers import UnsupportedValue

#: field-name prefixes that describe a call's result: rules using them also see failed calls
OUTCOME_FIELDS = ("errorCode", "errorMessage", "responseElements", "responseStatus", "status",
                  "protoPayload.status", "data.protoPayload.status", "event.outcome", "error.",
                  "annotations", "authorizationInfo.granted", "protoPayload.authorizationInfo.granted",
                  "data.protoPayload.authorizationInfo.granted", "http.response")
LEVELS = ("informational", "low", "medium", "high", "critical")
SEVERITY = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}

#: audit logsources an event can carry (attribute "audit.logsource")
AWS, K8S, GCP = "aws/cloudtrail", "kubernetes/audit", "gcp/gcp.audit"


def route(product: str | None, service: str | None, category: str | None = None) -> frozenset[str]:
    """Which event logsources a rule's logsource applies to (empty: none of the audit streams)."""
    p = (product or "").lower()
    s = (service or "").lower()
    if p == "aws" and s in ("", "cloudtrail"):
        return frozenset([AWS])
    if p == "gcp" and s in ("", "gcp.audit", "audit"):
        return frozenset([GCP])
    if p == "kubernetes" and s in ("", "audit"):
        return frozenset([K8S])
    if not p:
        if s == "cloudtrail":
            return frozenset([AWS])
        if s == "gcp.audit":
            return frozenset([GCP])
        if s == "audit" and category == "application":
            return frozenset([K8S])
    return frozenset()


@dataclass(eq=False)
class CompiledRule:
    id: str
    title: str
    severity: str
    tags: tuple[str, ...]
    sources: frozenset[str]
    node: Node
    path: str = ""
    name: str | None = None
    description: str = ""
    level: str = "medium"
    logsource: dict[str, Any] = field(default_factory=dict)
    #: False when the rule only feeds correlations (Sigma `generate: false`)
    generate: bool = True
    #: correlation rules that consume this rule's matches
    consumers: list = field(default_factory=list)
    #: warden extension, top-level rule key `outcome`: "any" also matches failed calls
    #: (attempts matter: credential reads, probing); default "success" unless the rule inspects results
    outcome: str = "success"
    #: position in the engine's load order (candidates are evaluated in this order)
    order: int = 0

    @cached_property
    def inspects_outcome(self) -> bool:
        """True when the rule itself looks at the call's result (error code, status, login result)."""
        return self.outcome == "any" or any(f.split("|")[0].startswith(OUTCOME_FIELDS) for f in self.node.fields)

    def match(self, view: EventView) -> bool:
        return self.node.fn(view)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.node.fields


def rule_key(rule: Any) -> str:
    return str(rule.id) if rule.id else (rule.name or rule.title)


def compile_rule(rule: SigmaRule, path: str = "") -> CompiledRule:
    """Compile one detection rule; raises CompileError with the reason."""
    if rule.errors:
        raise CompileError("; ".join(str(e) for e in rule.errors))
    det = rule.detection
    try:
        nodes = {name: compile_detection(d) for name, d in det.detections.items()}
    except (UnsupportedValue, CompileError) as e:
        raise CompileError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - pySigma may raise on odd values
        raise CompileError(f"{type(e).__name__}: {e}") from None
    conds = [compile_condition(c, nodes) for c in det.parsed_condition]
    node = conds[0] if len(conds) == 1 else _or(conds)
    ls = rule.logsource
    outcome = str((rule.custom_attributes or {}).get("outcome", "success")).lower()
    if outcome not in ("success", "any"):
        raise CompileError(f"outcome must be 'success' or 'any', got {outcome!r}")
    level = str(rule.level).lower() if rule.level else "medium"
    return CompiledRule(
        id=rule_key(rule), title=rule.title or rule_key(rule), severity=SEVERITY.get(level, "medium"),
        tags=tuple(str(t) for t in rule.tags), sources=route(ls.product, ls.service, ls.category),
        node=node, path=path, name=rule.name, description=(rule.description or "").strip(), level=level,
        logsource={k: v for k, v in (("product", ls.product), ("service", ls.service),
                                     ("category", ls.category)) if v},
        outcome=outcome)
