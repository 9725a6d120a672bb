"""Response policies: which findings become which alerts, grouped how, routed to which responders.

```yaml
policies:
  - id: gpu-memory-leak
    match:                      # all given conditions must hold
      detector: ["gpu_memory_leak/*"]   # component names, glob
      rule: ["gpu.memory.*"]            # finding.rule, glob
      severity: medium                  # at least
      tags: ["attack.t1078"]            # any of
      entity: ["gpu-node-*"]
      fields: {evidence.metric: gpu.memory.used}   # dotted path into the finding → glob
    alert:
      severity: high            # default: the finding's
      title: "GPU memory leak on {entity}"   # {entity} {rule} {detector} {title} {severity} {score}
      description: "{title}"
      group_by: [entity, rule]  # finding fields; the grouping key
      resolve_after: 30m        # no finding for this long (event time) → resolved
    routes:
      - {responder: webhook/oncall, dry_run: true, params: {}}
      labels: {node: "{evidence.node}"}      # extra alert labels (templated); standard labels:
                                             # alertname (policy id), severity, entity, rule, detector,
                                             # detector_type, tags
    notify: {group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}
    routes:
      - responder: aws_iam/default
        dry_run: true           # default true: record what would be done, touch nothing
        approval: false         # true: real action waits for `warden actions approve <id>`
        auto_revert: 1h         # undo a real action after this long
        params: {operation: deactivate_access_key}
    continue: false             # stop at the first matching policy (default)

# file-level sections (merged over all policy files)
defaults: {notify: {group_wait: 30s}}
inhibit_rules:                  # policy/inhibit.py
  - {source: {alertname: node-down}, target: {alertname: "=~gpu-.*"}, equal: [node]}
safety: {...}                   # policy/safety.py: protected resources, blast radius
risk: {alert_min_level: medium, window: 24h, distinct: 2}   # policy/risk.py: low findings add risk
```
Loaded with yaml.safe_load and validated; errors name the file and the policy. No templating
engine: `{name}` placeholders are replaced from a fixed set of fields (no code execution).
"""
from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import rules
from core.durations import parse_duration  # noqa: F401 - the one grammar; re-exported for old imports
from core.errors import ConfigError
from core.event import SEVERITIES, SEVERITY_RANK, Finding
from core.lookup import lookup
from core.units import metric_value
from policy.sections import known_mapping

BUILTIN_DIR = Path(rules.__file__).parent / "policies"   # the built-in policies: data in rules/
_PLACEHOLDER = re.compile(r"\{([a-z_.]+)\}")
GROUP_FIELDS = ("entity", "rule", "detector", "severity")


def _as_list(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise ConfigError(f"{where}: expected a string or a list of strings")


def _globs(patterns: list[str]):
    """One compiled matcher for shell-style patterns (fnmatch.fnmatchcase semantics, any of
    them): its `match` method, or None when there are no patterns (anything matches)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


#: Finding attributes a group_by key can name directly (no dotted lookup)
_FINDING_TOP = frozenset(("entity", "rule", "detector", "severity", "title"))


def render(template: str, f: Finding, for_people: bool = False) -> str:
    """`template` with `{entity}`, `{score}`, `{evidence.x.y}` ... filled from the finding. For
    people (an alert's title and description) a float is written in its metric's unit
    (`{evidence.value}` of gpu.memory.used: `66.7 GiB`, not `71600000000.0`); labels keep values
    as they are (silences and inhibition match them)."""
    values = {"entity": f.entity, "rule": f.rule, "detector": f.detector, "title": f.title,
              "severity": f.severity, "score": f"{f.score:.3g}"}
    metric = str(f.evidence.get("metric") or "") if isinstance(f.evidence, dict) else ""
    def one(m: re.Match) -> str:
        name = m.group(1)
        if name in values:
            return str(values[name])
        v = lookup(f, name)
        if v is None or v == "":
            return m.group(0)
        return metric_value(v, metric) if for_people and isinstance(v, float) else str(v)
    return _PLACEHOLDER.sub(one, template)


def _group_part(f: Finding, k: str) -> str:
    """One group_by field as `name=value`; `a|b|c` takes the first of the alternatives that is
    present (e.g. the end user, else the session, else the client) and names that one."""
    if k in _FINDING_TOP:
        return f"{k}={getattr(f, k)}"
    if "|" not in k:
        return f"{k}={lookup(f, k)}"
    for alt in k.split("|"):
        v = getattr(f, alt) if alt in _FINDING_TOP else lookup(f, alt)
        if v is not None and v != "":
            return f"{alt}={v}"
    return f"{k}=None"


@dataclass
class Policy:
    id: str
    detector: list[str] = field(default_factory=list)
    rule: list[str] = field(default_factory=list)
    entity: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    min_severity: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    title: str = "{title}"
    description: str = "{title}"
    group_by: list[str] = field(default_factory=lambda: ["entity", "rule"])
    resolve_after: float = 1800.0
    routes: list[dict[str, Any]] = field(default_factory=list)
    cont: bool = False
    source: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    notify: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def _globs(self) -> tuple:
        """The match patterns compiled once: (detector, rule, entity, fields) matchers."""
        return (_globs(self.detector), _globs(self.rule), _globs(self.entity),
                tuple((path, _globs([pat])) for path, pat in self.fields.items()))

    def matches(self, f: Finding) -> bool:
        detector, rule, entity, fields = self._globs
        if detector is not None and detector(f.detector) is None:
            return False
        if rule is not None and rule(f.rule) is None:
            return False
        if entity is not None and entity(f.entity) is None:
            return False
        if self.tags and not set(self.tags) & set(f.tags):
            return False
        if self.min_severity and SEVERITY_RANK.get(f.severity, 0) < SEVERITY_RANK[self.min_severity]:
            return False
        for path, glob in fields:
            v = lookup(f, path)
            if v is None or glob(str(v)) is None:
                return False
        return True

    def group_key(self, f: Finding) -> str:
        return "|".join(_group_part(f, k) for k in self.group_by)

    def alert_labels(self, f: Finding, severity: str) -> dict[str, str]:
        """Standard labels plus the policy's templated ones (a template that finds nothing is left out)."""
        labels = {"alertname": self.id, "severity": severity, "entity": f.entity, "rule": f.rule,
                  "detector": f.detector, "detector_type": f.detector.split("/", 1)[0]}
        if f.tags:
            labels["tags"] = ",".join(f.tags)
        for k, tmpl in self.labels.items():
            v = render(tmpl, f)
            if v and not _PLACEHOLDER.search(v):
                labels[k] = v
        return labels


#: the notification timing of a route that sets none (Alertmanager's defaults)
DEFAULT_NOTIFY = {"group_by": ["alertname"], "group_wait": 30.0, "group_interval": 300.0, "repeat_interval": 14400.0}
NOTIFY_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval")


def parse_notify(raw: Any, where: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    out = dict(base or {})
    if raw is None:
        return out
    known_mapping(raw, NOTIFY_KEYS, where, "notify", kind="notify")
    if "group_by" in raw:
        out["group_by"] = _as_list(raw["group_by"], f"{where}.group_by")
    for k in NOTIFY_KEYS[1:]:
        if k in raw:
            out[k] = parse_duration(raw[k], f"{where}.{k}")
            if out[k] < 0:
                raise ConfigError(f"{where}.{k} must not be negative")
    return out


def _policy(raw: Any, where: str, defaults: dict[str, Any] | None = None) -> Policy:
    known_mapping(raw, ("id", "match", "alert", "routes", "continue", "description", "notify"), where, "a policy")
    pid = raw.get("id")
    if not isinstance(pid, str) or not pid:
        raise ConfigError(f"{where}: every policy needs an id")
    where = f"{where} ({pid})"
    m = raw.get("match") or {}
    a = raw.get("alert") or {}
    if not isinstance(m, dict) or not isinstance(a, dict):
        raise ConfigError(f"{where}: match and alert must be mappings")
    bad = set(m) - {"detector", "rule", "entity", "tags", "severity", "fields"}
    if bad:
        raise ConfigError(f"{where}: unknown match key(s) {', '.join(sorted(bad))}")
    bad = set(a) - {"severity", "title", "description", "group_by", "resolve_after", "labels"}
    if bad:
        raise ConfigError(f"{where}: unknown alert key(s) {', '.join(sorted(bad))}")
    for key in ("severity",):
        for sec in (m, a):
            if key in sec and sec[key] not in SEVERITIES:
                raise ConfigError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    group_by = _as_list(a.get("group_by", ["entity", "rule"]), f"{where}.alert.group_by")
    for g in group_by:
        for alt in g.split("|"):
            if alt not in GROUP_FIELDS and not alt.startswith("evidence."):
                raise ConfigError(f"{where}: group_by {g!r} must be one of {', '.join(GROUP_FIELDS)} or "
                                  "evidence.<field> (alternatives joined by '|': the first present wins)")
    notify = parse_notify(raw.get("notify"), f"{where}.notify", (defaults or {}).get("notify"))
    labels = a.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
        raise ConfigError(f"{where}: alert.labels must be a mapping of label name to template")
    routes = raw.get("routes") or []
    if not isinstance(routes, list):
        raise ConfigError(f"{where}: routes must be a list")
    norm_routes = []
    for i, r in enumerate(routes):
        if not isinstance(r, dict) or not isinstance(r.get("responder"), str) or "/" not in r["responder"]:
            raise ConfigError(f"{where}.routes[{i}]: needs responder: 'type/name'")
        known_mapping(r, ("responder", "dry_run", "params", "approval", "approval_expires", "auto_revert", "notify"),
                      f"{where}.routes[{i}]")
        dry = r.get("dry_run", True)
        if not isinstance(dry, bool):
            raise ConfigError(f"{where}.routes[{i}].dry_run must be true/false")
        params = r.get("params") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{where}.routes[{i}].params must be a mapping")
        approval = r.get("approval", False)
        if not isinstance(approval, bool):
            raise ConfigError(f"{where}.routes[{i}].approval must be true/false")
        route = {"responder": r["responder"], "dry_run": dry, "params": params, "approval": approval,
                 "policy": pid, "notify": parse_notify(r.get("notify"), f"{where}.routes[{i}].notify", notify)}
        if r.get("approval_expires") is not None:
            route["approval_expires"] = parse_duration(r["approval_expires"], f"{where}.routes[{i}].approval_expires")
            if route["approval_expires"] <= 0:
                raise ConfigError(f"{where}.routes[{i}].approval_expires must be a positive duration")
        if r.get("auto_revert") is not None:
            route["auto_revert"] = parse_duration(r["auto_revert"], f"{where}.routes[{i}].auto_revert")
            if route["auto_revert"] <= 0:
                raise ConfigError(f"{where}.routes[{i}].auto_revert must be a positive duration")
        norm_routes.append(route)
    fields = m.get("fields") or {}
    if not isinstance(fields, dict):
        raise ConfigError(f"{where}: match.fields must be a mapping")
    return Policy(
        id=pid, detector=_as_list(m.get("detector"), f"{where}.match.detector"),
        rule=_as_list(m.get("rule"), f"{where}.match.rule"), entity=_as_list(m.get("entity"), f"{where}.match.entity"),
        tags=_as_list(m.get("tags"), f"{where}.match.tags"), min_severity=m.get("severity"),
        fields={str(k): str(v) for k, v in fields.items()}, severity=a.get("severity"),
        title=str(a.get("title", "{title}")), description=str(a.get("description", "{title}")),
        group_by=group_by, resolve_after=parse_duration(a.get("resolve_after", "30m"), f"{where}.alert.resolve_after"),
        routes=norm_routes, cont=bool(raw.get("continue", False)), source=where,
        labels={k: str(v) for k, v in labels.items()}, notify=notify)


def policy_files(paths: list[str] | None) -> list[Path]:
    """The policy files `paths` name (a folder: its *.yaml / *.yml; None: the built-in folder). A
    folder without one is a ConfigError: no policy means no alert, which must not pass unnoticed."""
    files: list[Path] = []
    for p in (paths or [str(BUILTIN_DIR)]):
        path = Path(p)
        if path.is_dir():
            found = sorted(path.glob("*.y*ml"))
            if not found:
                raise ConfigError(f"policies: no policy files (*.yaml, *.yml) in the folder {path}")
            files.extend(found)
        else:
            files.append(path)
    return files


def read_policy_file(f: Path) -> Any:
    """The YAML document of one policy file; ConfigError saying why it cannot be read."""
    try:
        return yaml.safe_load(f.read_text(encoding="utf-8"))
    except OSError as e:
        where = "" if f.is_absolute() else f" (a relative path is read from the working directory {Path.cwd()})"
        raise ConfigError(f"cannot read policy file {f}: {e.strerror}{where}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{f}: not a YAML text file (not UTF-8 at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{f}: invalid YAML: {e}") from None


class PolicySet:
    def __init__(self, policies: list[Policy], *, inhibit_rules: list | None = None, safety=None,
                 correlate: list | None = None, risk=None) -> None:
        from policy.safety import Safety
        from policy.correlate import check_rules
        ids = [p.id for p in policies]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ConfigError(f"duplicate policy id(s): {', '.join(sorted(dup))}")
        self.policies = policies
        self.inhibit_rules = list(inhibit_rules or [])
        self.correlate = list(correlate or [])
        check_rules(self.correlate, set(ids))
        self.safety = safety if safety is not None else Safety()
        self.risk = risk            # policy.risk.RiskRule, or None: every finding may alert on its own

    @classmethod
    def load(cls, paths: list[str] | None = None) -> "PolicySet":
        files = policy_files(paths)
        from policy.safety import Safety
        from policy.correlate import parse_correlate
        from policy.inhibit import parse_inhibit_rules
        from policy.risk import parse_risk
        policies: list[Policy] = []
        inhibit: list = []
        correlate: list = []
        safety = Safety()
        risk = None
        for f in files:
            doc = read_policy_file(f)
            items = (doc or {}).get("policies") if isinstance(doc, dict) else None
            if not isinstance(items, list):
                raise ConfigError(f"{f}: expected a top-level 'policies:' list")
            bad = set(doc) - {"policies", "defaults", "inhibit_rules", "safety", "correlate", "risk"}
            if bad:
                raise ConfigError(f"{f}: unknown top-level key(s) {', '.join(sorted(bad))} "
                                  "(known: policies, defaults, inhibit_rules, correlate, risk, safety)")
            defaults = doc.get("defaults") or {}
            if not isinstance(defaults, dict) or set(defaults) - {"notify"}:
                raise ConfigError(f"{f}: defaults may only hold notify")
            dn = {"notify": parse_notify(defaults.get("notify"), f"{f}: defaults.notify", DEFAULT_NOTIFY)}
            policies.extend(_policy(p, f"{f}: policies[{i}]", dn) for i, p in enumerate(items))
            inhibit.extend(parse_inhibit_rules(doc.get("inhibit_rules"), f"{f}: inhibit_rules"))
            correlate.extend(parse_correlate(doc.get("correlate"), f"{f}: correlate"))
            safety.merge(doc.get("safety"), f"{f}: safety")
            here = parse_risk(doc.get("risk"), f"{f}: risk")
            if here is not None and risk is not None:
                raise ConfigError(f"{f}: risk: a second risk section (one over all policy files)")
            risk = here or risk
        return cls(policies, inhibit_rules=inhibit, safety=safety, correlate=correlate, risk=risk)

    def match(self, f: Finding) -> list[Policy]:
        out = []
        for p in self.policies:
            if p.matches(f):
                out.append(p)
                if not p.cont:
                    break
        return out

    def responders(self) -> set[str]:
        return {r["responder"] for p in self.policies for r in p.routes}
