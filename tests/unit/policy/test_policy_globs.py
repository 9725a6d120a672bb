"""Policy match patterns are compiled once; they must keep fnmatch.fnmatchcase's semantics."""
import fnmatch

from hypothesis import given, settings
from hypothesis import strategies as st

from core.event import Finding
from policy.policies import Policy, _globs

_PAT = st.text(alphabet="ab/.*?[]!-\n", max_size=8)
_VAL = st.text(alphabet="ab/.-\n", max_size=10)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PAT, min_size=1, max_size=3), _VAL)
def test_compiled_patterns_match_exactly_what_fnmatchcase_matches(patterns, value):
    want = any(fnmatch.fnmatchcase(value, p) for p in patterns)
    assert (_globs(patterns)(value) is not None) == want


def _finding(**kw):
    base = dict(detector="sigma/default", entity="arn:aws:iam::1:user/alice", time=1.0, score=1.0, threshold=1.0,
                severity="high", title="t", rule="aws-cloudtrail-stop", evidence={"event": {"region": "eu-west-1"}})
    return Finding.create(**{**base, **kw})


def test_a_policy_matches_on_every_pattern_field_and_groups_by_direct_and_dotted_keys():
    p = Policy(id="p", detector=["sigma/*"], rule=["aws-*", "gcp-*"], entity=["arn:aws:iam::1:*"],
               fields={"evidence.event.region": "eu-*"}, group_by=["entity", "rule", "evidence.event.region"])
    f = _finding()
    assert p.matches(f)
    assert p.group_key(f) == "entity=arn:aws:iam::1:user/alice|rule=aws-cloudtrail-stop|evidence.event.region=eu-west-1"
    assert not p.matches(_finding(detector="ueba/default"))
    assert not p.matches(_finding(rule="k8s-exec"))
    assert not p.matches(_finding(entity="arn:aws:iam::2:user/bob"))
    assert not p.matches(_finding(evidence={"event": {"region": "us-east-1"}}))
    assert not p.matches(_finding(evidence={}))
    assert Policy(id="any").matches(_finding(detector="x", rule="", entity="e"))
