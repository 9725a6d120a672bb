"""The Kafka bus against the real broker: keyed partitioning, groups, commits, redelivery."""
from __future__ import annotations

import dataclasses
import time

import pytest

from core.bus.base import partition_for
from core.bus.kafka import KafkaBus

#: both client implementations keep the same contract (librdkafka's is the default)
CLIENTS = ["confluent", "kafka-python"]


def _bus(kafka_cfg, client="confluent"):
    return KafkaBus(dataclasses.replace(kafka_cfg.bus, consumer_client=client, producer_client=client))


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

    def split():
        return owned["a"] | owned["b"] == {0, 1, 2, 3} and not owned["a"] & owned["b"] and owned["b"]
    while not split() and time.monotonic() < deadline:
        a.poll(100, 0.1)
        b.poll(100, 0.1)
    assert split(), events
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


@pytest.mark.parametrize("client", CLIENTS)
def test_pause_seek_resume_gives_records_back_and_commit_stays_behind(kafka_cfg, client):
    """What a backpressured act stage does: records already returned are given back (seek to
    their first offset, then pause, re-paused every step); a commit then stays behind them;
    while paused nothing arrives, new records included; after resume every record given back
    and every new one arrives, and the commit moves on."""
    bus = _bus(kafka_cfg, client)
    topic = kafka_cfg.bus.topic_prefix + "pause"
    group = kafka_cfg.pipeline.group_prefix + "pause"
    bus.create_topics([topic], 2)
    p = bus.producer()

    def produce(lo, hi):
        for i in range(lo, hi):
            p.send(topic, str(i).encode(), f"k{i}".encode())
        p.flush()
    produce(0, 40)
    c = bus.consumer(group, [topic])
    assert sorted(int(r.value) for r in poll_until(c, 40)) == list(range(40))
    c.commit()
    produce(40, 60)
    back = poll_until(c, 20)                       # returned, not handled
    assert sorted(int(r.value) for r in back) == list(range(40, 60))
    first = {}
    for r in back:
        first[r.partition] = min(first.get(r.partition, r.offset), r.offset)
    for part, off in first.items():
        c.seek(topic, part, off)
    assert c.pause() is True
    c.commit()
    assert sum(bus.committed(group, topic).values()) == 40      # not past the records given back
    produce(60, 70)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        assert c.poll(500, 0.2) == []
        assert c.pause() is True                   # act re-pauses every step
    c.resume()
    again = poll_until(c, 30)
    assert sorted(int(r.value) for r in again) == list(range(40, 70))
    c.commit()
    assert sum(bus.committed(group, topic).values()) == 70
    c.close()
    p.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_pause_with_nothing_assigned_says_so(kafka_cfg, client):
    bus = _bus(kafka_cfg, client)
    topic = kafka_cfg.bus.topic_prefix + "unassigned"
    bus.create_topics([topic], 1)
    c = bus.consumer(kafka_cfg.pipeline.group_prefix + "unassigned", [topic])
    assert c.pause() is False          # not in the group yet: nothing to pause
    c.resume()
    c.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_poll_hands_over_what_has_arrived_without_waiting_for_a_full_batch(kafka_cfg, client):
    """A sparse topic (findings, alerts): a poll asking for 2,000 records with a long timeout returns
    the few that are there as soon as they are, not after the timeout (each stage hop would add it)."""
    bus = _bus(kafka_cfg, client)
    topic = kafka_cfg.bus.topic_prefix + "sparse"
    bus.create_topics([topic], 1)
    c = bus.consumer(kafka_cfg.pipeline.group_prefix + "sparse", [topic])
    c.poll(2000, 2.0)                     # joins the group (nothing to read yet)
    p = bus.producer()
    for i in range(3):
        p.send(topic, str(i).encode(), b"k")
    p.flush()
    got, polls = [], []
    deadline = time.monotonic() + 30
    while len(got) < 3 and time.monotonic() < deadline:
        t0 = time.monotonic()
        recs = c.poll(2000, 10.0)
        polls.append((len(recs), time.monotonic() - t0))
        got.extend(recs)
    assert sorted(int(r.value) for r in got) == [0, 1, 2]
    # the poll that returned records did not sit out its 10 s timeout waiting for 1,997 more
    assert all(dt < 5.0 for n, dt in polls if n), polls
    c.close()
    p.close()


def test_delete_topics_removes_only_the_prefixed_topics(kafka_cfg):
    from kafka import KafkaAdminClient
    bus = _bus(kafka_cfg)
    mine = [kafka_cfg.bus.topic_prefix + "gone." + s for s in ("a", "b")]
    keep = kafka_cfg.bus.topic_prefix + "kept"
    bus.create_topics(mine + [keep], 1)
    assert bus.delete_topics(kafka_cfg.bus.topic_prefix + "gone.") == 2
    admin = KafkaAdminClient(bootstrap_servers=kafka_cfg.bus.bootstrap)
    try:
        deadline = time.monotonic() + 30
        while set(mine) & set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = set(admin.list_topics())
    finally:
        admin.close()
    assert not set(mine) & left and keep in left
    with pytest.raises(ValueError):
        bus.delete_topics("")
