"""The Kafka bus against the real broker: keyed partitioning, groups, commits, redelivery."""
from __future__ import annotations

import dataclasses
import time

import pytest

from agent.bus.base import partition_for
from agent.bus.kafka import KafkaBus

#: both consumer implementations keep the same contract (confluent-kafka is optional)
CLIENTS = ["kafka-python", pytest.param("confluent", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("confluent_kafka"), reason="confluent-kafka not installed"))]


def _bus(kafka_cfg, client="kafka-python"):
    return KafkaBus(dataclasses.replace(kafka_cfg.bus, consumer_client=client))


def poll_until(consumer, n, timeout=30.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out.extend(consumer.poll(500, 0.5))
    return out


@pytest.mark.parametrize("client", CLIENTS)
def test_keyed_records_land_on_the_murmur2_partition_in_order(kafka_cfg, client):
    bus = _bus(kafka_cfg, client)
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


@pytest.mark.parametrize("client", CLIENTS)
def test_uncommitted_records_are_redelivered_after_a_crash(kafka_cfg, client):
    bus = _bus(kafka_cfg, client)
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


@pytest.mark.parametrize("client", CLIENTS)
def test_two_members_split_the_partitions_and_report_rebalances(kafka_cfg, client):
    """A second member joins: the first is told what it lost, each is told what it got, together
    they own every partition once, and records reach exactly one of them."""
    bus = _bus(kafka_cfg, client)
    topic = kafka_cfg.bus.topic_prefix + "split"
    group = kafka_cfg.pipeline.group_prefix + "split"
    bus.create_topics([topic], 4)
    events = {"a": [], "b": []}
    owned = {"a": set(), "b": set()}

    def member(name):
        c = bus.consumer(group, [topic])

        def assigned(tps):
            events[name].append(("assign", sorted(tps)))
            owned[name].update(p for _, p in tps)

        def revoked(tps):
            events[name].append(("revoke", sorted(tps)))
            owned[name].difference_update(p for _, p in tps)
        c.on_assign, c.on_revoke = assigned, revoked
        return c

    a = member("a")
    deadline = time.monotonic() + 30
    while len(owned["a"]) < 4 and time.monotonic() < deadline:
        a.poll(100, 0.2)
    assert owned["a"] == {0, 1, 2, 3}
    b = member("b")
    deadline = time.monotonic() + 60
    while not (owned["b"] and len(owned["a"]) + len(owned["b"]) == 4) and time.monotonic() < deadline:
        a.poll(100, 0.1)
        b.poll(100, 0.1)
    assert owned["a"] | owned["b"] == {0, 1, 2, 3} and not owned["a"] & owned["b"] and owned["b"]
    assert any(kind == "revoke" for kind, _ in events["a"])
    p = bus.producer()
    for i in range(40):
        p.send(topic, str(i).encode(), f"k{i}".encode())
    p.flush()
    got = {"a": [], "b": []}
    deadline = time.monotonic() + 30
    while len(got["a"]) + len(got["b"]) < 40 and time.monotonic() < deadline:
        got["a"] += a.poll(100, 0.1)
        got["b"] += b.poll(100, 0.1)
    assert sorted(int(r.value) for r in got["a"] + got["b"]) == list(range(40))
    assert all(r.partition in owned[n] for n in got for r in got[n])
    a.commit()
    b.commit()
    assert sum(bus.committed(group, topic).values()) == 40
    a.close()
    b.close()
    p.close()
