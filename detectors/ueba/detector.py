"""The "ueba" detector: per-principal, peer-group and account baselines over audit events.

Checks, each explained in the finding's evidence:
- session novelty (`rule: session_novelty`): every event's values (action, resource, source network,
  region, user-agent family, outcome) get a calibrated probability from the account's, the principal's
  peer group's and the principal's own history (Witten-Bell smoothing, `surprise.py`); the event's
  surprise in bits is summed over a session with a CUSUM (`session.py`), and the session alerts once its
  evidence reaches `threshold` bits. A single rare call adds at most `event_cap` bits, so one rare benign
  event does not alert while an attack session's several rare calls do;
- API-call volume spike and error-rate spike: this hour's count against the principal's EWMA of hourly
  counts (event time);
- access-denied burst: `denied_burst` denied calls within `denied_window` seconds.

Baselines, from a principal's first event: its own history weighs by how much of it there is and how
varied it is (N / (N + D)), its peer group (`peers.py`: the sessions of one role, the service accounts of
one namespace...) is used once the group has `peer_learning_events` events from `peer_min_members`
principals, and the account from `global_learning_events` account events (no scoring before: a fresh
deployment knows nothing). A principal with fewer than `learning_events` events is reported as measured
against its peers (or the account). Learning is counted in events, not time.
Events of an alerted session are learned only `quarantine` seconds later (no poisoning).
Snapshot/restore per entity, JSON (no pickle).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import ClassVar, Iterable, Sequence

import numpy as np

from core import snapshot as snap
from core.event import Event, Finding
from core.registry import register
from detectors.base import Detector
from detectors.ueba.peers import PeerGroups, peer_group
from detectors.ueba.profile import Profile, features, is_denied, is_error
from detectors.ueba.session import Step
from detectors.ueba.surprise import FieldSurprise, event_surprise


MIN_MEAN_EVENTS = 20
READABLE_VERSIONS = (2, 3)      # 2: before session evidence (profiles and peers read as they are)


@register
class UebaDetector(Detector):
    type: ClassVar[str] = "ueba"
    event_kinds: ClassVar[tuple[str, ...]] = ("audit",)
    state_version: ClassVar[int] = 3

    @dataclass
    class Config:
        # chosen by bench/ueba/sessions.py's procedure (within the false-alert budget, most sessions) on all folds
        threshold: float = 16.0             # bits of session evidence that alert
        allowance: float = 1.0              # k: bits above its usual an event may cost
        event_cap: float = 12.0             # most bits one event adds (< threshold: one event never alerts)
        field_cap: float = 16.0             # most bits one field adds
        session_gap: float = 1800.0
        quarantine: float = 86400.0
        learning_events: int = 50
        peer_learning_events: int = 100
        peer_min_members: int = 2
        global_learning_events: int = 500
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
            for k in ("threshold", "allowance", "event_cap", "field_cap", "session_gap"):
                if getattr(self, k) <= 0:
                    raise ValueError(f"{k} must be > 0")
            if not 0 < self.ewma_alpha <= 1:
                raise ValueError("ewma_alpha must be in (0, 1]")
            for k in ("learning_events", "max_values", "global_max_values", "denied_burst", "spike_min_hours",
                      "peer_learning_events", "peer_min_members", "global_learning_events"):
                if getattr(self, k) < 1:
                    raise ValueError(f"{k} must be >= 1")
            if self.denied_window <= 0 or self.quarantine < 0:
                raise ValueError("time windows must be positive")

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.profiles: dict[str, Profile] = {}
        self.account = Profile()
        self.peers = PeerGroups()

    # -- baselines ----------------------------------------------------------------------------
    def _profile(self, entity: str) -> Profile:
        p = self.profiles.get(entity)
        if p is None:
            p = self.profiles[entity] = Profile()
        return p

    def _peers_warm(self, group: str) -> bool:
        g = self.peers.get(group)
        return g is not None and g.events >= self.config.peer_learning_events \
            and self.peers.size(group) >= self.config.peer_min_members

    def is_warm(self, event: Event) -> bool:
        return self.account.events >= self.config.global_learning_events

    def chain(self, ev: Event, group: str | None = None) -> tuple[tuple[Profile, ...], str]:
        """(baselines from the account to the principal, the scope reported: principal|peers:G|account)."""
        own = self.profiles.get(ev.entity) or Profile()
        group = peer_group(ev) if group is None else group
        if self._peers_warm(group):
            chain, scope = (self.account, self.peers.groups[group], own), f"peers:{group}"
        else:
            chain, scope = (self.account, own), "account"
        return chain, "principal" if own.events >= self.config.learning_events else scope

    @staticmethod
    def expected_bits(chain: tuple[Profile, ...]) -> float:
        """What an event of this principal usually costs: its own running mean of surprise once it has
        MIN_MEAN_EVENTS, else its peers', else the account's, else nothing."""
        for level in reversed(chain):
            if level.surprise_n >= MIN_MEAN_EVENTS:
                return level.surprise_mean
        return 0.0

    def surprise(self, ev: Event, feats: dict[str, str] | None = None,
                 group: str | None = None) -> tuple[list[FieldSurprise], float, str]:
        """(per-field surprise, the bits an event of this principal usually costs, the baseline's scope)."""
        chain, scope = self.chain(ev, group)
        fields = event_surprise(features(ev) if feats is None else feats, chain, self.config.field_cap)
        return fields, self.expected_bits(chain), scope

    # -- detector API -------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        """Each event's surprise in bits (0 while the account is learning); does not learn."""
        out = np.zeros(len(events))
        for i, ev in enumerate(events):
            if ev.kind in self.event_kinds and self.is_warm(ev):
                fields, expected, _ = self.surprise(ev)
                out[i] = sum(s.bits for s in fields) - expected
        return out

    def learn_many(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.kind in self.event_kinds:
                self._learn(ev.entity, peer_group(ev), features(ev), ev.time)

    def _learn(self, entity: str, group: str, feats: dict[str, str], t: float) -> None:
        c = self.config
        self._profile(entity).learn(feats, t, c.max_values)
        self.peers.learn(group, entity, feats, t, c.max_values)
        self.account.learn(feats, t, c.global_max_values)
        self._dirty.add(entity)

    def process(self, events: Sequence[Event]) -> list[Finding]:
        c = self.config
        findings: list[Finding] = []
        for ev in events:
            if ev.kind not in self.event_kinds:
                continue
            t = ev.time
            p = self._profile(ev.entity)
            group = peer_group(ev)
            for f in p.session.release(t) if p.session.held else ():    # quarantine over: known from now on
                self._learn(ev.entity, group, f, t)
            feats = features(ev)
            findings.extend(self._rates(p, ev))
            if not self.is_warm(ev):
                self._learn(ev.entity, group, feats, t)
                continue
            fields, expected, scope = self.surprise(ev, feats, group)
            counted = p.session.counted
            if counted:
                fields = [s._replace(bits=0.0) if f"{s.field}={s.value}" in counted else s for s in fields]
            bits = sum(s.bits for s in fields)
            excess = bits - expected
            step = Step(ev.id, t, round(excess, 3), [
                {"field": s.field, "value": s.value, "bits": round(s.bits, 2), "own_count": s.own_count,
                 "account_count": s.account_count} for s in fields if s.bits >= 1.0]) if excess > c.allowance else None
            score, ready = p.session.add(t, excess, step, feats, k=c.allowance, event_cap=c.event_cap,
                                         gap=c.session_gap, quarantine=c.quarantine)
            if score >= c.threshold:
                findings.append(self._session_finding(ev, p, score, p.session.alerted(t, c.quarantine), scope))
            alerted = p.session.alerted_at is not None
            for f in p.session.release(t) if p.session.held else ():
                self._learn(ev.entity, group, f, t)
            for f in ready:
                if alerted:
                    p.session.hold(t, f, c.quarantine)
                else:
                    self._learn(ev.entity, group, f, t)
            if not alerted:
                for level in (p, self.peers.groups.get(group), self.account):
                    if level is not None:
                        level.note_surprise(bits)
            self._dirty.add(ev.entity)
        return findings

    def _session_finding(self, ev: Event, p: Profile, score: float, steps: list[Step], scope: str) -> Finding:
        c = self.config
        top = heapq.nlargest(3, ((r["bits"], r["field"], r["value"]) for s in steps for r in s.reasons))
        what = ", ".join(f"{f}={v}" for _, f, v in top)
        against = {"principal": "", "account": " for the account"}.get(scope, " for its peers")
        title = f"{ev.entity}: unusual session{against} ({len(steps)} surprising calls: {what})"
        return Finding.create(
            detector=self.name, entity=ev.entity, time=ev.time, score=score, threshold=c.threshold,
            severity="high" if score >= 2 * c.threshold else "medium", title=title[:300],
            evidence={"check": "session_novelty", "baseline": scope, "evidence_bits": round(score, 2),
                      "allowance_bits": c.allowance, "event": {"action": ev.name, "id": ev.id},
                      "steps": [{"event_id": s.id, "time": s.time, "bits": s.bits, "reasons": s.reasons}
                                for s in steps],
                      "principal": {"events_learned": p.events, "first_seen": p.first_time, "last_seen": p.last_time}},
            event_ids=tuple(dict.fromkeys([s.id for s in steps] + [ev.id])),
            tags=("attack.t1078", "attack.initial-access", "attack.defense-evasion"), rule="session_novelty")

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
            "account": self.account.to_state(), "peers": self.peers.to_state(),
            "profiles": {e: p.to_state() for e, p in self.profiles.items()}})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        if entity is not None:
            _, st = snap.unpack(blob, f"detector/{self.type}/entity", READABLE_VERSIONS)
            if st.get("entity") != entity:
                raise snap.SnapshotError(f"ueba snapshot is for entity {st.get('entity')!r}, not {entity!r}")
            if st.get("profile") is None:
                self.profiles.pop(entity, None)
            else:
                self.profiles[entity] = Profile.from_state(st["profile"])
            return
        version, st = snap.unpack(blob, f"detector/{self.type}", READABLE_VERSIONS)
        try:
            if version == 2:        # the account was value tables only
                g = st["global"]
                st["account"] = {"first": g["first"] or 0.0, "last": g.get("last") or 0.0, "events": g["events"],
                                 "seen": g["seen"], "volume": [-1, 0, 0.0, 0.0, 0], "errors": [-1, 0, 0.0, 0.0, 0]}
            self.account = Profile.from_state(st["account"])
            self.peers = PeerGroups.from_state(st.get("peers"))
            self.profiles = {str(e): Profile.from_state(p) for e, p in st["profiles"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise snap.SnapshotError(f"ueba snapshot malformed: {type(e).__name__}: {e}") from None
