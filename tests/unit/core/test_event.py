"""core.event: ids stay what they were (they are Elasticsearch _ids and idempotency keys: a
changed digest would index every replayed alert twice across an upgrade), and the hot-path
Finding constructor builds exactly what the dataclass constructor builds."""
import dataclasses

import pytest

from core.event import Finding, stable_id


@pytest.mark.parametrize("parts, digest", [
    (("finding", "sigma/default", "r1", "alice", ("e1", "e2")), "f037f2e292f16ecd4e2cf35fe795f20e"),
    (("x", b"\x00\xff raw"), "49285f735ab765a151375899d7ec9699"),
    ((1.5, None, {"b": 1, "a": [2]}), "a93b8462adf1ebf5ebe1a72053200845"),
])
def test_stable_ids_are_pinned(parts, digest):
    assert stable_id(*parts) == digest


def test_finding_create_builds_what_the_dataclass_constructor_builds():
    kw = dict(detector="sigma/default", entity="alice", time=5, score=1, threshold=0, severity="high", title="t",
              evidence={"k": 1}, event_ids=["e1"], tags=["a", "b"], rule="r")
    f = Finding.create(**kw)
    want = Finding(id="f52c3c10e5690fe5ddf75a2d2fd32282", detector="sigma/default", entity="alice", time=5.0,
                   score=1.0, threshold=0.0, severity="high", title="t", evidence={"k": 1}, event_ids=("e1",),
                   tags=("a", "b"), rule="r")
    assert f == want
    assert all(type(getattr(f, n.name)) is type(getattr(want, n.name)) for n in dataclasses.fields(Finding))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.score = 2.0
    g = Finding.create(detector="d", entity="e", time=1.0, score=0.5, threshold=0.4, severity="low", title="t")
    assert (g.evidence, g.event_ids, g.tags, g.rule) == ({}, (), (), "")
    assert g.id == "46c5954baf288cdcfab9693c0d0192bf"
