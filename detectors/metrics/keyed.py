"""Base of the AI-platform detectors: per-key Python state, one event at a time.

These detectors watch a few named metrics at low rates (one sample a minute per GPU or endpoint),
so clarity beats vectorisation: a subclass keeps a small JSON-able dict per key and implements

- ``key_for(event) -> (entity, subkey)``: the state key (entity is what snapshots/forget use);
- ``new_state(event) -> dict``;
- ``evaluate(state, event, value, time) -> (score, evidence)``: pure, the score of this event
  given the state before it (``evidence`` is what a finding reports);
- ``update(state, event, value, time, flagged)``: learn from an in-order, finite point.
  ``flagged`` is True when the point was flagged: each subclass documents what it keeps from
  flagged points (never a learned baseline: only measurement windows such as the last samples).

Shared behaviour: NaN / missing values score 0 and are counted; out-of-order points (earlier than
the key's last point) are scored but never learned (counted as ``late``); a key scores 0 until
``warm(state)``.
"""
from __future__ import annotations

import bisect
import math
from typing import Any, Sequence

import numpy as np

from core.event import Event, Finding
from detectors.metrics.common import MetricDetector, RunResult, unscored


class KeyedStateDetector(MetricDetector):
    state_version = 1

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.states: dict[str, dict[str, dict]] = {}
        self._evidence: dict[int, dict] = {}

    # subclass hooks ----------------------------------------------------------------------------
    def key_for(self, ev: Event) -> tuple[str, str]:
        return ev.entity, ev.name

    def new_state(self, ev: Event) -> dict:
        return {}

    def evaluate(self, st: dict, ev: Event, v: float, t: float) -> tuple[float, dict]:
        raise NotImplementedError

    def update(self, st: dict, ev: Event, v: float, t: float, flagged: bool) -> None:
        raise NotImplementedError

    def warm(self, st: dict) -> bool:
        return True

    def title(self, ev: Event, evidence: dict) -> str:
        return f"{ev.name} anomalous on {ev.entity}"

    # machinery ---------------------------------------------------------------------------------
    def _state(self, ev: Event, create: bool) -> dict | None:
        ent, sub = self.key_for(ev)
        per = self.states.get(ent)
        if per is None:
            if not create:
                return None
            per = self.states[ent] = {}
        st = per.get(sub)
        if st is None and create:
            st = per[sub] = {"_last": -math.inf, "_nan": 0, "_late": 0, "_n": 0}
            st.update(self.new_state(ev))
        return st

    def _run(self, events: Sequence[Event], mode: int) -> RunResult:
        n = len(events)
        scores, flags, center, scale = unscored(n)
        thr = float(self.config.threshold)
        self._evidence = {}
        for i, ev in enumerate(events):
            if not self.accepts(ev):
                continue
            st = self._state(ev, create=(mode != 2))
            if st is None:
                continue
            v = ev.value
            try:
                v = float(v) if v is not None else math.nan
            except (TypeError, ValueError):
                v = math.nan
            if not math.isfinite(v):
                if mode != 2:
                    st["_nan"] += 1
                continue
            t = float(ev.time)
            late = t < st["_last"]
            if self.warm(st):
                score, evd = self.evaluate(st, ev, v, t)
                score = float(score) if math.isfinite(score) else 0.0
                scores[i] = score
                b = evd.get("baseline")
                center[i] = float(b) if isinstance(b, (int, float)) else np.nan
                scale[i] = float(evd["scale"]) if isinstance(evd.get("scale"), (int, float)) else np.nan
                if mode == 0 and score >= thr:
                    flags[i] = True
                    self._evidence[i] = evd
            if mode == 2:
                continue
            if late:
                st["_late"] += 1
                continue
            self.update(st, ev, v, t, bool(flags[i]))
            st["_last"] = t
            st["_n"] += 1
        return RunResult(scores, flags, center, scale)

    def run(self, events: Sequence[Event]) -> RunResult:
        res = self._run(events, 0)
        for ev in events:
            if self.accepts(ev):
                self._dirty.add(self.key_for(ev)[0])
        return res

    def learn_many(self, events: Sequence[Event]) -> None:
        self._run(events, 1)
        for ev in events:
            if self.accepts(ev):
                self._dirty.add(self.key_for(ev)[0])

    def process(self, events: Sequence[Event]) -> list[Finding]:
        if not len(events):
            return []
        res = self.run(events)
        self._remember(events, res)
        thr = float(self.config.threshold)
        out = []
        for i in np.flatnonzero(res.flags):
            ev, score = events[i], float(res.scores[i])
            evd = dict(self._evidence.get(int(i), {}))
            evd.setdefault("metric", ev.name)
            evd.setdefault("value", ev.value)
            out.append(self._with_chart(ev, Finding.create(
                detector=self.name, entity=self.finding_entity(ev), time=ev.time, score=score,
                threshold=thr, severity=evd.pop("_severity", None) or self.severity_for(score, thr),
                title=self.title(ev, evd), evidence=evd, event_ids=(ev.id,),
                rule=evd.get("rule", ev.name), tags=tuple(getattr(self, "tags", ())))))
        return out

    def finding_entity(self, ev: Event) -> str:
        return ev.entity

    def is_warm(self, event: Event) -> bool:
        st = self._state(event, create=False)
        return st is not None and self.warm(st)

    def finding_for(self, event: Event, score: float, threshold: float) -> Finding | None:
        st = self._state(event, create=False)
        evd = {}
        if st is not None and event.value is not None:
            _, evd = self.evaluate(st, event, float(event.value), float(event.time))
        evd = dict(evd)
        evd.setdefault("metric", event.name)
        evd.setdefault("value", event.value)
        return Finding.create(detector=self.name, entity=self.finding_entity(event), time=event.time,
                              score=score, threshold=threshold,
                              severity=evd.pop("_severity", None) or self.severity_for(score, threshold),
                              title=self.title(event, evd), evidence=evd, event_ids=(event.id,),
                              rule=evd.get("rule", event.name))

    def stats(self, entity: str | None = None) -> dict:
        return {(e, k): {"learned": s["_n"], "nan": s["_nan"], "late": s["_late"]}
                for e, per in self.states.items() if entity is None or e == entity
                for k, s in per.items()}

    # state -------------------------------------------------------------------------------------
    def snapshot(self, entity: str | None = None) -> bytes:
        if entity is None:
            rows = self.states
        else:
            rows = {entity: self.states.get(entity, {})}
        return self._pack_state([], entity, states=_jsonable(rows))

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        state = self._unpack_state(blob, entity)
        rows = _from_jsonable(state.get("states") or {})
        if entity is None:
            self.states = rows
        else:
            if set(rows) - {entity}:
                raise ValueError(f"snapshot holds other entities than {entity!r}")
            self.states[entity] = rows.get(entity, {})

    def entities(self):
        return sorted(self.states)

    def chart_key(self, ev: Event) -> tuple:
        return self.key_for(ev)

    def forget(self, entity: str) -> None:
        self.states.pop(entity, None)
        self.recent.forget(entity)
        self._dirty.discard(entity)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return {"$f": repr(x)}
    return x


def _from_jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        if set(x) == {"$f"}:
            return float(x["$f"])
        return {k: _from_jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_from_jsonable(v) for v in x]
    return x


def ledger() -> dict:
    """A time-ordered ledger of (time, value) with prefix sums: O(log n) window sums."""
    return {"t": [], "c": [], "c0": 0.0}


def ledger_add(led: dict, t: float, v: float) -> None:
    led["t"].append(t)
    led["c"].append((led["c"][-1] if led["c"] else led["c0"]) + v)


def ledger_sum(led: dict, now: float, seconds: float) -> float:
    """Sum of the values with time in (now - seconds, now] (entries are never later than now)."""
    t, c = led["t"], led["c"]
    if not t:
        return 0.0
    j = bisect.bisect_right(t, now - seconds)
    return c[-1] - (c[j - 1] if j > 0 else led["c0"])


def ledger_trim(led: dict, keep_after: float) -> None:
    """Drop entries at or before keep_after."""
    j = bisect.bisect_right(led["t"], keep_after)
    if j:
        led["c0"] = led["c"][j - 1]
        del led["t"][:j], led["c"][:j]
