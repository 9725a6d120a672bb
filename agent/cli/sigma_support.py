"""`warden rules test` / `warden rules lint` as importable functions.

test_rules(paths) -> (report, exit_status): loads every rule file under `paths` (default: warden's
rules/sigma) and replays its examples file (`<rule>.examples.jsonl`: one JSON object a line with
`expect` "match"|"no-match", `format`, `event` or `events`, optional `rule` id) through a fresh
engine holding only that rule file; exit status 0 when every example behaves as expected.

lint_rules(paths) -> (report, exit_status): parses and compiles every rule; reports compile errors,
missing id/title/level/tags, ATT&CK/ATLAS tag presence, rules that no audit logsource reaches, and
rules without examples. Exit status 1 on errors, 0 otherwise (warnings do not fail).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from collectors.formats import FormatError, parse_record
from detectors.sigma.detector import BUILTIN_RULES
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.loader import parse_paths, rule_files

_TAG = re.compile(r"^(attack\.(t\d{4}(\.\d{3})?|[a-z-]+|g\d{4}|s\d{4})|atlas\.aml\.t\d{4}(\.\d{3})?|cve\.\d{4}-\d+|car\.[\d-]+|detection\.[a-z-]+|tlp\.[a-z]+|stp\.\w+)$")


def _paths(paths: Iterable | None) -> list[Path]:
    ps = [Path(p) for p in (paths or [])]
    return ps or [BUILTIN_RULES]


def examples_file(rule_file: Path) -> Path:
    return rule_file.with_name(rule_file.name.rsplit(".", 1)[0] + ".examples.jsonl")


def _events(ex: dict, where: str) -> list:
    recs = ex.get("events") if "events" in ex else [ex.get("event")]
    out = []
    for i, r in enumerate(recs or []):
        out.extend(parse_record(r, ex.get("format", "auto"), f"rules-test/{where}:{i}"))
    return out


def _nothing_there(paths: list, files: list) -> list[dict[str, str]]:
    """An error when the paths hold no rule file: "0 failures" over no rule is not a pass."""
    if files:
        return []
    return [{"path": ", ".join(str(p) for p in paths), "reason": "no Sigma rule files (*.yml, *.yaml) there"}]


def _without_rules(files: list[Path]) -> list[dict[str, str]]:
    """An error for each file that holds no rule and had no error of its own (an empty file, a
    YAML file of something else): linting or testing it reported 0 errors, exit 0."""
    parsed = parse_paths(files)
    seen = {str(p) for _, p in (*parsed.rules, *parsed.correlations)} | {str(p) for p, _ in parsed.errors}
    return [{"path": str(f), "reason": "no Sigma rule in it (empty, or not a Sigma rule file)"}
            for f in files if str(f) not in seen]


def test_rules(paths: Iterable | None = None) -> tuple[dict[str, Any], int]:
    """Run every rule's examples. Returns (report, exit status); report["failures"] lists what broke."""
    ps = _paths(paths)
    files, missing = rule_files(ps)
    report: dict[str, Any] = {"rules": 0, "examples": 0, "passed": 0, "failures": [], "no_examples": [],
                              "errors": [{"path": p, "reason": r} for p, r in missing] + _nothing_there(ps, files)
                              + _without_rules(files)}
    for f in files:
        eng = SigmaEngine(lateness=3600.0, detector_name="rules-test/default")
        eng.load_paths([f])
        report["rules"] += 1
        for p, r in eng.errors:
            report["errors"].append({"path": p, "reason": r})
        exf = examples_file(f)
        if not exf.is_file():
            report["no_examples"].append(str(f))
            continue
        for n, line in enumerate(exf.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{exf}:{n}"
            report["examples"] += 1
            try:
                ex = json.loads(line)
                want = ex["expect"]
                if want not in ("match", "no-match"):
                    raise ValueError(f"expect must be match or no-match, got {want!r}")
                events = _events(ex, where)
            except (ValueError, KeyError, TypeError, FormatError) as e:
                report["failures"].append({"example": where, "reason": f"bad example: {e}"})
                continue
            eng2 = SigmaEngine(lateness=3600.0, detector_name="rules-test/default")
            eng2.load_paths([f])
            findings = eng2.process(events)
            rule_id = ex.get("rule")
            hits = [x for x in findings if rule_id is None or x.rule == rule_id]
            ok = bool(hits) == (want == "match")
            if ok:
                report["passed"] += 1
            else:
                report["failures"].append({"example": where, "expect": want, "note": ex.get("note", ""),
                                           "got": [x.title for x in findings]})
    status = 0 if not report["failures"] and not report["errors"] else 1
    return report, status


def lint_rules(paths: Iterable | None = None) -> tuple[dict[str, Any], int]:
    """Parse and compile every rule; report errors and style warnings. Returns (report, exit status)."""
    ps = _paths(paths)
    parsed = parse_paths(ps)
    eng = SigmaEngine()
    eng.load_paths(ps)
    files = rule_files(ps)[0]
    errors = [{"path": p, "reason": r} for p, r in eng.errors] + _nothing_there(ps, files) + _without_rules(files)
    warnings: list[dict[str, str]] = []
    for rule, path in [*parsed.rules, *parsed.correlations]:
        where = f"{path}: {rule.title or '<untitled>'}"
        if not rule.id:
            warnings.append({"rule": where, "warning": "no id (findings use the title as rule id)"})
        if not rule.level:
            warnings.append({"rule": where, "warning": "no level (severity defaults to medium)"})
        tags = [str(t) for t in rule.tags]
        if not any(t.startswith("attack.") for t in tags):
            warnings.append({"rule": where, "warning": "no ATT&CK (attack.*) tag"})
        for t in tags:
            if not _TAG.match(t):
                warnings.append({"rule": where, "warning": f"unusual tag {t!r}"})
    for r in eng.rules:
        if not r.sources:
            warnings.append({"rule": f"{r.path}: {r.title}", "warning": f"logsource {r.logsource} is not an audit stream warden reads"})
    for f in files:
        if not examples_file(f).is_file():
            warnings.append({"rule": str(f), "warning": "no examples file"})
    report = {"files": parsed.files, "rules": len(eng.rules), "correlations": len(eng.correlations),
              "errors": errors, "warnings": warnings}
    return report, (1 if errors else 0)
