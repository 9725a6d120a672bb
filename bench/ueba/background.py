"""The UEBA bench's stream: attack sessions injected into weeks of benign audit traffic.

Background (benign): the bundled scenario's audit records without its incidents (one day: CloudTrail and
Kubernetes audit), repeated every day for `weeks` weeks (each copy shifted by whole days, so principals keep
their daily habits), plus every benign development audit record (`malicious: false` in
../shared/data/audit): with `dev="scattered"` (the default) replayed `replays` times at random moments of
those weeks (one-off benign calls, the hard case for a behavioural baseline), with `dev="daily"` repeated every
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


def dev_cases(data: Path) -> tuple[list[tuple[str, Event]], dict[str, tuple[str, list[Event]]]]:
    """([(fold, benign dev event)], {rule id: (fold, its malicious dev events)})."""
    from bench.audit.quality import load_cases, parse_case
    benign: list[tuple[str, Event]] = []
    attacks: dict[str, tuple[str, list[Event]]] = {}
    for c in load_cases(data):
        events, _ = parse_case(c)
        fold = FOLD_OF_FILE.get(c["_file"], "other")
        if c["malicious"]:
            attacks.setdefault(c["rule_id"], (fold, []))[1].extend(events)
        else:
            benign.extend((fold, e) for e in events)
    return benign, {k: v for k, v in attacks.items() if v[1]}


DEV_BACKGROUNDS = ("scattered", "daily")


def build(data: Path, weeks: int = 3, replays: int = 3, seed: int = 7, dev: str = "scattered") -> Stream:
    if dev not in DEV_BACKGROUNDS:
        raise ValueError(f"dev background must be one of {', '.join(DEV_BACKGROUNDS)}, not {dev!r}")
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
    dev_benign, dev_attacks = dev_cases(data) if (data / "audit").is_dir() else ([], {})
    if dev == "daily":
        moments = [rng.uniform(0, DAY) for _ in dev_benign]
        copies = [(t0 + d * DAY + m, f"b{d}", fold, e) for d in range(weeks * 7)
                  for m, (fold, e) in zip(moments, dev_benign)]
    else:
        copies = [(t0 + rng.uniform(0, span), f"b{k}", fold, e) for k in range(replays) for fold, e in dev_benign]
    for at, tag, fold, e in copies:
        events.append(_shift(e, at - e.time, tag))
        benign_fold[events[-1].id] = fold
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
    return Stream(events, sessions, benign_fold, t0)
