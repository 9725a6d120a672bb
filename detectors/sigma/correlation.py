"""Sigma correlation rules on event-time sliding windows that tolerate late events.

Supported types: event_count, value_count, temporal, temporal_ordered (conditions gt/gte fire as
soon as a window satisfies them; lt/lte/eq/neq are evaluated when a window closes). Windows are in
event time. The watermark is the largest event time seen; an event older than
`watermark - lateness` is counted as late and ignored, everything newer is inserted in time order
(CloudTrail delivers in ~5-minute batches, so lateness defaults to 15 minutes). After a
correlation fires, the events of the firing window are consumed, so the next finding needs new
events. State is plain data (snapshot/restore, no pickle).
"""
from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import (SigmaCorrelationCondition, SigmaCorrelationConditionOperator,
                                SigmaCorrelationRule, SigmaCorrelationType)

from core.event import Event
from detectors.sigma.compiler import SEVERITY, CompiledRule, rule_key
from detectors.sigma.conditions import CompileError
from detectors.sigma.fields import EventView

SUPPORTED = {SigmaCorrelationType.EVENT_COUNT: "event_count", SigmaCorrelationType.VALUE_COUNT: "value_count",
             SigmaCorrelationType.TEMPORAL: "temporal", SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered"}
_OPS = {SigmaCorrelationConditionOperator.GT: ("gt", lambda a, b: a > b),
        SigmaCorrelationConditionOperator.GTE: ("gte", lambda a, b: a >= b),
        SigmaCorrelationConditionOperator.LT: ("lt", lambda a, b: a < b),
        SigmaCorrelationConditionOperator.LTE: ("lte", lambda a, b: a <= b),
        SigmaCorrelationConditionOperator.EQ: ("eq", lambda a, b: a == b),
        SigmaCorrelationConditionOperator.NEQ: ("neq", lambda a, b: a != b)}
MAX_EVENT_IDS = 200


@dataclass(eq=False)
class CompiledCorrelation:
    id: str
    title: str
    severity: str
    tags: tuple[str, ...]
    type: str
    rules: list[str]                       # base rule keys, in order
    span: float
    group_by: list[str]
    aliases: dict[str, dict[str, str]]     # alias -> {rule key: field}
    op: str
    opfn: Any
    count: float
    value_field: str | None
    path: str = ""
    description: str = ""
    generate: bool = False
    level: str = "medium"

    def field_for(self, name: str, rule: str) -> str:
        a = self.aliases.get(name)
        return a.get(rule, name) if a else name


def compile_correlation(rule: SigmaCorrelationRule, by_ref: dict[str, CompiledRule], path: str = "") -> CompiledCorrelation:
    if rule.errors:
        raise CompileError("; ".join(str(e) for e in rule.errors))
    typ = SUPPORTED.get(rule.type)
    if typ is None:
        raise CompileError(f"correlation type {rule.type} is not supported (supported: {', '.join(SUPPORTED.values())})")
    if not rule.rules:
        raise CompileError("correlation rule lists no rules")
    keys = []
    for ref in rule.rules:
        target = by_ref.get(ref.reference)
        if target is None:
            raise CompileError(f"correlation references unknown rule {ref.reference!r} "
                               "(unknown, failed to compile, or a correlation: chaining is not supported)")
        keys.append(target.id)
    cond = rule.condition
    if isinstance(cond, SigmaCorrelationCondition):
        op, fn = _OPS[cond.op]
        count = float(cond.count)
        vf = cond.fieldref if isinstance(cond.fieldref, str) else (cond.fieldref[0] if cond.fieldref else None)
    elif cond is None and typ in ("temporal", "temporal_ordered"):
        op, fn, count, vf = "gte", _OPS[SigmaCorrelationConditionOperator.GTE][1], float(len(set(keys))), None
    else:
        raise CompileError(f"unsupported correlation condition {cond!r}")
    if typ == "value_count" and not vf:
        raise CompileError("value_count correlation without condition.field")
    aliases: dict[str, dict[str, str]] = {}
    for a in rule.aliases:
        m = {}
        for ref, fname in a.mapping.items():
            t = by_ref.get(ref.reference)
            if t is None:
                raise CompileError(f"alias {a.alias!r} references unknown rule {ref.reference!r}")
            m[t.id] = fname
        aliases[a.alias] = m
    level = str(rule.level).lower() if rule.level else "medium"
    return CompiledCorrelation(
        id=rule_key(rule), title=rule.title or rule_key(rule), severity=SEVERITY.get(level, "medium"),
        tags=tuple(str(t) for t in rule.tags), type=typ, rules=keys, span=float(rule.timespan.seconds),
        group_by=list(rule.group_by or []), aliases=aliases, op=op, opfn=fn, count=count, value_field=vf,
        path=path, description=(rule.description or "").strip(), generate=bool(rule.generate), level=level)


# hit: [time, event id, rule key, value, entity]
Hit = list


@dataclass
class Fired:
    corr: CompiledCorrelation
    hits: list[Hit]
    group: tuple[str, ...]
    measured: float


MAX_GROUPS = 100_000
MAX_HITS_PER_GROUP = 10_000


@dataclass
class CorrelationState:
    corr: CompiledCorrelation
    lateness: float
    groups: dict[tuple[str, ...], list[Hit]] = field(default_factory=dict)
    watermark: float = float("-inf")
    late: int = 0
    dropped: int = 0          # hits dropped by the memory bounds (counted, never silent)
    # entities whose groups changed since take_touched() (a group belongs to its first hit's entity),
    # so a checkpoint snapshots those and not every entity that holds state
    touched: set[str] = field(default_factory=set)
    # when each group's oldest window can close or expire (first hit + span + lateness), as a heap of
    # (due, key): close_windows() visits the groups that are due, not every group. Entries go stale
    # when a group's first hit moves later or the group goes; a stale one is re-filed or dropped
    # when it comes up
    due: list[tuple[float, tuple]] = field(default_factory=list)

    # -- input --------------------------------------------------------------------------------
    def add(self, rule: str, event: Event, view: EventView) -> list[Fired]:
        c = self.corr
        t = event.time
        if t < self.watermark - self.lateness:
            self.late += 1
            return []
        if t > self.watermark:
            self.watermark = t
        key = tuple(_value(view, c.field_for(g, rule)) for g in c.group_by)
        val = _value(view, c.field_for(c.value_field, rule)) if c.value_field else ""
        hits = self.groups.get(key)
        if hits is None:
            if len(self.groups) >= MAX_GROUPS:          # bound memory: drop the stalest group
                stale = min(self.groups, key=lambda k: self.groups[k][-1][0] if self.groups[k] else float("-inf"))
                gone = self.groups.pop(stale)
                self.dropped += len(gone)
                self._touch(gone)
            hits = self.groups[key] = []
        elif len(hits) >= MAX_HITS_PER_GROUP:
            del hits[0]
            self.dropped += 1
        self._touch(hits)
        hit = [t, event.id, rule, val, event.entity]
        if hits and hits[-1][0] <= t:
            hits.append(hit)
        else:
            bisect.insort(hits, hit, key=lambda h: h[0])
        if hits[0] is hit:              # a new group, or a late event now first: due earlier
            heapq.heappush(self.due, (t + c.span + self.lateness, key))
        self._evict(key, hits)
        fired = self._check_rising(key, hits, t) if c.op in ("gt", "gte") else None
        self._touch(hits)
        return [fired] if fired else []

    def _touch(self, hits: list[Hit]) -> None:
        if hits:
            self.touched.add(hits[0][4])

    def take_touched(self) -> set[str]:
        out, self.touched = self.touched, set()
        return out

    def _evict(self, key: tuple, hits: list[Hit]) -> None:
        cutoff = self.watermark - self.corr.span - self.lateness
        if hits and hits[0][0] < cutoff and self.corr.op in ("gt", "gte"):
            i = bisect.bisect_left(hits, cutoff, key=lambda h: h[0])
            del hits[:i]
        if not hits:
            self.groups.pop(key, None)

    def _measure(self, window: list[Hit]) -> float:
        c = self.corr
        if c.type == "event_count":
            return float(len(window))
        if c.type == "value_count":
            return float(len({h[3] for h in window if h[3] != ""}))
        if c.type == "temporal":
            return float(len({h[2] for h in window}))
        # temporal_ordered: how many of the rules appear in order (greedy subsequence)
        i = 0
        for h in window:
            if i < len(c.rules) and h[2] == c.rules[i]:
                i += 1
        return float(i)

    def _check_rising(self, key: tuple, hits: list[Hit], t: float) -> Fired | None:
        c = self.corr
        times = [h[0] for h in hits]
        lo = bisect.bisect_left(times, t - c.span)
        hi_t = bisect.bisect_right(times, t)
        for i in range(lo, hi_t):
            j = bisect.bisect_right(times, times[i] + c.span)
            if j <= i:
                continue
            window = hits[i:j]
            m = self._measure(window)
            if c.opfn(m, c.count):
                del hits[i:j]        # consume the window
                if not hits:
                    self.groups.pop(key, None)
                return Fired(c, window, key, m)
        return None

    def close_windows(self) -> list[Fired]:
        """Evaluate windows that can no longer change (lt/lte/eq/neq) and expire old state."""
        c = self.corr
        out: list[Fired] = []
        horizon = self.watermark - self.lateness
        refile: list[tuple[float, tuple]] = []          # filed again after the loop: each group once per call
        while self.due and self.due[0][0] <= self.watermark:
            _, key = heapq.heappop(self.due)
            hits = self.groups.get(key)
            if not hits:
                continue                                 # the group is gone
            if hits[0][0] + c.span + self.lateness > self.watermark:
                refile.append((hits[0][0] + c.span + self.lateness, key))   # its first hit moved later
                continue
            self._touch(hits)
            if c.op in ("gt", "gte"):
                self._evict(key, hits)
            else:
                while hits and hits[0][0] + c.span <= horizon:
                    t0 = hits[0][0]
                    j = bisect.bisect_right(hits, t0 + c.span, key=lambda h: h[0])
                    window = hits[:j]
                    m = self._measure(window)
                    if c.opfn(m, c.count):
                        out.append(Fired(c, window, key, m))
                    del hits[:j]
                if not hits:
                    self.groups.pop(key, None)
            if hits:
                self._touch(hits)
                refile.append((hits[0][0] + c.span + self.lateness, key))
        for entry in refile:
            heapq.heappush(self.due, entry)
        return out

    # -- state --------------------------------------------------------------------------------
    def to_state(self, entity: str | None = None) -> dict:
        groups = [[list(k), v] for k, v in self.groups.items()
                  if entity is None or (v and v[0][4] == entity)]
        return {"wm": self.watermark if self.watermark != float("-inf") else None,
                "late": self.late, "groups": groups}

    def load_state(self, st: dict, merge: bool = False) -> None:
        if not merge:
            self.groups = {}
        wm = st.get("wm")
        if wm is not None:
            self.watermark = max(self.watermark, float(wm)) if merge else float(wm)
        self.late = int(st.get("late", 0)) if not merge else self.late
        for k, hits in st.get("groups", []):
            self.groups[tuple(k)] = [list(h) for h in hits]
        span = self.corr.span + self.lateness
        self.due = [(h[0][0] + span, k) for k, h in self.groups.items() if h]
        heapq.heapify(self.due)


def _value(view: EventView, name: str | None) -> str:
    if not name:
        return ""
    e = view.get(name)
    if e is None or not e.strs:
        return ""
    return e.strs[0] if len(e.strs) == 1 else ",".join(sorted(e.strs))
