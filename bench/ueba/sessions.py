"""UEBA on attack sessions injected into weeks of benign audit traffic.

    PYTHONPATH=. python -m bench.ueba.sessions [--data ../shared/data] [--weeks 3] [--seed 7] [--json]

Background (benign): the bundled scenario's audit records without its incidents (one day: CloudTrail and
Kubernetes audit), repeated every day for `--weeks` weeks (each copy shifted by whole days, so principals keep
their daily habits), plus every benign development audit record (`malicious: false` in
../shared/data/audit) replayed `--replays` times at random moments of those weeks.
Attack sessions, each injected at a random moment of the last week: the scenario's own incident
(failed console logins, then a new principal pulling model weights) and, for every development rule id,
its malicious records one minute apart (the recorded steps of that attack). Nothing here was tuned on
these sessions: the detector runs with its defaults.

A session is alerted when a UEBA finding names one of its events. A false alert is a finding that names
benign events only; the rate is per 1,000 benign principal-hours: (principal, hour) pairs holding at least
one benign event.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from collectors.formats import FormatError, parse_record

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DAY = 86400.0
AUDIT_FORMATS = ("cloudtrail", "k8s-audit", "gcp-audit")


@dataclasses.dataclass
class Session:
    name: str
    events: list


def _parse(rec: Any, fmt: str) -> list:
    try:
        return parse_record(rec, fmt, "bench/ueba")
    except FormatError:
        return []


def _shift(ev, dt: float, tag: str):
    return dataclasses.replace(ev, time=ev.time + dt, id=f"{ev.id}:{tag}")


def scenario_parts(hours: float = 24.0) -> tuple[list, list]:
    """(benign events of one scenario day, the incident's events) — audit streams only."""
    from collectors.scenario.records import generate
    benign = [(f, r) for f, r in generate(hours=hours, incidents=False) if f in AUDIT_FORMATS]
    seen = {json.dumps(r, sort_keys=True) for _, r in benign}
    attack = [(f, r) for f, r in generate(hours=hours, incidents=True)
              if f in AUDIT_FORMATS and json.dumps(r, sort_keys=True) not in seen]
    return ([e for f, r in benign for e in _parse(r, f)], [e for f, r in attack for e in _parse(r, f)])


def dev_cases(data: Path) -> tuple[list, dict[str, list]]:
    """(benign dev events, {rule id: malicious dev events})."""
    from bench.audit.quality import load_cases, parse_case
    benign, attacks = [], defaultdict(list)
    for c in load_cases(data):
        events, _ = parse_case(c)
        (attacks[c["rule_id"]] if c["malicious"] else benign).extend(events)
    return benign, {k: v for k, v in attacks.items() if v}


def build(data: Path, weeks: int, replays: int, seed: int) -> tuple[list, list[Session], set[str]]:
    rng = random.Random(seed)
    day, incident = scenario_parts()
    t0 = min(e.time for e in day)
    stream = [_shift(e, d * DAY, f"d{d}") for d in range(weeks * 7) for e in day]
    span = weeks * 7 * DAY
    dev_benign, dev_attacks = dev_cases(data) if (data / "audit").is_dir() else ([], {})
    for k in range(replays):
        for e in dev_benign:
            stream.append(_shift(e, t0 + rng.uniform(0, span) - e.time, f"b{k}"))
    benign_ids = {e.id for e in stream}
    sessions = []
    last_week = t0 + span - 7 * DAY
    inc_t0 = min(e.time for e in incident) if incident else 0.0
    at = last_week + rng.uniform(0, 6 * DAY)
    sessions.append(Session("scenario: account takeover", [_shift(e, at - inc_t0, "atk") for e in incident]))
    for rule_id, events in sorted(dev_attacks.items()):
        at = last_week + rng.uniform(0, 6 * DAY)
        sessions.append(Session(f"dev: {rule_id}", [_shift(e, at + 60 * i - e.time, f"atk-{rule_id}")
                                                    for i, e in enumerate(events)]))
    for s in sessions:
        stream.extend(s.events)
    stream.sort(key=lambda e: e.time)
    return stream, sessions, benign_ids


def _score(stream: list, sessions: list[Session], benign_ids: set[str], findings: list) -> dict[str, Any]:
    """Sessions alerted and false alerts per 1,000 benign principal-hours, overall and per background source
    (scenario days: ids tagged ':d<day>', development records: ':b<replay>')."""
    flagged: set[str] = set()
    false_alerts = []
    for f in findings:
        ids = set(f.event_ids)
        flagged |= ids
        if ids and ids <= benign_ids:
            false_alerts.append(f)
    out: dict[str, Any] = {}
    for src, tag in (("all", ""), ("scenario", ":d"), ("dev", ":b")):
        hours = {(e.entity, int(e.time // 3600)) for e in stream if e.id in benign_ids and tag in e.id}
        fa = [f for f in false_alerts if all(tag in i for i in f.event_ids)]
        ss = [s for s in sessions if src == "all" or s.name.startswith(src)]
        hit = [s for s in ss if any(e.id in flagged for e in s.events)]
        out[src] = {"benign_principal_hours": len(hours), "false_alerts": len(fa),
                    "false_alerts_per_1000_principal_hours": round(1000 * len(fa) / max(1, len(hours)), 3),
                    "sessions": len(ss), "sessions_alerted": len(hit),
                    "session_recall": round(len(hit) / max(1, len(ss)), 3)}
    out["missed"] = [s.name for s in sessions if not any(e.id in flagged for e in s.events)]
    return out


def run(data: Path = DEFAULT_DATA, weeks: int = 3, replays: int = 3, seed: int = 7, batch: int = 500,
        with_sigma: bool = True) -> dict[str, Any]:
    """UEBA alone, and warden's default audit detectors (Sigma rules + UEBA) for reference."""
    from core.registry import get
    stream, sessions, benign_ids = build(Path(data), weeks, replays, seed)
    dets = {"ueba": [get("detector", "ueba")("bench")]}
    if with_sigma:
        dets["sigma+ueba"] = [get("detector", "sigma")("bench", min_level="medium"), get("detector", "ueba")("bench")]
    result: dict[str, Any] = {"events": len(stream), "benign_events": len(benign_ids), "weeks": weeks,
                              "principals": len({e.entity for e in stream})}
    for name, group in dets.items():
        findings = []
        for i in range(0, len(stream), batch):
            for d in group:
                findings.extend(d.process(stream[i:i + batch]))
        result[name] = _score(stream, sessions, benign_ids, findings)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--weeks", type=int, default=3)
    ap.add_argument("--replays", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.data, a.weeks, a.replays, a.seed)
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"{r['events']:,} events ({r['benign_events']:,} benign) over {r['weeks']} weeks, {r['principals']} principals")
    print(f"{'detectors':<11} {'background':<10} {'sessions':>9} {'alerted':>8} {'recall':>7} {'principal-h':>12} "
          f"{'false':>6} {'per 1,000 h':>11}")
    for name in ("ueba", "sigma+ueba"):
        for src in ("all", "scenario", "dev"):
            x = r.get(name, {}).get(src)
            if x:
                print(f"{name:<11} {src:<10} {x['sessions']:>9} {x['sessions_alerted']:>8} {x['session_recall']:>7.1%} "
                      f"{x['benign_principal_hours']:>12,} {x['false_alerts']:>6} "
                      f"{x['false_alerts_per_1000_principal_hours']:>11}")
    print("ueba missed:", len(r["ueba"]["missed"]), "sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
