"""The UEBA bench's stream: attack sessions injected into weeks of benign audit traffic.

Background (benign): the bundled scenario's audit records without its incidents (one day: CloudTrail and
Kubernetes audit), repeated every day for `weeks` weeks (each copy shifted by whole days, so principals keep
their daily habits), plus every benign development audit record (`malicious: false` in
../shared/data/audit): with `mode="scattered"` (the default) replayed `replays` times at random moments of
those weeks (one-off benign calls, the hard case for a behavioural baseline), with `mode="daily"` repeated every
day at a moment of the day drawn once per record (a routine, like the scenario's days).
Attack sessions, each injected at a random moment of the last week: the scenario's own incident (failed
console logins, then a new principal pulling model weights) and, for every development rule id, its
malicious records one minute apart (the recorded steps of that attack).
Every event and session belongs to a fold by source: "scenario", and the development records by cloud —
"aws" (CloudTrail), "k8s" (Kubernetes and EKS audit), "gcp" (GCP and GKE audit) — so parameters can be
chosen on some sources and measured on another.
"""
from __future__ import annotations

import dataclasses
import json
import random
from collections import defaultdict
from pathlib import Path

from core.event import Event
from collectors.formats import FormatError, parse_record

DAY = 86400.0
AUDIT_FORMATS = ("cloudtrail", "k8s-audit", "gcp-audit")
FOLD_OF_FILE = {"panther_aws_cloudtrail_rules.jsonl": "aws", "panther_kubernetes_rules.jsonl": "k8s",
                "panther_aws_eks_rules.jsonl": "k8s", "panther_gcp_audit_rules.jsonl": "gcp",
                "panther_gcp_k8s_rules.jsonl": "gcp"}


@dataclasses.dataclass
class Session:
    name: str
    fold: str
    events: list[Event]


@dataclasses.dataclass
class Stream:
    events: list[Event]                 # time order
    sessions: list[Session]
    benign_fold: dict[str, str]         # benign event id -> fold
    start: float = 0.0                  # the background's first moment
    conflict: frozenset[str] = frozenset()   # benign event ids whose record is also labelled malicious

    def benign_hours(self, since: float = float("-inf")) -> dict[str, int]:
        """Benign principal-hours per fold: (principal, hour) pairs holding at least one benign event
        (at or after `since`)."""
        hours: dict[str, set] = defaultdict(set)
        for e in self.events:
            fold = self.benign_fold.get(e.id)
            if fold is not None and e.time >= since:
                hours[fold].add((e.entity, int(e.time // 3600)))
        return {f: len(h) for f, h in hours.items()}


def _parse(rec: dict, fmt: str) -> list[Event]:
    try:
        return parse_record(rec, fmt, "bench/ueba")
    except FormatError:
        return []


def _shift(ev: Event, dt: float, tag: str) -> Event:
    return dataclasses.replace(ev, time=ev.time + dt, id=f"{ev.id}:{tag}")


def scenario_parts(hours: float = 24.0) -> tuple[list[Event], list[Event]]:
    """(benign events of one scenario day, the incident's events) — audit streams only."""
    from collectors.scenario.records import generate
    benign = [(f, r) for f, r in generate(hours=hours, incidents=False) if f in AUDIT_FORMATS]
    seen = {json.dumps(r, sort_keys=True) for _, r in benign}
    attack = [(f, r) for f, r in generate(hours=hours, incidents=True)
              if f in AUDIT_FORMATS and json.dumps(r, sort_keys=True) not in seen]
    return ([e for f, r in benign for e in _parse(r, f)], [e for f, r in attack for e in _parse(r, f)])


@dataclasses.dataclass
class DevCases:
    benign: list[tuple[str, Event]]                     # (fold, benign dev event)
    attacks: dict[str, tuple[str, list[Event]]]         # rule id -> (fold, its malicious dev events)
    conflict: set[str]                                  # ids of benign events whose record is labelled malicious elsewhere


def dev_cases(data: Path) -> DevCases:
    """The development records as background and attacks. A benign record that is identical, apart from its
    ids, times and key case (bench.audit.quality.conflicting_events), to a record labelled malicious elsewhere
    in the data is kept in the background and marked: an alert on it is counted apart (a label conflict: no
    detector can be right on both copies), never as a false alert and never dropped."""
    from bench.audit.quality import _canonical, conflicting_events, load_cases, parse_case
    cases = load_cases(data)
    both_ways = conflicting_events(cases)
    out = DevCases([], {}, set())
    for c in cases:
        events, _ = parse_case(c)
        fold = FOLD_OF_FILE.get(c["_file"], "other")
        if c["malicious"]:
            out.attacks.setdefault(c["rule_id"], (fold, []))[1].extend(events)
        else:
            out.benign.extend((fold, e) for e in events)
            if _canonical(c["event"]) in both_ways:
                out.conflict.update(e.id for e in events)
    out.attacks = {k: v for k, v in out.attacks.items() if v[1]}
    return out


DEV_BACKGROUNDS = ("scattered", "daily")


def build(data: Path, weeks: int = 3, replays: int = 3, seed: int = 7, mode: str = "scattered") -> Stream:
    """`mode`: the development records' background, "scattered" or "daily" (module docstring)."""
    if mode not in DEV_BACKGROUNDS:
        raise ValueError(f"dev background must be one of {', '.join(DEV_BACKGROUNDS)}, not {mode!r}")
    rng = random.Random(seed)
    day, incident = scenario_parts()
    t0 = min(e.time for e in day)
    span = weeks * 7 * DAY
    benign_fold: dict[str, str] = {}
    events: list[Event] = []
    for d in range(weeks * 7):
        for e in day:
            events.append(_shift(e, d * DAY, f"d{d}"))
            benign_fold[events[-1].id] = "scenario"
    dev = dev_cases(data) if (data / "audit").is_dir() else DevCases([], {}, set())
    dev_benign, dev_attacks = dev.benign, dev.attacks
    if mode == "daily":
        moments = [rng.uniform(0, DAY) for _ in dev_benign]
        copies = [(t0 + d * DAY + m, f"b{d}", fold, e) for d in range(weeks * 7)
                  for m, (fold, e) in zip(moments, dev_benign)]
    else:
        copies = [(t0 + rng.uniform(0, span), f"b{k}", fold, e) for k in range(replays) for fold, e in dev_benign]
    conflict: set[str] = set()
    for at, tag, fold, e in copies:
        events.append(_shift(e, at - e.time, tag))
        benign_fold[events[-1].id] = fold
        if e.id in dev.conflict:
            conflict.add(events[-1].id)
    sessions = []
    last_week = t0 + span - 7 * DAY
    if incident:
        inc_t0 = min(e.time for e in incident)
        at = last_week + rng.uniform(0, 6 * DAY)
        sessions.append(Session("scenario: account takeover", "scenario",
                                [_shift(e, at - inc_t0, "atk") for e in incident]))
    for rule_id, (fold, evs) in sorted(dev_attacks.items()):
        at = last_week + rng.uniform(0, 6 * DAY)
        sessions.append(Session(f"dev: {rule_id}", fold, [_shift(e, at + 60 * i - e.time, f"atk-{rule_id}")
                                                          for i, e in enumerate(evs)]))
    for s in sessions:
        events.extend(s.events)
    events.sort(key=lambda e: e.time)
    return Stream(events, sessions, benign_fold, t0, frozenset(conflict))
