"""Detection quality on labelled audit events: precision / recall per log type.

    PYTHONPATH=. .venv/bin/python -m bench.audit.quality [DATA_DIR] [-v] [--show fp,fn[,tp,tn]] [--log-type T]

-v prints every false positive / false negative (case, test name, the findings that named it) for the
untuned run and, prefixed with "run": "tuned", for the run with site exclusions.
--show CELLS prints, after the tables, each case of those cells of the reported (tuned) run as a JSON
line with its source file and line, whether it is a label conflict, the findings that named it and the
record itself (--log-type keeps one log type), to read each false positive and miss next to its event.
    warden bench audit --data ../shared/data/audit [--json]

Reads DATA_DIR/audit/panther_*.jsonl (default ../shared/data; DATA_DIR may also be the audit folder
itself, SigmaHQ rules are then taken from its sibling sigma/), parses each `event` with the
format for its shape (auto-detection, falling back to the log type's format), runs the sigma
detector (all SigmaHQ rules in DATA_DIR/sigma plus warden's own) and the ueba detector, and counts
an event as alerted when any finding names it. Each test case is an independent scenario:
detector state (correlation windows, baselines) is reset to empty before each case.
Rows are per panther log type (Amazon.EKS.Audit holds EKS and generic Kubernetes cases, GCP.AuditLog
GCP and GKE ones) and per source file. "conflict" counts the false positives and misses on events that
occur with both labels in the data set (the same record apart from its ids, times and key case): no
detector can get both of those cases right.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from collectors.formats import FormatError, parse_record

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
MIN_LEVEL = "medium"   # low/informational SigmaHQ rules are hunting signals: not run
# warden's own rules run at every level: their low and informational findings add risk to a principal
# (policy/risk.py) instead of alerting alone, and they are findings all the same (counted here)
LOG_TYPE_FORMAT = {"AWS.CloudTrail": "cloudtrail", "Amazon.EKS.Audit": "k8s-audit", "GCP.AuditLog": "gcp-audit"}
# panther's log types merge sources: Amazon.EKS.Audit holds its EKS and its generic Kubernetes cases,
# GCP.AuditLog its GCP and its GKE cases. The issue asks for CloudTrail, Kubernetes, GCP, EKS and GKE,
# so results are also reported per source file.
DATASET = {"panther_aws_cloudtrail_rules.jsonl": "CloudTrail", "panther_kubernetes_rules.jsonl": "Kubernetes",
           "panther_aws_eks_rules.jsonl": "EKS", "panther_gcp_audit_rules.jsonl": "GCP",
           "panther_gcp_k8s_rules.jsonl": "GKE"}


def dataset_of(file_name: str) -> str:
    return DATASET.get(file_name, file_name.removeprefix("panther_").removesuffix(".jsonl"))


def resolve(data_dir: Path) -> tuple[Path, Path]:
    """(folder of panther_*.jsonl, folder of SigmaHQ rules) for either the data root or its audit/."""
    data_dir = Path(data_dir)
    if any(data_dir.glob("panther_*.jsonl")):
        audit = data_dir
        sigma = data_dir / "sigma" if (data_dir / "sigma").is_dir() else data_dir.parent / "sigma"
    else:
        audit, sigma = data_dir / "audit", data_dir / "sigma"
    return audit, sigma


def load_cases(data_dir: Path) -> list[dict]:
    cases = []
    for f in sorted(resolve(data_dir)[0].glob("panther_*.jsonl")):
        for i, line in enumerate(f.read_text().splitlines()):
            if line.strip():
                d = json.loads(line)
                d["_file"], d["_line"] = f.name, i + 1
                cases.append(d)
    return cases


def parse_case(case: dict) -> tuple[list, str | None]:
    rec = case["event"]
    try:
        return parse_record(rec, "auto", "bench/panther"), None
    except FormatError as e:
        fmt = LOG_TYPE_FORMAT.get(case.get("log_type", ""))
        if fmt is None:
            return [], str(e)
        try:
            return parse_record(rec, fmt, "bench/panther"), None
        except FormatError as e2:
            return [], str(e2)


EXCLUSIONS = Path(__file__).with_name("exclusions.yml")


def build_detectors(data_dir: Path, ueba: bool = True, tuned: bool = False, sigmahq: bool = True) -> list:
    from core.registry import get
    sigma = resolve(data_dir)[1]
    filters = {"filters": str(EXCLUSIONS)} if tuned else {}
    dets = [get("detector", "sigma")("bench", **filters)]
    if sigma.is_dir() and sigmahq:
        dets.append(get("detector", "sigma")("sigmahq", rules=[str(sigma)], builtin_rules=False,
                                             min_level=MIN_LEVEL, **filters))
    if ueba:
        try:
            dets.append(get("detector", "ueba")("bench"))
        except Exception:  # noqa: BLE001 - ueba optional in early versions
            pass
    return dets


CELLS = ("tp", "fp", "fn", "tn", "unparsed", "conflict")


def conflicting_events(cases: list[dict]) -> set[bytes]:
    """Events that occur in a malicious and in a benign case (each case labels one rule's intent, so the
    same record can be an attack for one rule and benign for another), compared without their ids, times
    and key case: whatever a detector does with such an event, one of its cases counts as a false
    positive or a miss."""
    labels: dict[bytes, set[bool]] = defaultdict(set)
    for c in cases:
        labels[_canonical(c["event"])].add(bool(c["malicious"]))
    return {k for k, v in labels.items() if len(v) > 1}


# a record's own identity and times: two records that differ only in these describe the same action
_VOLATILE = frozenset({"insertid", "eventid", "requestid", "auditid", "sharedeventid", "timestamp",
                       "receivetimestamp", "eventtime", "requestreceivedtimestamp", "stagetimestamp"})


def _canonical(event: Any) -> bytes:
    """The record with key case folded (formats read keys case-insensitively) and its ids and times left out."""
    def fold(v: Any) -> Any:
        if isinstance(v, dict):
            return {k.lower(): fold(x) for k, x in v.items() if k.lower() not in _VOLATILE}
        if isinstance(v, list):
            return [fold(x) for x in v]
        return v
    return json.dumps(fold(event), sort_keys=True).encode()


def evaluate(data_dir: Path, ueba: bool = True, verbose: bool = False, tuned: bool = False,
             sigmahq: bool = True, show: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Counts per log type and source file; verbose adds "misses" (fp/fn), show adds "cases" (the cases of
    those cells with their records)."""
    cases = load_cases(data_dir)
    dets = build_detectors(data_dir, ueba, tuned, sigmahq)
    conflicts = conflicting_events(cases)
    per: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CELLS, 0))
    by_set: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CELLS, 0))
    misses: list = []
    shown: list = []
    fresh = [d.snapshot() for d in dets]
    for case in cases:
        # each test case is an independent scenario: start every case from the empty state, so a
        # correlation never joins events of unrelated cases (most carry no timestamp at all)
        for d, blob in zip(dets, fresh):
            d.restore(blob)
        events, err = parse_case(case)
        key = case["log_type"]
        alerted_by: list[str] = []
        if events:
            ids = {e.id for e in events}
            for d in dets:
                for f in d.process(events):
                    if ids.intersection(f.event_ids):
                        alerted_by.append(f"{f.detector}:{f.title}")
        else:
            per[key]["unparsed"] += 1
            by_set[dataset_of(case["_file"])]["unparsed"] += 1
        mal = bool(case["malicious"])
        hit = bool(alerted_by)
        cell = ("tp" if hit else "fn") if mal else ("fp" if hit else "tn")
        per[key][cell] += 1
        by_set[dataset_of(case["_file"])][cell] += 1
        conflict = cell in ("fp", "fn") and _canonical(case["event"]) in conflicts
        if conflict:
            per[key]["conflict"] += 1
            by_set[dataset_of(case["_file"])]["conflict"] += 1
        if cell in show:
            shown.append({"cell": cell, "log_type": key, "file": case["_file"], "line": case["_line"],
                          "rule_id": case["rule_id"], "test": case["test_name"], "conflict": conflict,
                          "by": alerted_by, "err": err, "event": case["event"]})
        if cell in ("fp", "fn"):
            misses.append({"cell": cell, "log_type": key, "dataset": dataset_of(case["_file"]), "rule_id": case["rule_id"],
                           "test": case["test_name"], "by": alerted_by[:3], "err": err})
    out: dict[str, Any] = {lt: _rates(c) for lt, c in sorted(per.items())}
    out["all"] = _rates({k: sum(c[k] for c in per.values()) for k in CELLS})
    out["by_dataset"] = {ds: _rates(by_set[ds]) for ds in sorted(by_set, key=_dataset_order)}
    if verbose:
        out["misses"] = misses
    if show:
        out["cases"] = shown
    return out


def _rates(c: dict[str, int]) -> dict[str, Any]:
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return {**c, "precision": round(p, 4), "recall": round(r, 4)}


def _dataset_order(name: str) -> int:
    order = list(DATASET.values())
    return order.index(name) if name in order else len(order)


def _print(title: str, res: dict[str, Any]) -> None:
    print(title)
    print(f"  {'log type':<20} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4} {'unparsed':>8} {'precision':>9} {'recall':>7}"
          f" {'conflict':>8}")
    rows = [(lt, c) for lt, c in res.items() if lt not in ("misses", "cases", "by_dataset")]
    rows += [(f"  source {ds}", c) for ds, c in res.get("by_dataset", {}).items()]
    for lt, c in rows:
        print(f"  {lt:<20} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} {c['tn']:>4} {c['unparsed']:>8} "
              f"{c['precision']:>9.3f} {c['recall']:>7.3f} {c['conflict']:>8}")


def main(data_dir: str | Path | None = None, verbose: bool = False, tuned: bool | None = None,
         show: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Print precision/recall per log type; returns the untuned result (plus "tuned" when run). show: the
    cells whose cases the reported run (tuned when run, else untuned) returns under "cases"."""
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA
    if tuned is None:
        tuned = EXCLUSIONS.is_file() and resolve(data_dir)[1].is_dir()
    res = evaluate(data_dir, verbose=verbose, show=frozenset() if tuned else show)
    _print(f"sigma (SigmaHQ rules at min_level={MIN_LEVEL}, warden's at every level) + ueba, no site tuning:", res)
    if tuned:
        res["tuned"] = evaluate(data_dir, verbose=verbose, tuned=True, show=show)
        _print(f"same, with site exclusions {EXCLUSIONS.name} (false positives SigmaHQ rules document):",
               res["tuned"])
        res["warden_only"] = evaluate(data_dir, verbose=False, sigmahq=False)
        _print("for reference, warden's own rules + ueba without the SigmaHQ rules:", res["warden_only"])
    return res


def parse_show(value: str) -> frozenset[str]:
    """"fp,fn" -> {"fp", "fn"}; only the confusion cells (tp, fp, fn, tn)."""
    cells = frozenset(c.strip() for c in value.split(",") if c.strip())
    bad = cells - {"tp", "fp", "fn", "tn"}
    if bad:
        raise ValueError(f"--show takes tp, fp, fn, tn; not {', '.join(sorted(bad))}")
    return cells


def shown_cases(res: dict[str, Any], log_type: str | None = None) -> list[dict]:
    """The cases --show asked for, of the reported run (tuned when it ran), optionally of one log type."""
    cases = res.get("tuned", res).get("cases", [])
    return [c for c in cases if log_type in (None, c["log_type"])]


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.audit.quality")
    ap.add_argument("data", nargs="?")
    ap.add_argument("-v", action="store_true", dest="verbose")

    def show_cells(value: str) -> frozenset[str]:
        try:
            return parse_show(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    ap.add_argument("--show", type=show_cells, default=frozenset(), help="cells whose cases to print: fp,fn,tp,tn")
    ap.add_argument("--log-type", default=None, help="with --show: only this log type")
    a = ap.parse_args()
    r = main(a.data, verbose=a.verbose, show=a.show)
    if a.verbose:
        for m in r.get("misses", []):
            print(json.dumps(m))
        for m in r.get("tuned", {}).get("misses", []):
            print(json.dumps({"run": "tuned", **m}))
    for c in shown_cases(r, a.log_type):
        print(json.dumps(c))
