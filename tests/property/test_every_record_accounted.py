"""Property (hypothesis): whatever the document — random JSON, containers of random members,
deep nesting — every record of it is either accepted (its events emitted) or dead-lettered with a
reason, exactly once, and nothing raises (issue #14: records neither processed nor dead-lettered,
goal 0)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectors.accounting import Tally, account, outcomes
from collectors.base import ListEmitter
from tests.property.test_bad_input import SETTINGS, json_values, nested
from tests.support.records import cloudtrail, gcp, k8s

GOOD = [cloudtrail(1), k8s(2), gcp(3)]
members = st.one_of(json_values, st.sampled_from(GOOD), st.integers(1, 400).map(lambda d: nested(d)))
WRAP = {"cloudtrail": lambda m: {"Records": m}, "k8s-audit": lambda m: {"kind": "EventList", "items": m},
        "gcp-audit": lambda m: {"entries": m}}


@SETTINGS
@given(fmt=st.sampled_from(sorted(WRAP)), records=st.lists(members, max_size=6))
def test_each_member_of_a_container_is_accepted_or_dead_lettered_once(fmt, records):
    em, tally = ListEmitter(), Tally()
    account(WRAP[fmt](records), (fmt,), em, "prop", tally)
    assert tally.accepted + tally.dead_lettered == len(records)
    assert len(em.dead) == tally.dead_lettered and all(reason for _, reason, _ in em.dead)
    assert tally.events == len(em.events)


@SETTINGS
@given(doc=st.one_of(members, st.lists(members, max_size=4).map(lambda m: {"Records": m})),
       fmt=st.sampled_from(["auto", "cloudtrail", "k8s-audit", "gcp-audit", "warden-inference", "kserve-v1"]))
def test_any_document_is_accounted_for_without_raising(doc, fmt):
    em, tally = ListEmitter(), Tally()
    account(doc, (fmt,), em, "prop", tally)
    assert tally.accepted + tally.dead_lettered == len(outcomes(doc, (fmt,), "prop"))
    assert len(em.dead) == tally.dead_lettered and all(reason for _, reason, _ in em.dead)
