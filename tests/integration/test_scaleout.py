"""Scale-out on real Kafka: two detect replicas in one consumer group with the shared state topic
(`pipeline.state: kafka`). A replica joins mid-stream (rebalance), later leaves (its partitions come
back to the first replica, which must re-read the state the other wrote, not its stale memory).
The alerts in Elasticsearch equal those of a single-replica (embedded) run, every input record is
consumed and committed, and the state topic holds every entity's snapshot."""
from __future__ import annotations

import dataclasses
import time

from agent.config import parse
from agent.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from agent.stores import AlertQuery
from tests.support.synthetic import SyntheticCollector

NODES, POINTS = 6, 300


def collector():
    return SyntheticCollector("synthetic/t", nodes=NODES, points=POINTS, shift_at=200)


class Part(SyntheticCollector):
    """One slice of the same stream (same event ids as the whole)."""
    def __init__(self, lo, hi):
        super().__init__("synthetic/t", nodes=NODES, points=POINTS, shift_at=200)
        self.lo, self.hi = lo, hi

    def events(self):
        return super().events()[self.lo * NODES:self.hi * NODES]


def embedded_alerts(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "embedded")})
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[collector()], http=False)
    p.drain()
    view = sorted((a.id, a.entity, a.count) for a in p.rt.store.list_alerts(AlertQuery(limit=1000)))
    p.close()
    return view


def es_view(cfg):
    from agent.stores.elasticsearch import ElasticsearchStore
    store = ElasticsearchStore(cfg.store)
    try:
        return sorted((a.id, a.entity, a.count) for a in store.list_alerts(AlertQuery(limit=1000)))
    finally:
        store.close()


def stage(cfg, name, counters=None, **kw):
    return Pipeline(cfg, stages=(name,), runtime=Runtime(cfg, counters=counters or Counters()), http=False, **kw)


def pump(pipes, until, timeout=60.0, rounds=None):
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        for p in pipes:
            for s in p.stages:
                s.step(timeout=0.1)
        n += 1
        if until() or (rounds is not None and n >= rounds):
            return True
    return False


def all_committed(cfg, bus, group, topic):
    ends = bus.end_offsets(topic)
    com = bus.committed(group, topic)
    return sum(ends.values()) > 0 and all(com.get(p, -1) >= o for p, o in ends.items())


def test_two_detect_replicas_equal_one(kafka_cfg, tmp_path):
    expected = embedded_alerts(tmp_path)
    assert len({e for _, e, _ in expected}) >= 1

    cfg = dataclasses.replace(kafka_cfg)
    cfg.pipeline = dataclasses.replace(kafka_cfg.pipeline, state="kafka", batch_size=150, checkpoint_interval_s=0.2)
    parts = [Part(0, 100), Part(100, 200), Part(200, POINTS)]
    collect = stage(cfg, "collect", collectors=parts)
    for c in parts:
        c.finished = True
    telemetry = cfg.bus.topic_prefix + "telemetry"
    group = cfg.pipeline.group_prefix + "detect"

    def produce(i):
        parts[i].finished = False
        collect.stages[0].step()

    def done():
        return all_committed(cfg, collect.rt.bus, group, telemetry)

    a_counters, b_counters = Counters(), Counters()
    a = stage(cfg, "detect", a_counters)
    a.start()
    produce(0)
    assert pump([a], done, timeout=40)
    b = stage(cfg, "detect", b_counters)          # joins: rebalance, B takes partitions with A's state
    b.start()
    assert pump([a, b], lambda: b_counters.get("detect.partitions_assigned") > 0
                and a_counters.get("detect.partitions_revoked") > 0, timeout=60), \
        (a_counters.snapshot(), b_counters.snapshot())
    produce(1)
    assert pump([a, b], done, timeout=40)
    assert b_counters.get("detect.events") > 0 and a_counters.get("detect.events") > 100 * NODES
    assigned_before = a_counters.get("detect.partitions_assigned")
    b.close()                                      # leaves: its partitions go back to A, with B's state
    assert pump([a], lambda: a_counters.get("detect.partitions_assigned") > assigned_before, timeout=60)
    produce(2)                                     # the level shift happens after the hand-backs
    assert pump([a], done, timeout=40)
    total = a_counters.get("detect.events") + b_counters.get("detect.events")
    assert total >= NODES * POINTS                 # everything processed (replays may add a few)

    decide, act = stage(cfg, "decide"), stage(cfg, "act")
    assert pump([decide, act], lambda: es_view(cfg) == expected, timeout=60), \
        f"ES has {es_view(cfg)}, expected {expected}"

    # the shared state topic holds every entity's detector snapshot and position
    st = a.rt.state
    assert sorted(st.keys("detector:baseline/default")) == [f"node-{i}" for i in range(NODES)]
    assert sorted(st.keys("detect:pos")) == [f"node-{i}" for i in range(NODES)]
    for p in (collect, a, decide, act):
        p.close()
