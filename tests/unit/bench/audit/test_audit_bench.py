"""The audit quality and throughput benchmarks run end to end on tiny inputs (not measured here)."""
from __future__ import annotations

import json

import pytest

from bench.audit import quality, throughput


def test_quality_main_on_tiny_dataset(tmp_path, capsys):
    (tmp_path / "audit").mkdir()
    (tmp_path / "sigma").mkdir()
    rows = [
        {"rule_id": "r", "rule_title": "t", "severity": "High", "log_type": "AWS.CloudTrail", "test_name": "a", "malicious": True,
         "event": {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z",
                   "userIdentity": {"type": "IAMUser", "userName": "x"}}},
        {"rule_id": "r", "rule_title": "t", "severity": "High", "log_type": "AWS.CloudTrail", "test_name": "b", "malicious": False,
         "event": {"eventName": "DescribeTrails", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z"}},
        {"rule_id": "r", "rule_title": "t", "severity": "High", "log_type": "GCP.AuditLog", "test_name": "c", "malicious": False,
         "event": {"operation": {"producer": "x"}}},
    ]
    (tmp_path / "audit" / "panther_test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    res = quality.main(tmp_path, tuned=False)
    assert res["AWS.CloudTrail"]["tp"] == 1 and res["AWS.CloudTrail"]["tn"] == 1
    assert res["GCP.AuditLog"]["unparsed"] == 1
    assert "precision" in capsys.readouterr().out


def test_throughput_runs_small():
    res = throughput.run(n_events=300, rules_dirs=[], repeat=1)
    assert res["events"] == 300 and res["events_per_s"] > 0


def test_quality_accepts_the_audit_folder_itself(tmp_path):
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "panther_x.jsonl").write_text(json.dumps(
        {"rule_id": "r", "rule_title": "t", "severity": "High", "log_type": "AWS.CloudTrail", "test_name": "a",
         "malicious": True, "event": {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
                                      "userIdentity": {"type": "IAMUser", "userName": "x"}}}))
    assert quality.resolve(tmp_path / "audit") == (tmp_path / "audit", tmp_path / "sigma")
    res = quality.main(tmp_path / "audit", tuned=False)
    assert res["AWS.CloudTrail"]["tp"] == 1


def test_quality_counts_label_conflicts_and_source_files(tmp_path):
    (tmp_path / "audit").mkdir()
    ev = {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z",
          "userIdentity": {"type": "IAMUser", "userName": "x"}}
    rows = [{"rule_id": r, "rule_title": "t", "severity": "High", "log_type": "AWS.CloudTrail", "test_name": r,
             "malicious": m, "event": ev} for r, m in (("a", True), ("b", False))]
    (tmp_path / "audit" / "panther_aws_cloudtrail_rules.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert quality.conflicting_events(quality.load_cases(tmp_path)) == {quality._canonical(ev)}
    res = quality.evaluate(tmp_path, ueba=False, sigmahq=False)
    assert res["AWS.CloudTrail"]["tp"] == 1 and res["AWS.CloudTrail"]["fp"] == 1
    assert res["AWS.CloudTrail"]["conflict"] == 1 and res["by_dataset"]["CloudTrail"]["conflict"] == 1


def test_quality_show_lists_the_cases_of_the_asked_cells_with_their_records(tmp_path):
    (tmp_path / "audit").mkdir()
    hit = {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z",
           "userIdentity": {"type": "IAMUser", "userName": "x"}}
    quiet = {"eventName": "DescribeTrails", "eventSource": "cloudtrail.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z"}
    rows = [{"rule_id": "r", "rule_title": "t", "severity": "High", "log_type": "AWS.CloudTrail", "test_name": n,
             "malicious": m, "event": e} for n, m, e in (("stop", False, hit), ("describe", True, quiet), ("tn", False, quiet))]
    (tmp_path / "audit" / "panther_aws_cloudtrail_rules.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    res = quality.main(tmp_path, tuned=False, show=quality.parse_show("fp,fn"))
    cases = quality.shown_cases(res)
    assert [(c["cell"], c["test"], c["line"]) for c in cases] == [("fp", "stop", 1), ("fn", "describe", 2)]
    assert cases[0]["event"] == hit and cases[0]["by"] and cases[0]["file"] == "panther_aws_cloudtrail_rules.jsonl"
    assert quality.shown_cases(res, "GCP.AuditLog") == []
    assert "cases" not in quality.main(tmp_path, tuned=False)


def test_quality_show_rejects_unknown_cells():
    with pytest.raises(ValueError):
        quality.parse_show("fp,fx")
