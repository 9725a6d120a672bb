"""The streaming Sigma engine: modifiers, conditions, routing, exclusions, errors, detector wiring."""
from __future__ import annotations

import textwrap

import pytest

from core.errors import ConfigError
from collectors.formats import parse_record
from detectors.sigma.detector import SigmaDetector
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.filters import ExclusionError, ExclusionSet, parse_exclusions


def ct(name="CreateAccessKey", **kw):
    r = {"eventVersion": "1.08", "eventTime": "2026-01-05T10:00:00Z", "eventSource": "iam.amazonaws.com",
         "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0 Python/3",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/alice", "userName": "alice", "accessKeyId": "AKIA1"},
         "requestParameters": {"userName": "bob", "count": 7, "tags": ["a", "Prod"], "policy": {"Principal": "*"}}}
    r.update(kw)
    return parse_record(r, "cloudtrail", "t")[0]


def rule(detection: str, logsource="product: aws\n    service: cloudtrail", extra="") -> str:
    det = "\n".join("    " + line for line in textwrap.dedent(detection).splitlines())
    return ("title: T\nid: 11111111-1111-4111-8111-111111111111\nstatus: test\nlevel: high\n"
            "tags: [attack.t1098, atlas.aml.t0024]\n"
            f"logsource:\n    {logsource}\ndetection:\n{det}\n{extra}\n")


def matches(detection: str, event, **kw) -> bool:
    eng = SigmaEngine(**kw).load_text(rule(detection))
    assert not eng.errors, eng.errors
    return bool(eng.match(event))


@pytest.mark.parametrize("det,expected", [
    ("selection: {eventName: createaccesskey}\ncondition: selection", True),            # case-insensitive
    ("selection: {eventName|cased: createaccesskey}\ncondition: selection", False),
    ("selection: {eventName|cased: CreateAccessKey}\ncondition: selection", True),
    ("selection: {eventName|contains: ACCESS}\ncondition: selection", True),
    ("selection: {eventName|startswith: Create}\ncondition: selection", True),
    ("selection: {eventName|endswith: Key}\ncondition: selection", True),
    ("selection: {eventName: 'Create*Key'}\ncondition: selection", True),
    ("selection: {eventName: 'Create?ccessKey'}\ncondition: selection", True),
    ("selection: {eventName: 'Create?Key'}\ncondition: selection", False),
    ("selection: {eventName|contains|all: [create, key]}\ncondition: selection", True),
    ("selection: {eventName|contains|all: [create, user]}\ncondition: selection", False),
    ("selection: {eventName|re: '^Create[A-Z]'}\ncondition: selection", True),
    ("selection: {eventName|re: '^create'}\ncondition: selection", False),                # re is case-sensitive
    ("selection: {eventName|re|i: '^create'}\ncondition: selection", True),
    ("selection: {sourceIPAddress|cidr: 198.51.100.0/24}\ncondition: selection", True),
    ("selection: {sourceIPAddress|cidr: 10.0.0.0/8}\ncondition: selection", False),
    ("selection: {errorCode|exists: false}\ncondition: selection", True),
    ("selection: {requestParameters.userName|exists: true}\ncondition: selection", True),
    ("selection: {requestParameters.count|gt: 5}\ncondition: selection", True),
    ("selection: {requestParameters.count|lte: 6}\ncondition: selection", False),
    ("selection: {errorCode: null}\ncondition: selection", True),
    ("selection: {requestParameters.tags: prod}\ncondition: selection", True),             # list field: any element
    ("selection: {requestParameters|contains: '\"Principal\":\"\\*\"'}\ncondition: selection", True),  # object as JSON
    ("selection: {requestParameters|contains: 'Principal\":\"\\*'}\ncondition: selection", True),
    ("selection: {userIdentity.userName|fieldref: requestParameters.userName}\ncondition: selection", False),
    ("selection: {userIdentity.arn|fieldref|contains: userIdentity.userName}\ncondition: selection", True),
    ("selection: {userIdentity.arn|fieldref|startswith: userIdentity.userName}\ncondition: selection", False),
    ("selection: {userIdentity.arn|fieldref|endswith: userIdentity.userName}\ncondition: selection", True),
    ("selection: {user.name: alice}\ncondition: selection", True),                          # ECS attribute
    ("selection: {cloud.region: us-east-1}\ncondition: selection", True),
    ("keywords: [aws-cli]\ncondition: keywords", True),
    ("keywords: [terraform]\ncondition: keywords", False),
])
def test_modifiers(det, expected):
    assert matches(det, ct()) is expected


@pytest.mark.parametrize("cond,expected", [
    ("sel_a and sel_b", True), ("sel_a and not sel_b", False), ("1 of sel_*", True), ("all of sel_*", True),
    ("all of them", False), ("1 of them", True), ("not (sel_a or other)", False), ("(sel_a or other) and sel_b", True),
    ("sel_a and not other", True), ("any of sel_*", True),
])
def test_conditions(cond, expected):
    det = f"sel_a: {{eventName: CreateAccessKey}}\nsel_b: {{userIdentity.type: IAMUser}}\nother: {{eventName: Nope}}\ncondition: {cond}"
    assert matches(det, ct()) is expected


def test_list_of_maps_is_or_and_values_list_is_or():
    det = "selection:\n  - {eventName: Nope}\n  - {eventName: [X, CreateAccessKey]}\ncondition: selection"
    assert matches(det, ct())


def test_logsource_routing():
    det = "selection: {eventName: CreateAccessKey}\ncondition: selection"
    k8s = "category: application\n    product: kubernetes\n    service: audit"
    eng = SigmaEngine().load_text(rule(det, logsource=k8s))
    assert not eng.errors and not eng.match(ct())
    eng = SigmaEngine().load_text(rule(det, logsource="product: windows\n    category: process_creation"))
    assert eng.stats()["rules_not_audit"] == 1 and not eng.match(ct())


def test_gke_event_reaches_kubernetes_rules():
    gke = {"protoPayload": {"serviceName": "k8s.io", "methodName": "io.k8s.core.v1.pods.exec.create",
                            "resourceName": "core/v1/namespaces/ml/pods/p/exec",
                            "authenticationInfo": {"principalEmail": "eve@example.com"}},
           "resource": {"type": "k8s_cluster", "labels": {"project_id": "p"}}, "timestamp": "2026-01-05T10:00:00Z"}
    ev = parse_record(gke, "gcp-audit", "t")[0]
    k8s = "category: application\n    product: kubernetes\n    service: audit"
    det = "selection: {verb: create, objectRef.resource: pods, objectRef.subresource: exec}\ncondition: selection"
    eng = SigmaEngine().load_text(rule(det, logsource=k8s))
    assert eng.match(ev)


def test_failed_calls_skip_rules_that_ignore_outcome():
    ev = ct(errorCode="AccessDenied")
    det = "selection: {eventName: CreateAccessKey}\ncondition: selection"
    assert not matches(det, ev)
    assert matches(det, ev, outcome_aware=False)
    assert matches("selection: {eventName: CreateAccessKey, errorCode: AccessDenied}\ncondition: selection", ev)
    eng = SigmaEngine().load_text(rule(det, extra="outcome: any"))
    assert eng.match(ev)


def test_broken_rules_are_reported_not_fatal(tmp_path):
    (tmp_path / "good.yml").write_text(rule("selection: {eventName: CreateAccessKey}\ncondition: selection"))
    (tmp_path / "bad_yaml.yml").write_text("title: [unclosed\n")
    (tmp_path / "bad_cond.yml").write_text(rule("selection: {eventName: X}\ncondition: selection and missing").replace(
        "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"))
    (tmp_path / "bad_mod.yml").write_text(rule("selection: {eventName|nosuchmod: X}\ncondition: selection").replace(
        "11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333"))
    eng = SigmaEngine().load_paths([tmp_path, tmp_path / "nope.yml"])
    assert len(eng.rules) == 1 and eng.match(ct())
    paths = sorted(p.rsplit("/", 1)[-1] for p, _ in eng.errors)
    assert paths == ["bad_cond.yml", "bad_mod.yml", "bad_yaml.yml", "nope.yml"]
    assert all(reason for _, reason in eng.errors)
    assert eng.stats()["rule_errors"] == 4


def test_exclusions_suppress_without_editing_rules():
    data = [{"rule": "11111111-1111-4111-8111-111111111111", "match": {"userIdentity.userName": "alice"}, "reason": "ok"},
            {"rule": "*", "match": {"sourceIPAddress|cidr": "10.0.0.0/8"}}]
    excl = ExclusionSet(parse_exclusions(data))
    eng = SigmaEngine(exclusions=excl).load_text(rule("selection: {eventName: CreateAccessKey}\ncondition: selection"))
    assert not eng.match(ct())
    assert eng.match(ct(userIdentity={"type": "IAMUser", "userName": "carol", "arn": "arn:aws:iam::1:user/carol"}))
    assert not eng.match(ct(userIdentity={"type": "IAMUser", "userName": "carol"}, sourceIPAddress="10.1.2.3"))
    assert excl.suppressed == 2 and [e.hits for e in excl.items] == [1, 1]
    with pytest.raises(ExclusionError, match=r"\[0\]"):
        parse_exclusions([{"rule": "x"}])


def test_findings_carry_rule_metadata():
    eng = SigmaEngine(detector_name="sigma/t").load_text(rule("selection: {eventName: CreateAccessKey}\ncondition: selection"))
    ev = ct()
    (f,) = eng.process([ev])
    assert f.rule == "11111111-1111-4111-8111-111111111111" and f.title == "T" and f.severity == "high"
    assert set(f.tags) == {"attack.t1098", "atlas.aml.t0024"} and f.event_ids == (ev.id,)
    assert f.evidence["matched"] == {"eventName": "CreateAccessKey"} and f.entity == ev.entity
    assert eng.process([ev])[0].id == f.id          # replay gives the same finding id


def test_index_skips_rules_that_cannot_match():
    eng = SigmaEngine().load_text(rule("selection: {eventName: [A, B]}\ncondition: selection"))
    assert "eventName" in eng._index["aws/cloudtrail"] and not eng._unindexed
    assert eng.match(ct("B")) and not eng.match(ct("C"))


@pytest.mark.parametrize("det,hit,miss", [
    ("selection: {eventName|startswith: Create}\ncondition: selection", "CreateUser", "DeleteUser"),
    ("selection: {eventName|endswith: [Key, User]}\ncondition: selection", "CreateUser", "CreateRole"),
    ("selection: {eventName|contains: ACCESS}\ncondition: selection", "CreateAccessKey", "CreateUser"),
    ("selection: {eventName: 'Create?ccessKey'}\ncondition: selection", "CreateAccessKey", "CreateUser"),
    ("selection: {eventName|cased: CreateUser}\ncondition: selection", "CreateUser", "createuser"),
    ("selection: {eventName|re: '^Create[A-Z]'}\ncondition: selection", "CreateUser", "createUser"),
    ("selection: {eventName|contains|all: [create, key]}\ncondition: selection", "CreateAccessKey", "CreateUser"),
    ("a: {eventName|startswith: Create}\nb: {eventName: DeleteUser}\ncondition: a or b", "DeleteUser", "DeleteRole"),
    ("selection: {vpcEndpointId|exists: true}\ncondition: selection", None, "CreateUser"),
])
def test_index_routes_patterns_without_changing_matches(det, hit, miss):
    eng = SigmaEngine().load_text(rule(det))
    assert eng._index["aws/cloudtrail"] and not eng._unindexed
    if hit:
        assert eng.match(ct(hit)) and eng.match(ct(hit))      # second time from the per-value memo
    assert not eng.match(ct(miss))
    if hit is None:
        assert eng.match(ct(miss, vpcEndpointId="vpce-1"))


def test_unindexable_rules_still_evaluated_in_load_order():
    text = rule("selection: {sourceIPAddress|cidr: 198.51.100.0/24}\ncondition: selection")
    text2 = rule("selection: {eventName|startswith: create}\ncondition: selection").replace(
        "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
    eng = SigmaEngine().load_text(text).load_text(text2, "b.yml")
    assert [r.id[0] for r, _ in eng.match(ct())] == ["1", "2"]


def test_detector_registered_config_and_builtin_rules(tmp_path):
    from core.registry import create
    d = create("detector", "sigma/x", {"lateness": 60.0})
    assert isinstance(d, SigmaDetector) and d.event_kinds == ("audit",)
    assert d.stats()["rules_loaded"] > 20 and d.rule_errors == []
    with pytest.raises(ConfigError):
        create("detector", "sigma/x", {"lateness": -1.0})
    with pytest.raises(ConfigError):
        create("detector", "sigma/x", {"min_level": "urgent"})
    bad = tmp_path / "bad.yml"
    bad.write_text("title: x\n")
    with pytest.raises(ConfigError, match="failed to load"):
        create("detector", "sigma/x", {"rules": [str(bad)], "fail_on_rule_errors": True})
    d2 = create("detector", "sigma/x", {"rules": [str(bad)]})
    assert len(d2.rule_errors) == 1
    excl = tmp_path / "excl.yml"
    excl.write_text("exclusions:\n  - rule: '*'\n    match: {user.name: alice}\n")
    d3 = create("detector", "sigma/x", {"filters": str(excl)})
    assert d3.engine.exclusions.items


def test_min_level_keeps_rules_loaded_but_not_evaluated():
    text = rule("selection: {eventName: CreateAccessKey}\ncondition: selection").replace("level: high", "level: low")
    eng = SigmaEngine(min_level="medium").load_text(text)
    assert len(eng.rules) == 1 and not eng.match(ct())


def test_sigmahq_rules_all_load(shared_data):
    eng = SigmaEngine().load_paths([shared_data / "sigma"])
    assert eng.errors == [] and len(eng.rules) == 89
    assert eng.stats()["rules_routed"] == 89


_ALL_ENGINE = None


def _all_rules_engine():
    global _ALL_ENGINE
    if _ALL_ENGINE is None:
        from tests.conftest import SHARED_DATA
        from detectors.sigma.detector import BUILTIN_RULES
        paths = [BUILTIN_RULES] + ([SHARED_DATA / "sigma"] if (SHARED_DATA / "sigma").is_dir() else [])
        _ALL_ENGINE = SigmaEngine(lateness=60).load_paths(paths)
    return _ALL_ENGINE


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_leaf = st.none() | st.booleans() | st.integers(-5, 70000) | st.floats(allow_nan=True) | st.text(max_size=12)
_val = st.recursive(_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
                    max_leaves=10)
_keys = st.sampled_from(["eventName", "eventSource", "userIdentity", "requestParameters", "responseElements", "errorCode",
                         "sourceIPAddress", "userAgent", "additionalEventData", "verb", "objectRef", "user", "sourceIPs",
                         "requestObject", "responseStatus", "protoPayload", "requestURI", "kind", "apiVersion"])


@settings(max_examples=60, deadline=None)
@given(rec=st.dictionaries(_keys, _val, max_size=8), fmt=st.sampled_from(["cloudtrail", "k8s-audit", "gcp-audit"]),
       name=st.sampled_from(["CreateAccessKey", "GetObject", "StopLogging", "ConsoleLogin", "PutBucketPolicy"]))
def test_fuzz_all_rules_never_raise(rec, fmt, name):
    from collectors.formats import FormatError
    rec = dict(rec)
    if fmt == "cloudtrail":
        rec["eventName"] = name
    try:
        events = parse_record(rec, fmt, "fuzz")
    except FormatError:
        return
    eng = _all_rules_engine()
    eng.process(events)
    assert eng.counters.get("rule_runtime_errors", 0) == 0
    _assert_index_never_changes_a_result(eng, events)


def _assert_index_never_changes_a_result(eng, events):
    """The routing index only skips rules that cannot match: what engine.match returns is exactly the
    rules whose own check holds (outcome filter and exclusions off)."""
    from detectors.sigma.engine import event_sources
    from detectors.sigma.fields import EventView
    for ev in events:
        sources = set(event_sources(ev))
        view = EventView(ev)
        own = {r.id for r in eng.rules if r.sources & sources and (r.generate or r.consumers) and r.match(view)}
        saved = eng.outcome_aware
        eng.outcome_aware = False
        try:
            routed = {r.id for r, _ in eng.match(ev)}
        finally:
            eng.outcome_aware = saved
        assert routed == own


_KW_EVENT = {"requestParameters": {"cmd": "run C:\\evil1.exe now", "owner": "Mallory"}}


@pytest.mark.parametrize("det,expected", [
    ("keywords: ['evil*.exe']\ncondition: keywords", True),        # a keyword with a wildcard is wrapped in *...*
    ("keywords: ['evil?.exe']\ncondition: keywords", True),
    ("keywords: ['*evil1']\ncondition: keywords", True),
    ("keywords: ['evil*.dll']\ncondition: keywords", False),
    ("keywords:\n  '|cased': [Mallory]\ncondition: keywords", True),   # |cased and |re read the text as written
    ("keywords:\n  '|cased': [mallory]\ncondition: keywords", False),
    ("keywords:\n  '|re': ['M[a]llory']\ncondition: keywords", True),
    ("keywords:\n  '|re': ['m[a]llory']\ncondition: keywords", False),
    ("keywords: [MALLORY]\ncondition: keywords", True),                  # plain keywords stay case-insensitive
])
def test_keywords_follow_the_sigma_spec(det, expected):
    assert matches(det, ct(**_KW_EVENT)) is expected


@pytest.mark.parametrize("code", [403, "403", 403.0, "403.0", " 403"])
def test_index_and_rule_agree_on_numbers(code):
    k8s = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": "get", "user": {"username": "alice"},
           "sourceIPs": ["198.51.100.1"], "objectRef": {"resource": "pods"}, "responseStatus": {"code": code},
           "requestReceivedTimestamp": "2026-01-05T10:00:00Z", "auditID": "n"}
    events = parse_record(k8s, "k8s-audit", "t")
    eng = SigmaEngine().load_text(rule("sel: {responseStatus.code: 403}\ncondition: sel",
                                       logsource="product: kubernetes\n    service: audit"))
    assert eng.match(events[0])
    _assert_index_never_changes_a_result(eng, events)


def test_timestamp_part_modifiers():
    assert matches("selection: {eventTime|hour: 10}\ncondition: selection", ct())
    assert not matches("selection: {eventTime|hour: 11}\ncondition: selection", ct())
    assert matches("selection: {eventTime|month: 1}\ncondition: selection", ct())


def test_finding_evidence_names_the_access_key_and_the_pod():
    eng = SigmaEngine().load_text(rule("selection: {eventName: CreateAccessKey}\ncondition: selection"))
    [f] = eng.process([ct()])
    assert f.evidence["event"]["aws.cloudtrail.user_identity.access_key_id"] == "AKIA1"
    assert f.evidence["event"]["source.ip"] == "198.51.100.7"
    k8s = parse_record({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "create",
                        "user": {"username": "alice"}, "sourceIPs": ["10.0.0.1"], "responseStatus": {"code": 101},
                        "objectRef": {"resource": "pods", "namespace": "ml", "name": "trainer-0", "subresource": "exec"}},
                       "k8s-audit", "t")[0]
    eng = SigmaEngine().load_text(rule("selection: {objectRef.subresource: exec}\ncondition: selection",
                                       logsource="product: kubernetes\n    service: audit"))
    [f] = eng.process([k8s])
    ev = f.evidence["event"]
    assert (ev["orchestrator.resource.name"], ev["orchestrator.namespace"], ev["orchestrator.resource.subresource"]) \
        == ("trainer-0", "ml", "exec")


def test_field_access_nested_dotted_keys_lists_and_misses():
    from detectors.sigma.fields import EventView
    ev = ct(requestParameters={"a.b": "dotted", "c": {"d.e": {"f": "deep"}}, "items": [{"k": "x"}, {"k": ["y", "z"]}],
                               "n": None, "s": 3})
    v = EventView(ev)
    assert v.get("requestParameters.a.b").vals == ("dotted",)           # key with dots, rest of the path
    assert v.get("requestParameters.c.d.e.f") is None                    # only the whole rest can hold dots
    assert v.get("requestParameters.c.d.e").vals == ({"f": "deep"},)
    assert v.get("requestParameters.items.k").vals == ("x", "y", "z")    # lists traversed and flattened
    assert v.get("requestParameters.s.t") is None and v.get("requestParameters.missing") is None
    assert v.get("requestParameters.n").vals == (None,) and v.get("requestParameters.n").strs == ()
    assert v.get("eventName").lows == ("createaccesskey",)
    assert v.get("user.name") is not None                                # flat ECS attribute fallback
