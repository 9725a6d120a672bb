"""Differential check of warden's Sigma engine against pySigma's SQLite backend (SigmaHQ's reference
backend for pySigma 2), every rule x every development audit record.

Every rule (the SigmaHQ rules in ../shared/data/sigma and warden's rules/sigma) is evaluated by warden
(`SigmaEngine.match`, what the detector alerts on) and by the backend's SQL over the same record flattened
into a table (`sqlite_reference`). Each disagreement must be one of the known, documented differences
below, each checked on the record itself; anything else fails the test.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("sigma.backends.sqlite", reason="pysigma-backend-sqlite is not installed")

sys.path.insert(0, str(Path(__file__).parent))
from sqlite_reference import FULLTEXT, Reference, flatten, sql_value  # noqa: E402

from collectors.formats import parse_record  # noqa: E402
from detectors.sigma.detector import BUILTIN_RULES  # noqa: E402
from detectors.sigma.engine import SigmaEngine, event_sources  # noqa: E402
from detectors.sigma.fields import EventView  # noqa: E402
from detectors.sigma.loader import parse_paths, parse_text, Parsed  # noqa: E402

#: the known differences, each with its reason (README, "Sigma semantics")
KNOWN = {
    "outcome filter": "a failed call (error code, denied, non-2xx) only reaches rules that read the call's result "
                      "or say `outcome: any` (warden extension); the rule's own check still matches, the reference "
                      "has no notion of a call's outcome",
    "field outside the record": "warden also resolves a field the record does not hold at that path: the flat ECS "
                                "attributes (gcp.audit.method_name, cloud.account.id...), the Kubernetes view of a "
                                "GKE entry, `data.` aliases, and for names without dots any key of that name in the "
                                "request/response body (SigmaHQ's `hostPath`, `capabilities`)",
    "object as text": "the field names an object: warden matches its JSON text "
                      "(`requestParameters|contains: '\"Principal\":\"*\"'`), the flattened table holds leaves only",
    "list field": "the field holds several values: warden tests the list as one field (any element matches, `not` "
                  "negates that), the reference one row per element (a negation holds when one element differs)",
}


def explain(rule, ref_fields: list[str], view: EventView, ev, flat: dict, reference_hit: bool) -> str | None:
    """Which known difference explains a disagreement on one rule and one record, or None."""
    if reference_hit and ev.attributes.get("event.outcome") == "failure" and not rule.inspects_outcome \
            and rule.match(view):
        return "outcome filter"
    for f in ref_fields:
        if f == FULLTEXT:
            continue
        e = view.get(f)
        ours = set(e.strs) if e is not None else set()
        theirs = {sql_value(v) for v in flat.get(f, ()) if v is not None}
        if ours != theirs:
            if not theirs:
                return "field outside the record"
            if e is not None and any(isinstance(v, (dict, list)) for v in e.vals):
                return "object as text"
        elif len(flat.get(f, ())) > 1:
            return "list field"
    return None


@pytest.fixture(scope="module")
def rules_and_reference(shared_data):
    parsed = parse_paths([shared_data / "sigma", BUILTIN_RULES])
    rules = [r for r, _ in parsed.rules]
    engine = SigmaEngine().load_paths([shared_data / "sigma", BUILTIN_RULES])
    assert not engine.errors
    return engine, Reference.from_rules(rules)


def test_every_rule_converts(rules_and_reference):
    engine, ref = rules_and_reference
    assert [(r.title, r.error) for r in ref.rules if r.error] == []
    assert len(ref.rules) == len(engine.rules) > 89


def test_engine_agrees_with_the_sqlite_backend_on_every_dev_record(rules_and_reference, shared_data):
    from bench.audit.quality import load_cases, parse_case
    engine, ref = rules_and_reference
    by_id = {r.id: r for r in engine.rules}
    fields = {r.id: r.fields for r in ref.rules}
    records = agreed = 0
    explained: Counter = Counter()
    unexplained = []
    for case in load_cases(shared_data):
        events, _refused = parse_case(case)       # refused records reach no rule (counted by the collector)
        for ev in events:
            sources = set(event_sources(ev))
            routed = {r.id for r in engine.rules if r.sources & sources}
            if not routed:
                continue
            records += 1
            view = EventView(ev)
            theirs, capped = ref.matches(view.record, routed)
            ours = {r.id for r, _ in engine.match(ev)}
            agreed += len(routed) - len(theirs ^ ours)
            flat = flatten(view.record)
            for rid in sorted(theirs ^ ours):
                reason = explain(by_id[rid], fields[rid], view, ev, flat, rid in theirs)
                if reason is None and rid in capped:
                    reason = "list field"
                if reason is None:
                    unexplained.append((case["_file"], case["_line"], by_id[rid].title,
                                        "warden only" if rid in ours else "reference only"))
                else:
                    explained[reason] += 1
    print(f"\n{records} records x their rules: {agreed} agree; known differences: {dict(explained)}")
    assert records > 800
    assert unexplained == []
    assert set(explained) <= set(KNOWN)


_SPEC_RECORD = {"eventVersion": "1.08", "eventTime": "2026-01-05T10:00:00Z", "eventSource": "ssm.amazonaws.com",
                "eventName": "SendCommand", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice", "userName": "alice"},
                "requestParameters": {"cmd": "run C:\\evil1.exe now", "owner": "Mallory"}}


@pytest.mark.parametrize("detection", [
    "keywords: ['evil*.exe']", "keywords: ['evil?.exe']", "keywords: ['evil*.dll']",
    "keywords:\n    '|cased': [Mallory]", "keywords:\n    '|cased': [mallory]",
    "keywords:\n    '|re': ['M[a]llory']", "keywords:\n    '|re': ['m[a]llory']", "keywords: [MALLORY]",
    "sel: {requestParameters.owner|cased: Mallory}", "sel: {requestParameters.cmd: '*evil?.exe*'}",
])
def test_keyword_and_case_semantics_agree_with_the_backend(detection):
    name = detection.split(":")[0]
    text = (f"title: spec\nid: 33333333-3333-4333-8333-333333333333\nlevel: high\n"
            f"logsource: {{product: aws, service: cloudtrail}}\ndetection:\n  {detection.replace(chr(10), chr(10) + '  ')}"
            f"\n  condition: {name}\n")
    parsed = Parsed()
    parse_text(text, "spec.yml", parsed)
    ref = Reference.from_rules([r for r, _ in parsed.rules])
    ev = parse_record(_SPEC_RECORD, "cloudtrail", "t")[0]
    engine = SigmaEngine().load_text(text)
    assert not engine.errors
    theirs, _ = ref.matches(EventView(ev).record)
    assert bool(engine.match(ev)) is bool(theirs)
