"""UEBA on attack sessions injected into weeks of benign audit traffic (background.py).

    PYTHONPATH=. python -m bench.ueba.sessions [--data ../shared/data] [--weeks 3] [--replays 3] [--seed 7]
                                               [--dev-background scattered|daily] [--warmup-days 0]
                                               [--budget 1.0] [--no-sigma] [--json]

What counts is what a user receives: the detector's findings are grouped into alerts by warden's policies
(alerts.py). A session is alerted when an alert holds one of its events; a false alert holds benign
events only; the rate is per 1,000 benign principal-hours ((principal, hour) pairs with a benign event).
The detector's parameters (evidence threshold, per-event allowance and cap) are chosen inside training
folds only (folds.py: leave one source out of scenario / aws / k8s / gcp); the figures that count are
each held-out fold's and the worst of them. For reference: every parameter set on all the data, the
detector's defaults, and the default audit detectors (Sigma rules + UEBA).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.ueba.alerts import group_alerts
from bench.ueba.background import DEV_BACKGROUNDS, Stream, build
from bench.ueba.folds import Scored, leave_one_fold_out, score

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
#: the parameter sets compared (evidence threshold h, allowance k per event, cap per event), in bits
GRID = {"threshold": (8.0, 12.0, 16.0, 24.0, 32.0), "allowance": (1.0, 3.0), "event_cap": (12.0, 64.0)}


def grid() -> list[dict[str, float]]:
    keys = list(GRID)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(GRID[k] for k in keys))]


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


def evaluate(stream: Stream, detectors: list, warmup: float = 0.0) -> tuple[Scored, float]:
    from policy.policies import PolicySet
    findings, secs = run_detectors(stream, detectors)
    return score(stream, group_alerts(findings, PolicySet.load()), warmup), secs


def run(data: Path = DEFAULT_DATA, weeks: int = 3, replays: int = 3, seed: int = 7, budget: float = 1.0,
        with_sigma: bool = True, param_sets: list[dict[str, float]] | None = None,
        dev_background: str = "scattered", warmup_days: float = 0.0) -> dict[str, Any]:
    from core.registry import get
    ueba = get("detector", "ueba")
    stream = build(Path(data), weeks, replays, seed, dev_background)
    warmup = warmup_days * 86400.0
    results: dict[str, Scored] = {}
    speed: dict[str, float] = {}
    for params in (grid() if param_sets is None else param_sets):
        results[label(params)], secs = evaluate(stream, [ueba("bench", **params)], warmup)
        speed[label(params)] = len(stream.events) / secs
    held = leave_one_fold_out(results, budget)
    out: dict[str, Any] = {
        "events": len(stream.events), "benign_events": len(stream.benign_fold), "weeks": weeks,
        "dev_background": dev_background, "warmup_days": warmup_days,
        "principals": len({e.entity for e in stream.events}), "budget_per_1000h": budget,
        "held_out": [{"fold": h.fold, "params": h.params, "train": _fs(h.train), "test": _fs(h.test)} for h in held],
        "worst_fold": {"recall": min(h.test.recall for h in held if h.test.sessions),
                       "false_per_1000h": max(h.test.false_per_1000h for h in held)},
        "all_data": {name: {"total": _fs(r.total()), "folds": {f: _fs(s) for f, s in r.folds.items()}}
                     for name, r in results.items()},
        "events_per_second": {name: round(v) for name, v in speed.items()}}
    defaults, secs = evaluate(stream, [ueba("bench")], warmup)
    out["defaults"] = {"total": _fs(defaults.total()), "folds": {f: _fs(s) for f, s in defaults.folds.items()},
                       "missed": defaults.missed, "false_alert_rules": defaults.false_rules,
                       "events_per_second": round(len(stream.events) / secs)}
    if with_sigma:
        both, _ = evaluate(stream, [get("detector", "sigma")("bench", min_level="medium"), ueba("bench")], warmup)
        out["sigma+ueba"] = {"total": _fs(both.total()), "folds": {f: _fs(s) for f, s in both.folds.items()}}
    return out


def _fs(s) -> dict[str, Any]:
    return {**asdict(s), "recall": round(s.recall, 3), "false_per_1000h": round(s.false_per_1000h, 2)}


def _row(name: str, s: dict[str, Any]) -> str:
    return (f"{name:<40} {s['sessions']:>8} {s['alerted']:>7} {s['recall']:>7.1%} {s['benign_hours']:>11,} "
            f"{s['false_alerts']:>6} {s['false_per_1000h']:>10.2f}")


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
    ap.add_argument("--no-sigma", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = run(a.data, a.weeks, a.replays, a.seed, a.budget, with_sigma=not a.no_sigma, dev_background=a.dev_background,
            warmup_days=a.warmup_days)
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"{r['events']:,} events ({r['benign_events']:,} benign) over {r['weeks']} weeks, {r['principals']} principals, "
          f"dev background {r['dev_background']}, warm-up {r['warmup_days']:g} days not counted")
    head = f"{'':<40} {'sessions':>8} {'alerted':>7} {'recall':>7} {'principal-h':>11} {'false':>6} {'per 1000h':>10}"
    print("\nheld out (parameters chosen on the other folds):\n" + head)
    for h in r["held_out"]:
        print(_row(f"{h['fold']}  [{h['params']}]", h["test"]))
    w = r["worst_fold"]
    print(f"worst fold: recall {w['recall']:.1%}, {w['false_per_1000h']:.2f} false alerts per 1,000 principal-hours")
    print("\nall data, each parameter set:\n" + head)
    for name, x in r["all_data"].items():
        print(_row(name, x["total"]) + f"   {r['events_per_second'][name]:,} ev/s")
    print("\ndefaults, per fold:\n" + head)
    for f, s in r["defaults"]["folds"].items():
        print(_row(f"ueba {f}", s))
    print(_row("ueba all", r["defaults"]["total"]) + f"   {r['defaults']['events_per_second']:,} ev/s")
    if "sigma+ueba" in r:
        print(_row("sigma+ueba all", r["sigma+ueba"]["total"]))
    print("false alerts by rule (defaults):", r["defaults"]["false_alert_rules"])
    print("missed (defaults):", len(r["defaults"]["missed"]), "sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
