"""Scoring alerts per fold, and choosing parameters inside training folds only.

Per fold (a source of background and attack sessions, background.py): sessions alerted (an alert holds
one of the session's events), false alerts (alerts holding benign events only, counted in the fold of
the finding that opened them: correlation can join findings of two sources) and benign principal-hours. An alert whose events are all benign copies of records labelled
malicious elsewhere in the data (Stream.conflict) is a label conflict: counted apart, not as false.
False alerts are also broken down by the rules in them and by cause (CAUSES). Leave-one-fold-out: for each fold, the parameter set is the
one with the best session recall on the other folds among those within the false-alert budget there
(else the one with the fewest false alerts per hour there); the figures reported for the fold are that
set's on the fold. Nothing of the held-out fold chooses anything.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from bench.ueba.alerts import Alert
from bench.ueba.background import Stream


@dataclass(frozen=True)
class FoldScore:
    sessions: int
    alerted: int
    benign_hours: int
    false_alerts: int
    conflict_alerts: int = 0            # alerts on records labelled both ways (counted apart)
    alerted_alone: int = 0              # sessions whose own findings open an alert with no other finding

    @property
    def recall(self) -> float:
        return self.alerted / self.sessions if self.sessions else 0.0

    @property
    def false_per_1000h(self) -> float:
        return 1000.0 * self.false_alerts / self.benign_hours if self.benign_hours else 0.0

    def __add__(self, o: "FoldScore") -> "FoldScore":
        return FoldScore(self.sessions + o.sessions, self.alerted + o.alerted, self.benign_hours + o.benign_hours,
                         self.false_alerts + o.false_alerts, self.conflict_alerts + o.conflict_alerts,
                         self.alerted_alone + o.alerted_alone)


ZERO = FoldScore(0, 0, 0, 0)


@dataclass(frozen=True)
class Scored:
    folds: dict[str, FoldScore]
    missed: list[str]
    false_rules: dict[str, int]         # false alerts by the rules in them
    false_causes: dict[str, int] = dataclasses.field(default_factory=dict)    # false alerts by cause (CAUSES)

    def total(self, folds: list[str] | None = None) -> FoldScore:
        return sum((s for f, s in self.folds.items() if folds is None or f in folds), ZERO)


DAY = 86400.0
#: why a false alert happened, from what is known of its events and detectors (first matching cause)
CAUSES = ("UEBA in its first day (cold start)", "a replayed development record", "the scenario's routine")


def cause(stream: Stream, a: Alert) -> str:
    if a.first_seen < stream.start + DAY and any(d.startswith("ueba/") for d in a.detectors):
        return CAUSES[0]
    return CAUSES[1] if any(stream.benign_fold[i] != "scenario" for i in a.event_ids) else CAUSES[2]


def score(stream: Stream, alerts: list[Alert], warmup: float = 0.0, alone: frozenset[str] = frozenset()) -> Scored:
    """`warmup`: seconds from the background's start in which false alerts and benign hours are not
    counted (the baseline period; attack sessions are all later). `alone`: the names of the sessions whose
    own findings open an alert by themselves (an alerted session may be alerted only because its findings
    joined an alert of the same principal that another session or a benign record opened)."""
    since = stream.start + warmup
    hours = stream.benign_hours(since)
    flagged: set[str] = set()
    false: Counter = Counter()
    conflict: Counter = Counter()
    false_rules: Counter = Counter()
    causes: Counter = Counter()
    for a in alerts:
        flagged |= a.event_ids
        if a.event_ids and a.first_seen >= since and all(i in stream.benign_fold for i in a.event_ids):
            fold = stream.benign_fold[(a.opened_by or sorted(a.event_ids))[0]]   # where the notification came from
            if all(i in stream.conflict for i in a.event_ids):
                conflict[fold] += 1
                continue
            false[fold] += 1
            false_rules["+".join(sorted(a.rules))] += 1
            causes[cause(stream, a)] += 1
    folds = sorted(set(hours) | {s.fold for s in stream.sessions})
    out = {}
    for f in folds:
        ss = [s for s in stream.sessions if s.fold == f]
        hit = sum(1 for s in ss if any(e.id in flagged for e in s.events))
        out[f] = FoldScore(len(ss), hit, hours.get(f, 0), false[f], conflict[f], sum(1 for s in ss if s.name in alone))
    missed = [s.name for s in stream.sessions if not any(e.id in flagged for e in s.events)]
    return Scored(out, missed, dict(false_rules), dict(causes))


@dataclass(frozen=True)
class HeldOut:
    fold: str
    params: str                 # the parameter set chosen on the other folds
    train: FoldScore
    test: FoldScore


def choose(results: dict[str, Scored], train_folds: list[str], budget: float) -> str:
    """The parameter set (key of `results`) best on `train_folds`: most sessions alerted within `budget`
    false alerts per 1,000 benign principal-hours, else fewest false alerts per hour; ties to the
    fewer false alerts, then the first key."""
    def key(name: str) -> tuple:
        t = results[name].total(train_folds)
        ok = t.false_per_1000h <= budget
        return (ok, t.recall if ok else -t.false_per_1000h, -t.false_per_1000h)
    return max(results, key=key)


def leave_one_fold_out(results: dict[str, Scored], budget: float = 1.0) -> list[HeldOut]:
    folds = sorted({f for r in results.values() for f in r.folds})
    out = []
    for f in folds:
        train = [g for g in folds if g != f]
        name = choose(results, train, budget)
        out.append(HeldOut(f, name, results[name].total(train), results[name].folds.get(f, ZERO)))
    return out
