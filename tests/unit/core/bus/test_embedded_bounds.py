"""The embedded bus holds a bounded number of records (issue #14: it kept every record for ever):
it drops what every group reading a topic has committed, keeps a bounded tail of topics no group
reads, says `full()` at `max_held`, and keeps only the spooled topics (dead letters) on disk."""
from __future__ import annotations

import pytest

from core.bus.embedded import EmbeddedBus
from core.counters import Counters


def produce(bus, topic, n, start=0):
    p = bus.producer()
    for i in range(start, start + n):
        p.send(topic, str(i).encode(), str(i % 7).encode())


def drain(consumer):
    got = []
    while batch := consumer.poll(500, 0):
        got += batch
    consumer.commit()
    return got


@pytest.mark.parametrize("groups", [1, 3])
def test_records_every_group_committed_are_dropped(groups):
    bus = EmbeddedBus(partitions=3)
    consumers = [bus.consumer(f"g{i}", ["t"]) for i in range(groups)]
    for round_ in range(20):                                  # 20 x 5,000 records through the bus
        produce(bus, "t", 5000, round_ * 5000)
        for c in consumers[:-1]:
            drain(c)
        assert bus.held() == 5000                             # the last group has not committed yet
        assert len(drain(consumers[-1])) == 5000
        assert bus.held() == 0
    assert sum(bus.end_offsets("t").values()) == 100_000      # offsets keep counting


def one_partition_committed_to(offset: int, group: str):
    """A one-partition bus with records 0-9 whose only group committed up to `offset`."""
    bus = EmbeddedBus(partitions=1)
    c = bus.consumer(group, ["t"])
    produce(bus, "t", 10)
    c.poll(offset, 0)
    c.commit()
    return bus, c


def test_a_group_that_joins_late_starts_at_the_oldest_record_held():
    bus, first = one_partition_committed_to(4, "a")
    late = bus.consumer("b", ["t"])                           # records 0-3 are gone already
    assert [r.offset for r in drain(late)] == list(range(4, 10))
    assert bus.held() == 6                                    # "a" still holds 4-9
    assert first.lag() == 6


def test_uncommitted_records_stay_for_the_next_member_and_seek_stays_in_range():
    bus, c = one_partition_committed_to(5, "g")
    c.poll(5, 0)
    c.seek("t", 0, 0)                                         # before the oldest record held: from 5
    assert [r.offset for r in c.poll(100, 0)] == list(range(5, 10))
    c.close()
    again = bus.consumer("g", ["t"])
    assert [r.offset for r in again.poll(100, 0)] == list(range(5, 10))


def test_a_topic_no_group_reads_keeps_a_bounded_tail():
    counters = Counters()
    bus = EmbeddedBus(partitions=1, retain_unsubscribed=100, counters=counters)
    produce(bus, "unread", 1000)
    assert bus.held() == 100 and bus.unread_trimmed == 900 and counters.get("bus.unread_trimmed") == 900
    assert [int(r.value) for r in bus.records("unread")] == list(range(900, 1000))


def test_full_at_max_held_until_consumers_commit():
    bus = EmbeddedBus(partitions=2, max_held=1000)
    c = bus.consumer("g", ["t"])
    produce(bus, "t", 999)
    assert not bus.full()
    produce(bus, "t", 1, 999)
    assert bus.full()
    drain(c)
    assert not bus.full() and bus.held() == 0


def test_spooled_topics_outlive_the_bus(tmp_path):
    bus = EmbeddedBus(partitions=2, spool_dir=tmp_path, spooled=["dl"])
    produce(bus, "dl", 5)
    again = EmbeddedBus(partitions=2, spool_dir=tmp_path, spooled=["dl"])    # a later process
    assert sorted(int(r.value) for r in again.read("dl")) == list(range(5))
    produce(again, "dl", 3, 5)
    offsets = [(r.partition, r.offset) for r in again.read("dl")]
    assert len(set(offsets)) == 8                             # offsets continue, never reused
    with open(again._spools["dl"].path, "ab") as f:
        f.write(b'{"p": 0, "o"')                              # a line cut short by a crash
    assert len(again.read("dl")) == 8


def test_a_dead_letter_file_write_does_not_hold_other_topics(tmp_path):
    """The dead-letter file is a FIFO nobody reads yet, so its write blocks: meanwhile an append to
    another topic and a second dead letter's offset are not held up by the bus's lock; once the
    file is read, both dead letters are there in offset order and only then readable."""
    import os
    import threading
    bus = EmbeddedBus(partitions=1, spool_dir=tmp_path, spooled=["dl"])
    bus.create_topics(["dl"])                                 # the topic exists (its file does not yet)
    os.mkfifo(bus._spools["dl"].path)
    writer = threading.Thread(target=lambda: bus.append("dl", b"first", None), daemon=True)
    writer.start()
    other = threading.Thread(target=lambda: bus.append("events", b"e", None), daemon=True)
    other.start()
    other.join(10)
    assert not other.is_alive() and [r.value for r in bus.read("events")] == [b"e"]
    assert writer.is_alive() and bus.held() == 1              # the dead letter: not readable before its write
    with open(bus._spools["dl"].path, "rb") as f:            # a reader: the write goes through
        writer.join(10)
        line = f.readline()
    assert not writer.is_alive() and b'"o":0' in line
    assert bus.held() == 2 and [(r.offset, r.value) for r in bus._topics["dl"][0].records] == [(0, b"first")]
