"""One conformance suite over every registered detector (river habit): the streaming API exists,
scoring is deterministic and separate from learning, snapshot/restore round-trips the state,
unrelated events are ignored, and process() never crashes on odd-but-valid input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import registry
from core.event import Event, Finding
from tests.conformance.test_components import example_config


def detectors():
    return sorted(registry.all_of("detector").items())


def sample_events(kinds) -> list[Event]:
    out = []
    for i in range(60):
        t = 1.7e9 + 60 * i
        if "metric" in kinds:
            for name in ("gpu.utilization", "gpu.memory.used", "http.server.request.duration", "training.step.duration"):
                out.append(Event.create(source="t/c", kind="metric", entity="node-1", name=name, time=t,
                                        value=50 + math.sin(i) + (i % 7), attributes={"job.name": "j"}))
        if "audit" in kinds:
            out.append(Event.create(source="t/c", kind="audit", entity="arn:aws:iam::1:user/alice", name="GetObject",
                                    time=t, attributes={"event.action": "GetObject", "event.outcome": "success",
                                                        "source.ip": "10.0.0.1", "cloud.provider": "aws"}))
        if "inference" in kinds:
            out.append(Event.create(source="t/c", kind="inference", entity="llm-chat", name="inference.request",
                                    time=t, attributes={"gen_ai.prompt": f"what is {i} plus {i}?",
                                                        "client.id": "c1", "feature.x": float(i % 5)}))
        if "log" in kinds:
            out.append(Event.create(source="t/c", kind="log", entity="node-1", name="log", time=t,
                                    attributes={"log.body": f"line {i}"}))
    return out


@pytest.fixture(params=detectors(), ids=lambda d: d[0])
def det_cls(request):
    return request.param[1]


def make(cls):
    return registry.create("detector", f"{cls.type}/conformance", example_config(cls))


def test_declares_event_kinds(det_cls):
    assert det_cls.event_kinds and set(det_cls.event_kinds) <= {"metric", "log", "audit", "inference", "trace"}


def test_process_returns_findings_and_is_deterministic(det_cls):
    evs = sample_events(det_cls.event_kinds)
    a, b = make(det_cls), make(det_cls)
    fa = a.process([e for e in evs if a.accepts(e)])
    fb = b.process([e for e in evs if b.accepts(e)])
    assert all(isinstance(f, Finding) for f in fa)
    assert [f.id for f in fa] == [f.id for f in fb]
    for f in fa:
        assert f.detector == a.name and f.entity and f.event_ids


def test_ignores_events_of_other_kinds(det_cls):
    d = make(det_cls)
    other = [e for e in sample_events({"metric", "audit", "inference", "log"}) if e.kind not in det_cls.event_kinds]
    assert not any(d.accepts(e) for e in other)


def test_select_is_accepts_over_a_batch_of_its_kinds(det_cls):
    d = make(det_cls)
    mine = [e for e in sample_events({"metric", "audit", "inference", "log"}) if e.kind in det_cls.event_kinds]
    mine.append(Event.create(source="t/c", kind=det_cls.event_kinds[0], entity="x", name="some.other.name", time=1.7e9))
    assert [e.id for e in d.select(mine)] == [e.id for e in mine if d.accepts(e)]


def test_snapshot_restore_continues_identically(det_cls):
    evs = [e for e in sample_events(det_cls.event_kinds)]
    half = len(evs) // 2
    a = make(det_cls)
    a.process([e for e in evs[:half] if a.accepts(e)])
    b = make(det_cls)
    entities = {e.entity for e in evs[:half] if a.accepts(e)}
    for ent in entities:
        b.restore(a.snapshot(ent), ent)
    rest = [e for e in evs[half:] if a.accepts(e)]
    assert [f.id for f in a.process(rest)] == [f.id for f in b.process(rest)]


def test_score_many_is_pure_and_high_means_anomalous(det_cls):
    d = make(det_cls)
    evs = [e for e in sample_events(det_cls.event_kinds) if d.accepts(e)]
    d.process(evs[: len(evs) // 2])
    try:
        s1 = np.asarray(d.score_many(evs[len(evs) // 2:]), dtype=float)
    except NotImplementedError:
        pytest.skip(f"{det_cls.type} has no per-event score (rule-based)")
    s2 = np.asarray(d.score_many(evs[len(evs) // 2:]), dtype=float)
    assert s1.shape == (len(evs) - len(evs) // 2,)
    np.testing.assert_array_equal(s1, s2)          # scoring does not learn
