"""Scale-out on real Kafka: two detect replicas in one consumer group with the shared state topic
(`pipeline.state: kafka`). A replica joins mid-stream (rebalance), later leaves (its partitions come
back to the first replica, which must re-read the state the other wrote, not its stale memory).
The alerts in Elasticsearch equal those of a single-replica (embedded) run, every input record is
consumed and committed, and the state topic holds every entity's snapshot."""
from __future__ import annotations

import dataclasses
import time

import pytest

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
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
    from core.stores.elasticsearch import ElasticsearchStore
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


def test_partition_given_back_reloads_fresh_state_embedded(tmp_path):
    """No broker needed: the embedded bus has Kafka's group semantics. Replica A learns part 1,
    B joins and learns part 2 of its partitions, B leaves and A gets them back: A must continue from
    B's checkpoint (not from its own stale memory of part 1), so every entity's detector state ends
    byte-identical to a single replica's that saw the whole stream."""
    from core.bus.embedded import EmbeddedBus
    from core.state import StateStore

    def run(replica_plan):
        cfg = parse({"data_dir": str(tmp_path / f"w{len(replica_plan)}"), "pipeline": {"batch_size": 100}})
        bus, state = EmbeddedBus(partitions=3), StateStore(None)
        parts = [Part(0, 100), Part(100, 200), Part(200, POINTS)]
        collect = Pipeline(cfg, stages=("collect",), runtime=Runtime(cfg, bus=bus, state=state, counters=Counters()),
                           collectors=parts, http=False)
        for c in parts:
            c.finished = True

        def produce(i):
            parts[i].finished = False
            collect.stages[0].step()

        def replica():
            p = Pipeline(cfg, stages=("detect",), runtime=Runtime(cfg, bus=bus, state=state, counters=Counters()),
                         http=False)
            p.start()
            return p

        def drain(*ps):
            while sum(s.step(0) for p in ps for s in p.stages):
                pass
            for p in ps:
                p.stages[0].checkpoint()
        a = replica()
        produce(0)
        drain(a)
        if replica_plan == "two":
            b = replica()
            produce(1)
            drain(a, b)
            assert b.rt.counters.get("detect.events") > 0
            b.close()
        else:
            produce(1)
        drain(a)
        produce(2)
        drain(a)
        det = a.stages[0].detectors[0]
        snaps = {f"node-{i}": det.snapshot(f"node-{i}") for i in range(NODES)}
        return snaps, a.rt.counters

    single, _ = run("one")
    scaled, counters = run("two")
    assert counters.get("detect.partitions_revoked") > 0 and counters.get("detect.partitions_assigned") > 3
    assert scaled == single


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_both_producers_use_kafkas_key_partitions(kafka_cfg, client):
    """Both producers — librdkafka's (the default) and kafka-python's — put each key on the
    partition core.bus.base.partition_for (Kafka's murmur2) names: an entity's records stay on one
    partition whatever producer wrote them."""
    from core.bus.base import partition_for
    from core.bus.kafka import KafkaBus
    bus_cfg = dataclasses.replace(kafka_cfg.bus, producer_client=client)
    bus = KafkaBus(bus_cfg)
    topic = bus_cfg.topic_prefix + "telemetry"
    bus.create_topics([topic], 3)
    prod = bus.producer()
    keys = [f"node-{i}".encode() for i in range(60)]
    for k in keys:
        prod.send(topic, b"v", k)
    prod.flush()
    c = bus.consumer(kafka_cfg.pipeline.group_prefix + f"{client}-check", [topic])
    got = {}
    deadline = time.monotonic() + 30
    while len(got) < len(keys) and time.monotonic() < deadline:
        for r in c.poll(500, 0.5):
            got[r.key] = r.partition
    c.close()
    assert got == {k: partition_for(k, 3) for k in keys}
