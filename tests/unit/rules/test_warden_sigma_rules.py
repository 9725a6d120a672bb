"""Every warden Sigma rule loads, lints clean and behaves as its examples say (parametrized)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli.sigma_support import examples_file, lint_rules, test_rules as run_rule_tests
from detectors.sigma.detector import BUILTIN_RULES
from detectors.sigma.loader import rule_files

RULE_FILES, _ = rule_files([BUILTIN_RULES])


def test_rules_package_exists():
    import rules
    assert BUILTIN_RULES.is_dir() and rules.__doc__


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: str(p.relative_to(BUILTIN_RULES)))
def test_rule_examples(path: Path):
    ex = examples_file(path)
    assert ex.is_file(), f"{path.name} has no examples file"
    lines = [ln for ln in ex.read_text().splitlines() if ln.strip()]
    assert any('"expect": "match"' in ln for ln in lines) and any('"expect": "no-match"' in ln for ln in lines)
    report, status = run_rule_tests([path])
    assert report["errors"] == [] and report["failures"] == [], report
    assert status == 0 and report["passed"] == report["examples"] == len(lines)


def test_lint_clean_and_tags():
    report, status = lint_rules([BUILTIN_RULES])
    assert status == 0 and report["errors"] == []
    assert not [w for w in report["warnings"] if "unusual tag" in w["warning"] or "no examples" in w["warning"]]
    text = "".join(p.read_text() for p in RULE_FILES)
    assert "atlas.aml.t" in text and "attack.t" in text


def test_cli_functions_report_failures(tmp_path):
    rule = tmp_path / "r.yml"
    rule.write_text("title: R\nid: 99999999-0000-4000-8000-000000000000\nlogsource: {product: aws, service: cloudtrail}\n"
                    "detection:\n  selection: {eventName: StopLogging}\n  condition: selection\nlevel: high\ntags: [attack.t1562.008]\n")
    (tmp_path / "r.examples.jsonl").write_text(
        '{"expect": "match", "format": "cloudtrail", "event": {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "awsRegion": "us-east-1"}}\n'
        '{"expect": "match", "format": "cloudtrail", "event": {"eventName": "StartLogging", "eventSource": "cloudtrail.amazonaws.com", "awsRegion": "us-east-1"}}\n')
    report, status = run_rule_tests([tmp_path])
    assert status == 1 and report["passed"] == 1 and len(report["failures"]) == 1
    (tmp_path / "broken.yml").write_text("title: B\nlogsource: {product: aws}\ndetection: {condition: nothing}\n")
    report, status = lint_rules([tmp_path])
    assert status == 1 and any("broken.yml" in e["path"] for e in report["errors"])
