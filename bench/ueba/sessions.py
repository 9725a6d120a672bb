"""UEBA on attack sessions injected into weeks of benign audit traffic (background.py).

    PYTHONPATH=. python -m bench.ueba.sessions [--data ../shared/data] [--weeks 3] [--replays 3] [--seed 7]
                                               [--dev-background scattered|daily] [--warmup-days 0]
                                               [--budget 1.0] [--no-sigma] [--json]

What counts is what a user receives: the detector's findings are grouped into alerts by warden's policies
(alerts.py). A session is alerted when an alert holds one of its events (column "alone": its own findings
alone open an alert — not only joined one of the same principal that another session or a benign record
opened); a false alert holds benign events only; the rate is per 1,000 benign principal-hours ((principal,
hour) pairs with a benign event).
The detector's parameters (evidence threshold, per-event allowance and cap) are chosen inside training
folds only (folds.py: leave one source out of scenario / aws / k8s / gcp); the figures that count are
each held-out fold's and the worst of them, for UEBA alone and for what warden runs on audit logs by
default (agent.config.DEFAULT_DETECTORS: the Sigma rules with their correlations, and UEBA), grouped with
warden's risk-based alerting (policy/risk.py: a low or informational Sigma finding adds risk to its principal
and alerts only with `distinct` different rules within `window`); UEBA's parameters and the risk rule's
`distinct` and `window` are chosen leave-one-fold-out together, on the combined alerts. For reference: every
parameter set on all the data and the detectors' defaults (with the policies' own risk rule, and with risk
off: every finding alerting on its own), with their false alerts by rule and by cause.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.ueba.alerts import group_alerts, with_risk
from bench.ueba.background import DEV_BACKGROUNDS, Stream, build
from bench.ueba.folds import Scored, choose, leave_one_fold_out, score
from policy.policies import PolicySet
from policy.risk import RiskRule

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
#: the parameter sets compared (evidence threshold h, allowance k per event, cap per event), in bits
GRID = {"threshold": (8.0, 12.0, 16.0, 24.0, 32.0), "allowance": (1.0, 3.0), "event_cap": (12.0, 64.0)}
#: the risk rules compared (policy/risk.py): different low rules that open an alert, within how long (s)
RISK_GRID = {"distinct": (2, 3), "window": (3600.0, 86400.0)}


def grid() -> list[dict[str, float]]:
    keys = list(GRID)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(GRID[k] for k in keys))]


def risk_grid(base: RiskRule) -> list[RiskRule]:
    return [dataclasses.replace(base, distinct=d, window=w) for d in RISK_GRID["distinct"] for w in RISK_GRID["window"]]


def risk_label(rule: RiskRule | None) -> str:
    return "risk off" if rule is None else f"distinct={rule.distinct} window={rule.window / 3600:g}h"


def label(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"


def run_detectors(stream: Stream, detectors: list, batch: int = 500) -> tuple[list, float]:
    """All findings of `detectors` over the stream in batches, and the seconds it took."""
    findings = []
    t = time.perf_counter()
    for i in range(0, len(stream.events), batch):
        chunk = stream.events[i:i + batch]
        for d in detectors:
            findings.extend(d.process(chunk))
    return findings, time.perf_counter() - t


def default_audit_detectors() -> list:
    """The audit detectors warden runs when its config names none (agent.config.DEFAULT_DETECTORS), each
    with its default options, except UEBA (the bench runs that one with each parameter set)."""
    from agent.config import DEFAULT_DETECTORS
    from core.registry import get
    out = []
    for name, opts in DEFAULT_DETECTORS.items():
        kind, _, inst = name.partition("/")
        cls = get("detector", kind)
        if kind != "ueba" and "audit" in cls.event_kinds:
            out.append(cls(inst, **opts))
    return out


def evaluate(stream: Stream, findings: list, warmup: float = 0.0, policies: PolicySet | None = None) -> Scored:
    """Scored alerts of `findings` under `policies` (default warden's built-in ones, their risk rule included)."""
    policies = policies or PolicySet.load()
    return score(stream, group_alerts(findings, policies), warmup, alerted_alone(stream, findings, policies))


def alerted_alone(stream: Stream, findings: list, policies: PolicySet) -> frozenset[str]:
    """The sessions whose own findings (on the session's events only) open an alert with no other finding."""
    by_event: dict[str, list] = {}
    for f in findings:
        for i in f.event_ids:
            by_event.setdefault(i, []).append(f)
    out = set()
    for s in stream.sessions:
        ids = {e.id for e in s.events}
        mine = {f.id: f for i in ids for f in by_event.get(i, ()) if ids.issuperset(f.event_ids)}
        if mine and group_alerts(mine.values(), policies):
            out.add(s.name)
    return frozenset(out)


def _held(results: dict[str, Scored], budget: float) -> dict[str, Any]:
    held = leave_one_fold_out(results, budget)
    return {"all_folds_choice": choose(results, sorted({f for r in results.values() for f in r.folds}), budget),
            "folds": [{"fold": h.fold, "params": h.params, "train": _fs(h.train), "test": _fs(h.test)} for h in held],
            "worst_fold": {"recall": min(h.test.recall for h in held if h.test.sessions),
                           "recall_alone": min(h.test.alerted_alone / h.test.sessions for h in held if h.test.sessions),
                           "false_per_1000h": max(h.test.false_per_1000h for h in held)}}


def _detail(r: Scored) -> dict[str, Any]:
    return {"total": _fs(r.total()), "folds": {f: _fs(s) for f, s in r.folds.items()}, "missed": r.missed,
            "false_alert_rules": r.false_rules, "false_alert_causes": r.false_causes}


def run(data: Path = DEFAULT_DATA, weeks: int = 3, replays: int = 3, seed: int = 7, budget: float = 1.0,
        with_rules: bool = True, param_sets: list[dict[str, float]] | None = None,
        dev_background: str = "scattered", warmup_days: float = 0.0) -> dict[str, Any]:
    """UEBA alone and UEBA with the other default audit detectors (Sigma rules and their correlations),
    each parameter set on every fold (with the rules: each also with every risk rule of RISK_GRID), the
    parameters chosen leave-one-fold-out for each."""
    from core.registry import get
    ueba = get("detector", "ueba")
    stream = build(Path(data), weeks, replays, seed, dev_background)
    warmup = warmup_days * 86400.0
    others = default_audit_detectors() if with_rules else []
    rule_findings, rule_secs = run_detectors(stream, others)
    titles = {f.rule: f.title for f in rule_findings}
    alone: dict[str, Scored] = {}
    combined: dict[str, Scored] = {}
    speed: dict[str, float] = {}
    policies = PolicySet.load()
    risks = {risk_label(r): with_risk(policies, r) for r in risk_grid(policies.risk or RiskRule())}
    for params in (grid() if param_sets is None else param_sets):
        name = label(params)
        found, secs = run_detectors(stream, [ueba("bench", **params)])
        speed[name] = len(stream.events) / secs
        alone[name] = evaluate(stream, found, warmup, policies)
        for rname, rpolicies in risks.items() if with_rules else ():
            combined[f"{name} {rname}"] = evaluate(stream, found + rule_findings, warmup, rpolicies)
    found, secs = run_detectors(stream, [ueba("bench")])
    out: dict[str, Any] = {
        "events": len(stream.events), "benign_events": len(stream.benign_fold), "weeks": weeks,
        "dev_background": dev_background, "warmup_days": warmup_days,
        "principals": len({e.entity for e in stream.events}), "budget_per_1000h": budget,
        "conflict_events": len(stream.conflict),
        "ueba": {"held_out": _held(alone, budget), "all_data": {n: _fs(r.total()) for n, r in alone.items()},
                 "defaults": _detail(evaluate(stream, found, warmup))},
        "events_per_second": {name: round(v) for name, v in speed.items()},
        "ueba_defaults_events_per_second": round(len(stream.events) / secs),
        "rule_titles": titles}
    if with_rules:
        out["combined"] = {"detectors": [d.name for d in others] + ["ueba/bench"],
                           "held_out": _held(combined, budget),
                           "all_data": {n: _fs(r.total()) for n, r in combined.items()},
                           "risk": risk_label(policies.risk),
                           "defaults": _detail(evaluate(stream, found + rule_findings, warmup, policies)),
                           "defaults_risk_off": _detail(evaluate(stream, found + rule_findings, warmup,
                                                                 with_risk(policies, None))),
                           "rules_events_per_second": round(len(stream.events) / rule_secs) if rule_secs else 0}
    return out


def _fs(s) -> dict[str, Any]:
    return {**asdict(s), "recall": round(s.recall, 3), "false_per_1000h": round(s.false_per_1000h, 2)}


def _row(name: str, s: dict[str, Any]) -> str:
    return (f"{name:<44} {s['sessions']:>8} {s['alerted']:>7} {s['recall']:>7.1%} {s['alerted_alone']:>5} "
            f"{s['benign_hours']:>11,} {s['false_alerts']:>6} {s['false_per_1000h']:>10.2f} {s['conflict_alerts']:>9}")


HEAD = (f"{'':<44} {'sessions':>8} {'alerted':>7} {'recall':>7} {'alone':>5} {'principal-h':>11} {'false':>6} "
        f"{'per 1000h':>10} {'conflict':>9}")


def _print_part(title: str, part: dict[str, Any], titles: dict[str, str]) -> None:
    print(f"\n{title}, held out (parameters chosen on the other folds):\n" + HEAD)
    for h in part["held_out"]["folds"]:
        print(_row(f"{h['fold']}  [{h['params']}]", h["test"]))
    w = part["held_out"]["worst_fold"]
    print(f"worst fold: recall {w['recall']:.1%} (by their own findings alone {w['recall_alone']:.1%}), "
          f"{w['false_per_1000h']:.2f} false alerts per 1,000 principal-hours")
    print(f"the same procedure on all folds chooses [{part['held_out']['all_folds_choice']}] (the defaults)")
    _print_defaults(f"{title}, detector defaults", part["defaults"], titles)


def _print_defaults(title: str, d: dict[str, Any], titles: dict[str, str]) -> None:
    print(f"{title}, per fold:\n" + HEAD)
    for f, s in d["folds"].items():
        print(_row(f, s))
    print(_row("all", d["total"]))
    print("false alerts by cause:", d["false_alert_causes"])
    print("false alerts by rule:")
    for rules, n in sorted(d["false_alert_rules"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:>4}  " + " + ".join(f"{titles.get(r, r)} ({r[:8]})" for r in rules.split("+")))
    print("missed:", len(d["missed"]), "sessions")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--weeks", type=int, default=3)
    ap.add_argument("--replays", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dev-background", choices=DEV_BACKGROUNDS, default="scattered",
                    help="benign dev records as one-off calls at random moments, or as a daily routine")
    ap.add_argument("--warmup-days", type=float, default=0.0,
                    help="days from the start in which false alerts and benign hours are not counted (a baseline period)")
    ap.add_argument("--budget", type=float, default=1.0, help="false alerts per 1,000 principal-hours allowed")
    ap.add_argument("--no-sigma", action="store_true", help="UEBA alone only (no Sigma rules)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.data, a.weeks, a.replays, a.seed, a.budget, with_rules=not a.no_sigma, dev_background=a.dev_background,
            warmup_days=a.warmup_days)
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"{r['events']:,} events ({r['benign_events']:,} benign) over {r['weeks']} weeks, {r['principals']} principals, "
          f"dev background {r['dev_background']}, warm-up {r['warmup_days']:g} days not counted; "
          f"{r['conflict_events']:,} benign events are copies of records labelled malicious elsewhere: an alert on "
          f"them only is counted apart (conflict), not as false")
    print("\nUEBA alone, all data, each parameter set:\n" + HEAD)
    for name, x in r["ueba"]["all_data"].items():
        print(_row(name, x) + f"   {r['events_per_second'][name]:,} ev/s")
    _print_part("UEBA alone", r["ueba"], r["rule_titles"])
    if "combined" in r:
        c = r["combined"]
        _print_part(f"Warden's audit detectors ({', '.join(c['detectors'])}; policies' {c['risk']})", c,
                    r["rule_titles"])
        _print_defaults("For reference, the same with risk off (every finding alerts on its own)",
                        c["defaults_risk_off"], r["rule_titles"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
