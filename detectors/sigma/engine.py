"""The streaming Sigma engine: compiled rules, a routing index, correlations, exclusions.

Rules are compiled once. An event is routed by its logsource (attribute "audit.logsource"; GKE
entries with a Kubernetes view also reach Kubernetes rules), then by an index on the field each
rule requires (eventName, verb, methodName...): only rules that can match are evaluated.
Everything that cannot be loaded is in `errors` [(path, reason)] and counted.
"""
from __future__ import annotations

from collections import defaultdict
from operator import attrgetter
from typing import Any, Iterable, Sequence

from core.event import Event, Finding
from core.names import AUDIT_K8S_VIEW, AUDIT_LOGSOURCE
from detectors.sigma.compiler import GCP, K8S, LEVELS, CompiledRule, compile_rule
from detectors.sigma.conditions import CompileError, pattern_pred
from detectors.sigma.correlation import (MAX_EVENT_IDS, CompiledCorrelation, CorrelationState,
                                         compile_correlation)
from detectors.sigma.fields import EventView, to_str
from detectors.sigma.filters import ExclusionSet
from detectors.sigma.loader import Parsed, parse_paths, parse_text

from detectors.sigma.conditions import INDEX_FIELDS  # noqa: E402,F401  (re-exported)
MAX_EVIDENCE_CHARS = 512


def event_sources(event: Event) -> tuple[str, ...]:
    a = event.attributes
    src = a.get(AUDIT_LOGSOURCE)
    if src == GCP and a.get(AUDIT_K8S_VIEW) is not None:
        return (GCP, K8S)
    if src:
        return (src,)
    return ()


def _short(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        s = to_str(v)
        return v if len(s) <= MAX_EVIDENCE_CHARS else s[:MAX_EVIDENCE_CHARS] + "..."
    if isinstance(v, str) and len(v) > MAX_EVIDENCE_CHARS:
        return v[:MAX_EVIDENCE_CHARS] + "..."
    return v


# what a responder needs from the event to act on a finding: who (and with which key), from where, on
# what (pod / object name, namespace, target account, resource) and how it ended
class Route:
    """One indexed field of one logsource: its exact lower-case values and patterns -> the rules that
    need them, memoised per field value (values repeat: eventName, verb, methodName, user agents)."""
    __slots__ = ("field", "exact", "pats", "memo")
    MEMO_MAX = 4096          # distinct values remembered per field
    MEMO_MAX_CHARS = 256     # longer values are looked up each time

    def __init__(self, field: str) -> None:
        self.field = field
        self.exact: dict[str, list[CompiledRule]] = {}
        self.pats: list[tuple[Any, CompiledRule]] = []
        self.memo: dict[str, tuple[CompiledRule, ...]] = {}

    def add(self, rule: CompiledRule, values: Iterable[str], pats: Iterable[tuple]) -> None:
        for v in values:
            lst = self.exact.setdefault(v, [])
            if rule not in lst:
                lst.append(rule)
        for p in pats:
            self.pats.append((pattern_pred(p), rule))
        self.memo.clear()

    def rules_for(self, s: str, low: str) -> tuple[CompiledRule, ...]:
        """Rules one value of the field (as a string and lower-cased) can satisfy."""
        rs = list(self.exact.get(low, ()))
        for pred, r in self.pats:
            if pred(s, low):
                rs.append(r)
        out = tuple(dict.fromkeys(rs))
        if len(self.memo) < self.MEMO_MAX and len(s) <= self.MEMO_MAX_CHARS:
            self.memo[s] = out
        return out


_ORDER = attrgetter("order")


EVIDENCE_FIELDS = ("source.ip", "user_agent.original", "cloud.account.id", "cloud.region", "cloud.target.account.id",
                   "aws.cloudtrail.user_identity.access_key_id", "orchestrator.namespace",
                   "orchestrator.resource.type", "orchestrator.resource.name", "orchestrator.resource.subresource",
                   "gcp.audit.resource_name", "event.outcome", "error.code", "user.target.name")

class SigmaEngine:
    def __init__(self, *, lateness: float = 900.0, detector_name: str = "sigma/default",
                 exclusions: ExclusionSet | None = None, min_level: str = "informational",
                 outcome_aware: bool = True) -> None:
        self.lateness = float(lateness)
        self.min_level = min_level
        self.outcome_aware = outcome_aware
        self.detector_name = detector_name
        self.rules: list[CompiledRule] = []
        self.correlations: list[CompiledCorrelation] = []
        self.errors: list[tuple[str, str]] = []
        self.exclusions = exclusions or ExclusionSet()
        self.states: dict[str, CorrelationState] = {}
        self.counters: dict[str, int] = defaultdict(int)
        self._index: dict[str, dict[str, Route]] = {}
        self._unindexed: dict[str, list[CompiledRule]] = {}
        self._routes: dict[str, tuple[Route, ...]] = {}
        self._by_id: dict[str, CompiledRule] = {}
        self._quiet: frozenset[str] = frozenset()     # correlation inputs below min_level: feed, never report

    # -- loading ------------------------------------------------------------------------------
    def load_paths(self, paths: Iterable) -> "SigmaEngine":
        self._add_parsed(parse_paths(list(paths)))
        return self

    def load_text(self, text: str, path: str = "<text>") -> "SigmaEngine":
        p = Parsed()
        parse_text(text, path, p)
        self._add_parsed(p)
        return self

    def _error(self, path: str, reason: str) -> None:
        self.errors.append((path, reason))
        self.counters["rule_errors"] += 1

    def _add_parsed(self, parsed: Parsed) -> None:
        for path, reason in parsed.errors:
            self._error(path, reason)
        refs: dict[str, CompiledRule] = {}
        for r in self.rules:
            refs[r.id] = r
            if r.name:
                refs[r.name] = r
        for rule, path in parsed.rules:
            try:
                c = compile_rule(rule, path)
            except CompileError as e:
                self._error(path, f"rule {rule.title!r}: {e}")
                continue
            if c.id in self._by_id:
                self._error(path, f"rule {rule.title!r}: duplicate rule id {c.id} (first in {self._by_id[c.id].path})")
                continue
            self._by_id[c.id] = c
            c.order = len(self.rules)
            self.rules.append(c)
            refs[c.id] = c
            if c.name:
                refs[c.name] = c
        for corr, path in parsed.correlations:
            try:
                cc = compile_correlation(corr, refs, path)
            except CompileError as e:
                self._error(path, f"correlation {corr.title!r}: {e}")
                continue
            self.correlations.append(cc)
            self.states[cc.id] = CorrelationState(cc, self.lateness)
            for rk in dict.fromkeys(cc.rules):
                base = self._by_id[rk]
                base.consumers.append(cc)
                if not cc.generate:
                    base.generate = False
        self._build_index()

    def _build_index(self) -> None:
        index: dict[str, dict[str, Route]] = {}
        unindexed: dict[str, list[CompiledRule]] = {}
        floor = LEVELS.index(self.min_level) if self.min_level in LEVELS else 0
        self._quiet = frozenset(r.id for r in self.rules
                                if LEVELS.index(r.level if r.level in LEVELS else "medium") < floor)
        for r in self.rules:
            if not r.generate and not r.consumers:
                continue
            if not r.consumers and LEVELS.index(r.level if r.level in LEVELS else "medium") < floor:
                continue   # below min_level: loaded and linted, not evaluated
            alts = r.node.alts
            for src in r.sources:
                if not alts:
                    unindexed.setdefault(src, []).append(r)
                    continue
                for fld, values, pats in alts:
                    routes = index.setdefault(src, {})
                    rt = routes.get(fld)
                    if rt is None:
                        rt = routes[fld] = Route(fld)
                    rt.add(r, values, pats)
        self._index, self._unindexed = index, unindexed
        self._routes = {src: tuple(routes.values()) for src, routes in index.items()}

    # -- introspection ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        routed = sum(1 for r in self.rules if r.sources)
        return {"rules_loaded": len(self.rules), "rules_routed": routed,
                "rules_not_audit": len(self.rules) - routed,
                "correlations_loaded": len(self.correlations), "rule_errors": len(self.errors),
                "late_events": sum(s.late for s in self.states.values()),
                "correlation_hits_dropped": sum(s.dropped for s in self.states.values()),
                "suppressed": self.exclusions.suppressed, **dict(self.counters)}

    # -- matching -----------------------------------------------------------------------------
    def candidates(self, view: EventView, sources: Sequence[str]) -> list[CompiledRule]:
        """The rules an event can match (in load order): the index's, plus the source's unindexed ones."""
        out: list[CompiledRule] = []
        get = view.get
        for src in sources:
            for rt in self._routes.get(src, ()):
                e = get(rt.field)
                if e is None:
                    continue
                strs = e.strs
                if len(strs) == 1:
                    s = strs[0]
                    rs = rt.memo.get(s)
                    if rs is None:
                        rs = rt.rules_for(s, e.lows[0])
                    if rs:
                        out.extend(rs)
                    continue
                memo = rt.memo
                for s, low in zip(strs, e.lows):
                    rs = memo.get(s)
                    if rs is None:
                        rs = rt.rules_for(s, low)
                    if rs:
                        out.extend(rs)
            un = self._unindexed.get(src)
            if un:
                out.extend(un)
        if len(out) > 1:
            out = sorted(dict.fromkeys(out), key=_ORDER)
        return out

    def match(self, event: Event) -> list[tuple[CompiledRule, EventView]]:
        """Base rules matching one event (exclusions applied), without findings or correlation."""
        sources = event_sources(event)
        if not sources:
            return []
        view = EventView(event)
        out = []
        failed = self.outcome_aware and event.attributes.get("event.outcome") == "failure"
        for r in self.candidates(view, sources):
            if failed and not r.inspects_outcome:
                continue
            try:
                ok = r.node.fn(view)
            except Exception:  # noqa: BLE001 - a rule must never stop the engine
                self.counters["rule_runtime_errors"] += 1
                continue
            if ok:
                if self.exclusions and self.exclusions.excluded(r.id, r.title, view):
                    continue
                out.append((r, view))
        return out

    def process(self, events: Sequence[Event]) -> list[Finding]:
        findings: list[Finding] = []
        for ev in events:
            self.counters["events"] += 1
            for rule, view in self.match(ev):
                self.counters["matches"] += 1
                if rule.generate and rule.id not in self._quiet:
                    findings.append(self.rule_finding(rule, ev, view))
                for corr in rule.consumers:
                    for fired in self.states[corr.id].add(rule.id, ev, view):
                        f = self.correlation_finding(fired, view)
                        if f is not None:
                            findings.append(f)
        for st in self.states.values():
            for fired in st.close_windows():
                f = self.correlation_finding(fired, None)
                if f is not None:
                    findings.append(f)
        self.counters["findings"] += len(findings)
        return findings

    # -- findings -----------------------------------------------------------------------------
    def rule_finding(self, rule: CompiledRule, ev: Event, view: EventView) -> Finding:
        matched = {}
        for f in rule.fields:
            e = view.get(f)
            if e is not None:
                matched[f] = _short(e.first())
        evidence = {"rule": {"id": rule.id, "title": rule.title, "level": rule.level, "path": rule.path,
                             "logsource": rule.logsource},
                    "matched": matched, "event": {"action": ev.name, "principal": ev.entity}}
        attrs = ev.attributes
        for k in EVIDENCE_FIELDS:
            if k in attrs:
                evidence["event"][k] = attrs[k]
        return Finding.create(detector=self.detector_name, entity=ev.entity, time=ev.time, score=1.0,
                              threshold=1.0, severity=rule.severity, title=rule.title, evidence=evidence,
                              event_ids=(ev.id,), tags=rule.tags, rule=rule.id)

    def correlation_finding(self, fired, view: EventView | None) -> Finding | None:
        c = fired.corr
        if view is not None and self.exclusions and self.exclusions.excluded(c.id, c.title, view):
            return None
        hits = fired.hits
        last = hits[-1]
        entities = list(dict.fromkeys(h[4] for h in hits))
        evidence: dict[str, Any] = {
            "correlation": {"id": c.id, "title": c.title, "type": c.type, "path": c.path,
                            "condition": f"{c.op} {c.count:g}", "timespan_seconds": c.span,
                            "rules": list(dict.fromkeys(c.rules))},
            "group_by": dict(zip(c.group_by, fired.group)),
            "measured": fired.measured, "events": len(hits),
            "first_time": hits[0][0], "last_time": last[0], "principals": entities[:20]}
        if c.value_field:
            evidence["field"] = c.value_field
            evidence["values"] = sorted({h[3] for h in hits if h[3]})[:50]
        ids = tuple(dict.fromkeys(h[1] for h in hits))[:MAX_EVENT_IDS]
        return Finding.create(detector=self.detector_name, entity=last[4], time=last[0],
                              score=fired.measured, threshold=c.count, severity=c.severity,
                              title=c.title, evidence=evidence, event_ids=ids, tags=c.tags, rule=c.id)

    # -- state --------------------------------------------------------------------------------
    def state(self, entity: str | None = None) -> dict:
        return {cid: st.to_state(entity) for cid, st in self.states.items()}

    def load_state(self, state: dict, merge: bool = False) -> None:
        for cid, st in state.items():
            if cid in self.states:
                self.states[cid].load_state(st, merge=merge)

    def entities(self) -> set[str]:
        return {hits[0][4] for st in self.states.values() for hits in st.groups.values() if hits}

    def take_touched(self) -> set[str]:
        """Entities whose correlation state changed since the last call (including ones left with none)."""
        out: set[str] = set()
        for st in self.states.values():
            out |= st.take_touched()
        return out
