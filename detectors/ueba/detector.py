"""The "ueba" detector: per-principal baselines over audit events.

Checks, each explained in the finding's evidence (field, value, what the baseline was):
- first-seen action / resource / source IP / region / user agent for this principal (values no
  principal has used before weigh more);
- rare API call: an action this principal has made, but rarely (< rare_ratio of its events);
- API-call volume spike and error-rate spike: this hour's count against the principal's EWMA of
  hourly counts (event time);
- access-denied burst: `denied_burst` denied calls within `denied_window` seconds.

Baselines, from a principal's first event: a principal with `learning_events` learned events (and
`learning_seconds` of event time, 0 by default) is compared with its own profile; before that, with its
peer group (`peers.py`: the other sessions of its role, the service accounts of its namespace...) once
the group has `peer_learning_events` events from at least `peer_min_members` principals; before that,
with the whole account (every principal) once it has `global_learning_events` events. Learning is
counted in events, so a quiet principal is not "learning" for a day and a busy one is not judged on
an hour. A value is "globally new" (weighs more) only once the account baseline is warm.
Flagged events are not learned (no poisoning); a value already reported is not reported again within
`report_cooldown` seconds.
Snapshot/restore per entity, JSON (no pickle).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from core import snapshot as snap
from core.event import Event, Finding
from core.registry import register
from detectors.base import Detector
from detectors.ueba.peers import PeerGroups, peer_group
from detectors.ueba.profile import FIELDS, Profile, _bump, features, is_denied, is_error

WEIGHTS = {"action": 0.5, "resource": 0.3, "source_ip": 0.3, "region": 0.6, "user_agent": 0.35}
GLOBAL_BONUS = 0.25
RARE_WEIGHT = 0.3


@register
class UebaDetector(Detector):
    type: ClassVar[str] = "ueba"
    event_kinds: ClassVar[tuple[str, ...]] = ("audit",)
    state_version: ClassVar[int] = 2

    @dataclass
    class Config:
        threshold: float = 1.0
        learning_events: int = 50
        learning_seconds: float = 0.0
        peer_learning_events: int = 100
        peer_min_members: int = 2
        global_learning_events: int = 500
        global_learning_seconds: float = 0.0
        rare_ratio: float = 0.01
        rare_min_events: int = 200
        max_values: int = 256
        global_max_values: int = 20000
        spike_k: float = 4.0
        spike_min_count: int = 50
        spike_min_hours: int = 24
        ewma_alpha: float = 0.05
        denied_burst: int = 10
        denied_window: float = 300.0
        report_cooldown: float = 86400.0

        def validate(self) -> None:
            if self.threshold <= 0:
                raise ValueError("threshold must be > 0")
            if not 0 < self.ewma_alpha <= 1:
                raise ValueError("ewma_alpha must be in (0, 1]")
            for k in ("learning_events", "max_values", "global_max_values", "denied_burst", "spike_min_hours",
                      "peer_learning_events", "peer_min_members", "global_learning_events"):
                if getattr(self, k) < 1:
                    raise ValueError(f"{k} must be >= 1")
            if self.denied_window <= 0 or self.learning_seconds < 0 or self.global_learning_seconds < 0:
                raise ValueError("time windows must be positive")

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.profiles: dict[str, Profile] = {}
        self.global_seen: dict[str, dict[str, int]] = {f: {} for f in FIELDS}
        self.global_first: float | None = None
        self.global_last: float = float("-inf")
        self.global_events = 0
        self.peers = PeerGroups()

    # -- helpers ------------------------------------------------------------------------------
    def _profile(self, entity: str) -> Profile:
        p = self.profiles.get(entity)
        if p is None:
            p = self.profiles[entity] = Profile()
        return p

    def _global_warm(self, t: float) -> bool:
        c = self.config
        return (self.global_first is not None and self.global_events >= c.global_learning_events
                and t - self.global_first >= c.global_learning_seconds)

    def _entity_warm(self, p: Profile, t: float) -> bool:
        c = self.config
        return p.events >= c.learning_events and t - p.first_time >= c.learning_seconds

    def _peers_warm(self, group: str, entity: str) -> bool:
        c = self.config
        g = self.peers.get(group)
        others = self.peers.size(group) - (1 if entity in self.peers.members.get(group, ()) else 0)
        return g is not None and g.events >= c.peer_learning_events and others >= c.peer_min_members - 1 \
            and self.peers.size(group) >= c.peer_min_members

    def baseline(self, ev: Event) -> tuple[Profile | None, str]:
        """What the event is compared with: (profile, scope) with scope principal|peers:GROUP|account, or
        (None, "learning") while no baseline is warm."""
        p = self.profiles.get(ev.entity)
        if p is not None and self._entity_warm(p, ev.time):
            return p, "principal"
        group = peer_group(ev)
        if self._peers_warm(group, ev.entity):
            return self.peers.get(group), f"peers:{group}"
        if self._global_warm(ev.time):
            return Profile(events=self.global_events, seen=self.global_seen), "account"
        return None, "learning"

    def is_warm(self, event: Event) -> bool:
        return self.baseline(event)[0] is not None

    def _novelty(self, p: Profile, ev: Event, feats: dict[str, str],
                 own: Profile | None = None) -> tuple[float, list[dict[str, Any]]]:
        """Novelty of the event against baseline `p`; cooldowns are the principal's own (`own`)."""
        c = self.config
        own = p if own is None else own
        account_warm = self._global_warm(ev.time)
        score = 0.0
        reasons: list[dict[str, Any]] = []
        for f, v in feats.items():
            table = p.seen.get(f, {})
            n = table.get(v, 0)
            if n == 0:
                w = WEIGHTS[f]
                globally_new = account_warm and v not in self.global_seen.get(f, {})
                if globally_new and p.seen is not self.global_seen:     # against the account it is the same fact
                    w += GLOBAL_BONUS
                key = f"new|{f}|{v}"
                if ev.time - own.reported.get(key, float("-inf")) < c.report_cooldown:
                    continue
                score += w
                reasons.append({"check": "first_seen", "field": f, "value": v, "weight": round(w, 3),
                                "globally_new": globally_new,
                                "baseline": {"distinct_values": len(table), "events": p.events}})
            elif f == "action" and p.events >= c.rare_min_events and n / p.events < c.rare_ratio:
                key = f"rare|{f}|{v}"
                if ev.time - own.reported.get(key, float("-inf")) < c.report_cooldown:
                    continue
                score += RARE_WEIGHT
                reasons.append({"check": "rare", "field": f, "value": v, "weight": RARE_WEIGHT,
                                "baseline": {"count": n, "events": p.events, "ratio": round(n / p.events, 5),
                                             "rare_below": c.rare_ratio}})
        if score >= c.threshold:        # what the baseline holds instead, only for what is reported
            for r in reasons:
                if r["check"] == "first_seen":
                    table = p.seen.get(r["field"], {})
                    r["baseline"]["top"] = dict(heapq.nlargest(5, table.items(), key=lambda kv: kv[1]))
        return score, reasons

    # -- detector API -------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        out = np.zeros(len(events))
        for i, ev in enumerate(events):
            if ev.kind in self.event_kinds:
                base, _ = self.baseline(ev)
                if base is not None:
                    out[i] = self._novelty(base, ev, features(ev), self.profiles.get(ev.entity) or Profile())[0]
        return out

    def learn_many(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.kind in self.event_kinds:
                self._learn(ev, features(ev))

    def _learn(self, ev: Event, feats: dict[str, str]) -> None:
        c = self.config
        self._profile(ev.entity).learn(feats, ev.time, c.max_values)
        self.peers.learn(peer_group(ev), ev.entity, feats, ev.time, c.max_values)
        self.global_events += 1
        for f, v in feats.items():
            _bump(self.global_seen.setdefault(f, {}), v, c.global_max_values)
        self._dirty.add(ev.entity)

    def process(self, events: Sequence[Event]) -> list[Finding]:
        c = self.config
        findings: list[Finding] = []
        for ev in events:
            if ev.kind not in self.event_kinds:
                continue
            t = ev.time
            if self.global_first is None:
                self.global_first = t
            self.global_last = max(self.global_last, t)
            p = self._profile(ev.entity)
            feats = features(ev)
            findings.extend(self._rates(p, ev))
            flagged = False
            base, scope = self.baseline(ev)
            if base is not None:
                score, reasons = self._novelty(base, ev, feats, p)
                if score >= c.threshold and reasons:
                    flagged = True
                    for r in reasons:
                        p.reported[f"{'new' if r['check'] == 'first_seen' else 'rare'}|{r['field']}|{r['value']}"] = t
                    findings.append(self._novelty_finding(p, ev, score, reasons, scope))
            if not flagged:
                self._learn(ev, feats)
            self._dirty.add(ev.entity)
        return findings

    def _novelty_finding(self, p: Profile, ev: Event, score: float, reasons: list[dict],
                         scope: str = "principal") -> Finding:
        fields = ", ".join(f"{r['field']}={r['value']}" for r in reasons)
        kinds = {r["check"] for r in reasons}
        against = {"principal": "", "account": " (for the account)"}.get(scope, " (for its peers)")
        title = (f"{ev.entity}: first-seen{against} {fields}" if kinds == {"first_seen"}
                 else f"{ev.entity}: unusual behaviour{against} ({fields})")
        sev = "high" if score >= 2 * self.config.threshold else "medium"
        tags = ("attack.t1078", "attack.initial-access", "attack.defense-evasion")
        return Finding.create(detector=self.name, entity=ev.entity, time=ev.time, score=score,
                              threshold=self.config.threshold, severity=sev, title=title[:300],
                              evidence={"reasons": reasons, "event": {"action": ev.name, "id": ev.id},
                                        "baseline": scope,
                                        "principal": {"events_learned": p.events, "first_seen": p.first_time,
                                                      "last_seen": p.last_time}},
                              event_ids=(ev.id,), tags=tags, rule="novelty")

    def _rates(self, p: Profile, ev: Event) -> list[Finding]:
        c = self.config
        t = ev.time
        bucket = int(t // 3600)
        out: list[Finding] = []
        for name, rate, counted in (("volume", p.volume, True), ("errors", p.errors, is_error(ev))):
            rate.roll(bucket, c.ewma_alpha)
            if not counted or bucket < rate.bucket:
                continue
            rate.count += 1
            fire, limit = rate.spike(c.spike_k, c.spike_min_count if name == "volume" else max(5, c.spike_min_count // 5),
                                     c.spike_min_hours)
            key = f"spike|{name}|{bucket}"
            if fire and key not in p.reported:
                p.reported[key] = t
                self._prune_reported(p, t)
                what = "API-call volume" if name == "volume" else "error rate"
                out.append(Finding.create(
                    detector=self.name, entity=ev.entity, time=t, score=rate.count / max(limit, 1e-9), threshold=1.0,
                    severity="medium", title=f"{ev.entity}: {what} spike ({rate.count} this hour)",
                    evidence={"check": f"{name}_spike", "field": "events per hour" if name == "volume" else "failed calls per hour",
                              "value": rate.count, "baseline": {"ewma_mean": round(rate.mean, 3),
                                                                "ewma_std": round(rate.var ** 0.5, 3),
                                                                "limit": round(limit, 3), "hours": rate.n}},
                    event_ids=(ev.id,), tags=("attack.t1496", "attack.discovery") if name == "volume" else ("attack.discovery",),
                    rule=f"{name}_spike"))
        if is_denied(ev):
            p.denied_times.append(t)
            cutoff = t - c.denied_window
            p.denied_times = [x for x in p.denied_times if x >= cutoff][-(4 * c.denied_burst):]
            if len(p.denied_times) >= c.denied_burst and t >= p.burst_until:
                p.burst_until = t + c.denied_window
                out.append(Finding.create(
                    detector=self.name, entity=ev.entity, time=t, score=len(p.denied_times) / c.denied_burst,
                    threshold=1.0, severity="medium",
                    title=f"{ev.entity}: burst of access-denied calls ({len(p.denied_times)} in {c.denied_window:g}s)",
                    evidence={"check": "access_denied_burst", "field": "denied calls", "value": len(p.denied_times),
                              "baseline": {"burst_threshold": c.denied_burst, "window_seconds": c.denied_window,
                                           "hourly_error_mean": round(p.errors.mean, 3)},
                              "last_error": ev.attributes.get("error.code") or ev.attributes.get("http.response.status_code")},
                    event_ids=(ev.id,), tags=("attack.discovery", "attack.t1580", "attack.credential-access"),
                    rule="access_denied_burst"))
        return out

    def _prune_reported(self, p: Profile, t: float) -> None:
        if len(p.reported) > 512:
            horizon = t - self.config.report_cooldown
            p.reported = {k: v for k, v in p.reported.items() if v >= horizon}

    # -- state --------------------------------------------------------------------------------
    def entities(self) -> Iterable[str]:
        return sorted(self.profiles)

    def forget(self, entity: str) -> None:
        self.profiles.pop(entity, None)

    def snapshot(self, entity: str | None = None) -> bytes:
        if entity is not None:
            p = self.profiles.get(entity)
            return snap.pack(f"detector/{self.type}/entity", self.state_version,
                             {"entity": entity, "profile": p.to_state() if p else None})
        return snap.pack(f"detector/{self.type}", self.state_version, {
            "global": {"seen": self.global_seen, "first": self.global_first, "events": self.global_events,
                       "last": None if self.global_last == float("-inf") else self.global_last},
            "peers": self.peers.to_state(),
            "profiles": {e: p.to_state() for e, p in self.profiles.items()}})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        if entity is not None:
            _, st = snap.unpack(blob, f"detector/{self.type}/entity", self.state_version)
            if st.get("entity") != entity:
                raise snap.SnapshotError(f"ueba snapshot is for entity {st.get('entity')!r}, not {entity!r}")
            if st.get("profile") is None:
                self.profiles.pop(entity, None)
            else:
                self.profiles[entity] = Profile.from_state(st["profile"])
            return
        _, st = snap.unpack(blob, f"detector/{self.type}", self.state_version)
        try:
            g = st["global"]
            self.global_seen = {f: {str(k): int(v) for k, v in g["seen"].get(f, {}).items()} for f in FIELDS}
            self.global_first = None if g["first"] is None else float(g["first"])
            self.global_last = float("-inf") if g.get("last") is None else float(g["last"])
            self.global_events = int(g.get("events", 0))
            self.peers = PeerGroups.from_state(st.get("peers"))
            self.profiles = {str(e): Profile.from_state(p) for e, p in st["profiles"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise snap.SnapshotError(f"ueba snapshot malformed: {type(e).__name__}: {e}") from None
