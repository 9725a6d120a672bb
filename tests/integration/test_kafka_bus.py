"""The Kafka bus against the real broker: keyed partitioning, groups, commits, redelivery."""
from __future__ import annotations

import time

from agent.bus.base import partition_for
from agent.bus.kafka import KafkaBus


def poll_until(consumer, n, timeout=30.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out.extend(consumer.poll(500, 0.5))
    return out


def test_keyed_records_land_on_the_murmur2_partition_in_order(kafka_cfg):
    bus = KafkaBus(kafka_cfg.bus)
    topic = kafka_cfg.bus.topic_prefix + "keys"
    bus.create_topics([topic], 3)
    p = bus.producer()
    for i in range(30):
        p.send(topic, str(i).encode(), f"node-{i % 3}".encode())
    p.flush()
    c = bus.consumer(kafka_cfg.pipeline.group_prefix + "keys", [topic])
    recs = poll_until(c, 30)
    assert len(recs) == 30
    for r in recs:
        assert r.partition == partition_for(r.key, 3)      # both buses place keys identically
    per_key = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        per_key.setdefault(r.key, []).append(int(r.value))
    assert all(v == sorted(v) for v in per_key.values())
    c.close()
    p.close()


def test_uncommitted_records_are_redelivered_after_a_crash(kafka_cfg):
    bus = KafkaBus(kafka_cfg.bus)
    topic = kafka_cfg.bus.topic_prefix + "redeliver"
    group = kafka_cfg.pipeline.group_prefix + "redeliver"
    bus.create_topics([topic], 3)
    p = bus.producer()
    for i in range(50):
        p.send(topic, str(i).encode(), str(i).encode())
    p.flush()
    c1 = bus.consumer(group, [topic])
    got = poll_until(c1, 50)
    assert len(got) == 50
    c1.commit()
    for i in range(50, 60):
        p.send(topic, str(i).encode(), str(i).encode())
    p.flush()
    assert len(poll_until(c1, 10)) == 10   # consumed, never committed
    c1.close()                             # crash: no commit
    c2 = bus.consumer(group, [topic])
    again = poll_until(c2, 10)
    assert sorted(int(r.value) for r in again) == list(range(50, 60))
    assert bus.committed(group, topic) and sum(bus.committed(group, topic).values()) == 50
    c2.close()
    p.close()
