"""Find and parse Sigma rule files; every file or rule that cannot be used is reported, not dropped."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

RULE_SUFFIXES = (".yml", ".yaml")


@dataclass
class Parsed:
    rules: list[tuple[SigmaRule, str]] = field(default_factory=list)
    correlations: list[tuple[SigmaCorrelationRule, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0


def rule_files(paths) -> tuple[list[Path], list[tuple[str, str]]]:
    """Rule files under the given files/dirs (sorted; example/fixture files skipped)."""
    out: list[Path] = []
    errors: list[tuple[str, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in RULE_SUFFIXES
                              and not _is_aux(f)))
        elif p.is_file():
            out.append(p)
        else:
            errors.append((str(p), "no such rule file or directory"))
    return out, errors


def _is_aux(f: Path) -> bool:
    n = f.name
    return ".examples." in n or n.startswith(("exclusions", "_")) or n.endswith((".tests.yml", ".tests.yaml"))


def _shape_problems(docs: list) -> list[str]:
    """What pySigma would crash on with an AttributeError instead of saying: a YAML document that
    is not a mapping, an `id` that is not a string."""
    problems = []
    for n, d in enumerate(docs, 1):
        if d is None:
            continue
        if not isinstance(d, dict):
            problems.append(f"document {n} is a {type(d).__name__}, not a Sigma rule (a mapping with title, "
                            "logsource and detection)")
        elif "id" in d and not isinstance(d["id"], str):
            problems.append(f"document {n}: id must be a string (a UUID), got {type(d['id']).__name__} {d['id']!r}")
    return problems


def parse_text(text: str, path: str, out: Parsed) -> None:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        out.errors.append((path, f"cannot parse: invalid YAML: {e}"))
        return
    problems = _shape_problems(docs)
    if problems:
        out.errors.extend((path, f"cannot parse: {p}") for p in problems)
        return
    try:
        # references are resolved by the engine across every loaded file (a correlation may name a
        # rule from another file); Sigma filters are collected, not silently applied
        coll = SigmaCollection.from_dicts(docs, collect_errors=True, resolve_references=False, collect_filters=True)
    except Exception as e:  # noqa: BLE001 - pySigma errors of many kinds
        out.errors.append((path, f"cannot parse: {type(e).__name__}: {e}"))
        return
    for r in coll.rules:
        if isinstance(r, SigmaCorrelationRule):
            out.correlations.append((r, path))
        elif isinstance(r, SigmaRule):
            out.rules.append((r, path))
        else:
            out.errors.append((path, f"{type(r).__name__} is not supported (use an exclusions file for filters)"))
    for _f in getattr(coll, "_filters", None) or getattr(coll, "filters", None) or []:
        out.errors.append((path, f"Sigma filter {getattr(_f, 'title', '')!r} is not supported: "
                                 "use a warden exclusions file (detectors.sigma.filters)"))
    seen = {str(e) for r in coll.rules for e in (r.errors or [])}
    for e in getattr(coll, "errors", []) or []:
        if str(e) not in seen:         # errors of a rule are reported with the rule
            out.errors.append((path, str(e)))


def parse_paths(paths) -> Parsed:
    files, errors = rule_files(paths)
    out = Parsed(errors=list(errors))
    for f in files:
        out.files += 1
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            out.errors.append((str(f), f"cannot read: {e}"))
            continue
        parse_text(text, str(f), out)
    return out
