"""Decide: findings → alerts through the policies, with deterministic alert ids.

Each (policy, grouping key) — the alert's fingerprint — has at most one open alert episode. A
finding that falls into an open episode folds into it (counted as `decide.folded`; a redelivered
finding is counted as `decide.dedup`; never silently dropped); one that arrives after the
episode's `resolve_after` (event time) opens a new one. The alert id hashes the policy, the
grouping key and the first finding's id, so a replay after a crash — which restores the episode
state written with the last commit — produces the same ids. Episodes whose condition has cleared
(no finding for `resolve_after` behind the event-time watermark) are emitted once as resolved.

One alert per incident: a finding of a policy in a correlation rule (policy.correlate)
may join an open episode of another policy of the rule that shares a join key (a metric anomaly and
the leak detector on the same node and metric; the steps of one attacker session); the most
specific policy names the alert. Every contributing finding is kept as a step of the alert
(policy.steps); title and headline evidence always come from the same finding.

Alerts carry labels (alertname = policy id, severity, entity, rule, detector, detector_type,
tags, plus the policy's own). Before an alert is emitted its labels are checked against the
active silences and the inhibition rules (a firing source alert with the same `equal` labels):
a muted alert is still emitted and stored, with status `suppressed` and the label
`suppressed_by` (`silence:<id>` or `inhibit:<rule>:<source alert id>`); the act stage runs no
responder for it. Muted findings are counted (`decide.suppressed`, `decide.silenced`,
`decide.inhibited`). When the silence expires or the source clears, the alert fires again.

Risk-based alerting (policy.risk, the policies' `risk:` section): a finding below the alerting level
(a Sigma `low` or `informational` rule) that would open a new alert is held in its principal's risk
ledger instead (`decide.risk_held`); when the principal gathers enough different rules, the held
findings go through the policies together (`decide.risk_alerts`); when an alert opens for the principal
otherwise, they join it (`decide.risk_attached`). Ledgers are state like episodes.
"""
from __future__ import annotations

import logging
import time

from core import codec
from core.bus.base import Record, partition_for
from core.codec import DecodeError
from core.event import Alert, Finding, max_severity, stable_id
from policy.correlate import Correlator, merge_episode
from core.counters_state import persist_counters
from policy.episode import Episode
from policy.inhibit import inhibited_by
from policy.silences import SilenceCache, open_silences
from policy.steps import add_step
from agent.stages.base import Stage
from policy.policies import Policy, PolicySet, render
from policy.risk import RiskLedger
from core.lookup import lookup

log = logging.getLogger("warden.decide")
MAX_IDS = 50        # finding / event ids shown on the alert
MAX_SEEN = 5000     # finding ids remembered per episode for redelivery dedup
RECHECK_S = 5.0     # wall seconds between re-evaluations of every open episode's mute state


class DecideStage(Stage):
    name = "decide"
    input_topics = ("findings",)
    NS = "decide:episodes"
    NS_RISK = "decide:risk"

    def __init__(self, rt, *, policies: PolicySet | None = None, silences=None, **kw) -> None:
        super().__init__(rt, **kw)
        self.policies = policies or PolicySet.load(rt.cfg.policies or None)
        self._by_id = {p.id: p for p in self.policies.policies}
        self.correlator = Correlator(self.policies.correlate)
        self.risk = RiskLedger(self.policies.risk) if self.policies.risk is not None else None
        self._risk_expired_at = float("-inf")
        self.open: dict[str, Episode] = {}      # episode key → episode
        self._dirty: set[str] = set()
        self._seen_sets: dict[str, tuple[Episode, set]] = {}   # episode key → (episode, its "seen" ids as a set)
        self._removed: set[str] = set()
        self._changed: dict[str, Policy] = {}
        self.watermark = 0.0
        self._loaded = False
        self._topic = rt.topic("alerts")
        self._silence_store = silences
        self._silences: SilenceCache | None = None
        self._last_recheck = 0.0

    @property
    def silences(self) -> SilenceCache:
        if self._silences is None:
            store = self._silence_store
            if store is None:
                try:
                    store = open_silences(self.rt.cfg)
                except Exception as e:  # noqa: BLE001 - no silence store: nothing is silenced, say so
                    log.warning("silences unavailable: %s", e)
                    self.rt.counters.inc("decide.silence_store_errors")
                    store = None
            self._silences = SilenceCache(store)
        return self._silences

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for key in self.rt.state.keys(self.NS):
            blob = self.rt.state.get(self.NS, key)
            if blob:
                ep = Episode.from_json(blob)
                self.open[key] = ep
                self.correlator.restore(key, ep)
                self.watermark = max(self.watermark, ep.watermark)
        for key in self.rt.state.keys(self.NS_RISK) if self.risk is not None else ():
            blob = self.rt.state.get(self.NS_RISK, key)
            try:
                if blob:
                    self.risk.restore(key, blob)
            except DecodeError as e:         # a ledger that cannot be read is dropped, said and counted
                log.warning("risk ledger of %s unreadable, dropped: %s", key, e)
                self.rt.counters.inc("decide.risk_state_errors")

    def handle(self, records: list[Record]) -> None:
        self._load()
        for r in records:
            try:
                f = codec.decode(r.value, "finding")
            except DecodeError as e:
                self.rt.dead_letter("decide", r.value, str(e), r.topic)
                continue
            self.watermark = max(self.watermark, f.time)
            matched = self.policies.match(f)
            if not matched:
                self.rt.counters.inc("decide.unmatched")
                continue
            todo, what = (self.risk.gate(f, matched, self._folds, self.policies.match) if self.risk is not None
                          else ([(f, matched)], ""))
            if what:
                self.rt.counters.inc(f"decide.risk_{what}")
            for g, ps in todo:
                for p in ps:
                    self._apply(p, g)
            for g, ps in self.risk.attach(f.entity, self._folds, self.policies.match) if todo and self.risk else ():
                self.rt.counters.inc("decide.risk_attached")     # held before an alert opened for its principal
                for p in ps:
                    self._apply(p, g)
        if self.risk is not None and self.watermark - self._risk_expired_at >= 60.0:
            self.risk.expire(self.watermark)
            self._risk_expired_at = self.watermark
        self._recheck()
        self._emit_changed()
        self._resolve_cleared()

    def _folds(self, f: Finding, matched: list[Policy]) -> bool:
        """The finding would fold into an open episode (its policy's own, or one its correlation rule joins)."""
        for p in matched:
            ep = self.open.get(f"{p.id}|{p.group_key(f)}")
            owner = self._by_id.get(ep.policy, p) if ep is not None else p
            if ep is None or f.time - ep.last_seen > owner.resolve_after:
                rule = self.correlator.rule_for(p.id)
                joined = self.correlator.find(rule, rule.keys(f, lookup)) if rule is not None else None
                ep = self.open.get(joined) if joined is not None else None
                owner = self._by_id.get(ep.policy, p) if ep is not None else p
            if ep is not None and f.time - ep.last_seen <= owner.resolve_after:
                return True
        return False

    def _recheck(self, force: bool = False) -> None:
        """Re-check every open episode's mute state now and then (a silence added or expired,
        an inhibiting source resolved), so muting follows without new findings."""
        now = time.monotonic()
        if not force and now - self._last_recheck < RECHECK_S:
            return
        self._last_recheck = now
        for key, ep in self.open.items():
            p = self._by_id.get(ep.policy)
            if p is not None and key not in self._changed and ep.emitted_count:
                self._changed[key] = p

    def step(self, timeout: float = 0.1) -> int:
        n = super().step(timeout)
        if n == 0 and self._loaded and time.monotonic() - self._last_recheck >= RECHECK_S:
            self.silences.refresh(force=True)
            self._recheck()
            before = self.rt.counters.get("decide.alerts_firing") + self.rt.counters.get("decide.alerts_suppressed")
            self._emit_changed()
            if self.rt.counters.get("decide.alerts_firing") + self.rt.counters.get("decide.alerts_suppressed") != before:
                self.request_checkpoint()     # the next idle step checkpoints the new mute state
        return n

    def _emit_changed(self, only: dict[str, Policy] | None = None) -> None:
        """One alert update per changed episode per batch: the store shows the current count.
        Silences first; inhibition then against everything that stays firing (this batch included)."""
        changed = self._changed if only is None else only
        if not changed:
            return
        wall = time.time()
        want: dict[str, str] = {}
        for key in changed:
            ep = self.open.get(key)
            if ep is None:
                continue
            s = self.silences.match(ep.labels, wall)
            want[key] = f"silence:{s.id}" if s else ""
        firing = [(ep.id, ep.labels) for k, ep in self.open.items()
                  if (want[k] == "" if k in want else ep.status == "firing")]
        for key, p in changed.items():
            ep = self.open.get(key)
            if ep is None:
                continue
            by = want[key]
            if not by and self.policies.inhibit_rules:
                hit = inhibited_by(self.policies.inhibit_rules, ep.id, ep.labels, firing)
                if hit:
                    by = f"inhibit:{hit[0]}:{hit[1]}"
            status = "suppressed" if by else "firing"
            upto = ep.counted_suppressed_upto
            new_findings = ep.count - (ep.emitted_count if upto is None else upto)
            if by and new_findings > 0:
                self.rt.counters.inc("decide.suppressed", new_findings)
                self.rt.counters.inc("decide.silenced" if by.startswith("silence:") else "decide.inhibited",
                                     new_findings)
            ep.counted_suppressed_upto = ep.count
            if (ep.count != ep.emitted_count or ep.severity != ep.emitted_severity
                    or status != ep.status or by != ep.suppressed_by):
                ep.suppressed_by = by
                self._emit(p, ep, status=status)
                self._dirty.add(key)
        changed.clear()

    def _episode_for(self, p: Policy, f: Finding) -> tuple[str, list[str]]:
        """The episode key a finding belongs to: its policy's own, or — when its policy is in a
        correlation rule and has no episode of its own open — an open episode it joins."""
        key = f"{p.id}|{p.group_key(f)}"
        rule = self.correlator.rule_for(p.id)
        if rule is None:
            return key, []
        ckeys = rule.keys(f, lookup)
        if key not in self.open:
            joined = self.correlator.find(rule, ckeys)
            if joined is not None and joined in self.open:
                self.rt.counters.inc("decide.correlated")
                return joined, ckeys
        return key, ckeys

    def _apply(self, p: Policy, f: Finding) -> None:
        key, ckeys = self._episode_for(p, f)
        ep = self.open.get(key)
        sev = p.severity or f.severity
        if ep is not None:
            owner = self._by_id.get(ep.policy, p)
            if f.time - ep.last_seen > owner.resolve_after:
                if not ep.status:
                    # opened and cleared inside one batch (replay, backfill): it still fired first
                    self._changed.pop(key, None)
                    self._emit_changed({key: owner})
                self._emit(owner, ep, status="resolved")
                self._close(key, ep)
                key, ckeys = self._episode_for(p, f)
                ep = self.open.get(key)
        if ep is None:
            gk = p.group_key(f)
            ep = Episode(id=stable_id("alert", p.id, gk, f.id), policy=p.id, group_key=gk,
                         entity=f.entity, detector=f.detector, rule_title=render(p.title, f, True),
                         description=render(p.description, f, True), severity=sev, first_seen=f.time,
                         last_seen=f.time, count=1, finding_ids=[f.id], seen=[f.id],
                         event_ids=list(f.event_ids[:MAX_IDS]), tags=list(f.tags), evidence=f.evidence,
                         labels=p.alert_labels(f, sev))
            self.open[key] = ep
            self._removed.discard(key)       # a new episode under the key of one that just ended
            self.rt.counters.inc("decide.alerts_opened")
        else:
            seen = self._seen_set(key, ep)
            if f.id in seen:
                self.rt.counters.inc("decide.dedup")   # redelivered finding: no change
                return
            ids = ep.seen
            ids.append(f.id)
            seen.add(f.id)
            if len(ids) > MAX_SEEN:
                cut = len(ids) - MAX_SEEN
                seen.difference_update(ids[:cut])
                del ids[:cut]
            ep.count += 1
            ep.last_seen = max(ep.last_seen, f.time)
            ep.severity = max_severity(ep.severity, sev)
            if len(ep.finding_ids) < MAX_IDS:
                ep.finding_ids.append(f.id)
            room = MAX_IDS * 2 - len(ep.event_ids)
            if room > 0:
                ep.event_ids.extend(list(f.event_ids[:room]))
            for t in f.tags:
                if t not in ep.tags:
                    ep.tags.append(t)
            rule = self.correlator.rule_for(p.id)
            if rule is not None and rule.rank(p.id) < rule.rank(ep.policy):
                # the more specific policy names the alert from now on: title, detector, labels and
                # headline evidence all from this finding (the alert id stays)
                ep.severity = max_severity(ep.severity, sev)
                ep.policy, ep.rule_title, ep.description = p.id, render(p.title, f, True), render(p.description, f, True)
                ep.detector, ep.evidence, ep.labels = f.detector, f.evidence, p.alert_labels(f, ep.severity)
                self.rt.counters.inc("decide.renamed")
            ep.labels["severity"] = ep.severity
            self.rt.counters.inc("decide.folded")
        if not add_step(ep.steps, f, p.id):
            ep.steps_omitted += 1
            self.rt.counters.inc("decide.steps_omitted")     # the alert's count still has it
        if ckeys:
            for other in self.correlator.add(key, ep, ckeys):
                key, ep = self._merge(key, other)
        ep.watermark = self.watermark
        self._dirty.add(key)
        self._changed[key] = self._by_id.get(ep.policy, p)

    def _merge(self, key: str, other: str) -> tuple[str, Episode]:
        """Two open episodes turned out to be one incident: the one that opened first absorbs the
        other, which is emitted once as resolved with the label `merged_into` (`decide.merged`)."""
        a, b = self.open.get(key), self.open.get(other)
        if a is None or b is None:
            return key, a if a is not None else b
        (dk, dst), (sk, src) = sorted(((key, a), (other, b)), key=lambda kv: (kv[1].first_seen, kv[1].id))
        rule = self.correlator.rule_for(dst.policy) or self.correlator.rule_for(src.policy)
        merge_episode(dst, src, rule, MAX_IDS)
        del dst.seen[:max(0, len(dst.seen) - MAX_SEEN)]
        src.labels = {**src.labels, "merged_into": dst.id}
        if src.emitted_count:
            self._emit(self._by_id.get(src.policy), src, status="resolved")
        self._changed.pop(sk, None)
        self._close(sk, src)
        self.correlator.add(dk, dst, list(dst.corr_keys))
        self._seen_sets.pop(dk, None)
        self._dirty.add(dk)
        self.rt.counters.inc("decide.merged")
        return dk, dst

    def _close(self, key: str, ep: Episode) -> None:
        del self.open[key]
        self.correlator.forget(key, ep)
        self._seen_sets.pop(key, None)
        self._dirty.discard(key)
        self._removed.add(key)

    def _seen_set(self, key: str, ep: Episode) -> set:
        """The episode's remembered finding ids as a set (membership per finding without scanning
        the up-to-MAX_SEEN list); rebuilt whenever the episode object under the key changed."""
        cached = self._seen_sets.get(key)
        if cached is None or cached[0] is not ep:
            cached = self._seen_sets[key] = (ep, set(ep.seen))
        return cached[1]

    def _emit(self, p: Policy | None, ep: Episode, status: str) -> None:
        routes = tuple(p.routes) if p is not None else ()
        labels = dict(ep.labels or {})
        if status == "suppressed" and ep.suppressed_by:
            labels["suppressed_by"] = ep.suppressed_by
        a = Alert(id=ep.id, rule=ep.policy, title=ep.rule_title, severity=ep.severity,
                  entity=ep.entity, group_key=ep.group_key, status=status, first_seen=ep.first_seen,
                  last_seen=ep.last_seen, count=ep.count, detector=ep.detector,
                  description=ep.description, tags=tuple(ep.tags), finding_ids=tuple(ep.finding_ids),
                  event_ids=tuple(ep.event_ids), evidence=ep.evidence, labels=labels,
                  updated=ep.last_seen, routes=routes, steps=tuple(ep.steps))
        self.rt.producer.send(self._topic, codec.encode(a), a.entity.encode())
        ep.emitted_count = ep.count
        ep.emitted_severity = ep.severity
        ep.status = status
        self.rt.counters.inc(f"decide.alerts_{status}")

    def _resolve_cleared(self) -> None:
        for key, ep in list(self.open.items()):
            p = self._by_id.get(ep.policy)
            after = p.resolve_after if p else 3600.0
            if self.watermark - ep.last_seen > after:
                self._emit(p, ep, status="resolved")
                self._close(key, ep)

    def snapshot_state(self) -> None:
        items = [(self.NS, k, self.open[k].to_json()) for k in self._dirty if k in self.open]
        items += [(self.NS, k, b"") for k in self._removed]
        if self.risk is not None:
            items += [(self.NS_RISK, e, blob) for e, blob in self.risk.take_touched().items()]
        self.rt.state.put_many(items)
        self._dirty.clear()
        self._removed.clear()
        persist_counters(self.rt)

    def on_revoke(self, tps) -> None:
        super().on_revoke(tps)
        n = self.rt.cfg.bus.partitions
        gone = {p for _, p in tps}
        for key, ep in list(self.open.items()):
            if partition_for(ep.entity.encode(), n) in gone:
                del self.open[key]
                self.correlator.forget(key, ep)
                self._seen_sets.pop(key, None)
        if self.risk is not None:
            for entity in [e for e in self.risk.held if partition_for(e.encode(), n) in gone]:
                del self.risk.held[entity]
        self._loaded = False  # reload episodes (incl. of newly assigned partitions) on next batch
