from core.bus.base import partition_for
from core.bus.embedded import EmbeddedBus


import pytest

from core.bus.base import _murmur2


@pytest.mark.parametrize("key, signed", [
    # test vectors of Kafka's own UtilsTest.testMurmur2
    ("21", -973932308), ("foobar", -790332482), ("a-little-bit-long-string", -985981536),
    ("a-little-bit-longer-string", -1486304829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    ("abc", 479470107)])
def test_murmur2_matches_kafka(key, signed):
    assert _murmur2(key.encode()) == signed & 0xFFFFFFFF
    assert partition_for(key.encode(), 7) == (signed & 0x7FFFFFFF) % 7


def test_null_key_goes_to_partition_zero():
    assert partition_for(None, 3) == 0


def test_same_key_same_partition_in_order():
    bus = EmbeddedBus(partitions=4)
    p = bus.producer()
    for i in range(20):
        p.send("t", str(i).encode(), b"node-1")
    c = bus.consumer("g", ["t"])
    recs = c.poll(100, 0)
    assert [r.value for r in recs] == [str(i).encode() for i in range(20)]
    assert len({r.partition for r in recs}) == 1


def test_uncommitted_records_are_redelivered_to_the_next_member():
    bus = EmbeddedBus(partitions=2)
    p = bus.producer()
    for i in range(10):
        p.send("t", str(i).encode(), str(i).encode())
    c1 = bus.consumer("g", ["t"])
    first = c1.poll(4, 0)
    c1.commit()
    c1.poll(100, 0)          # read the rest but crash before commit
    c1.close()
    c2 = bus.consumer("g", ["t"])
    rest = c2.poll(100, 0)
    assert sorted(r.value for r in first + rest) == sorted(str(i).encode() for i in range(10))
    assert not {r.value for r in first} & {r.value for r in rest}


def test_group_members_split_partitions_and_rebalance_on_leave():
    bus = EmbeddedBus(partitions=4)
    bus.create_topics(["t"], 4)
    revoked, assigned = [], []
    a = bus.consumer("g", ["t"])
    a.on_revoke = revoked.extend
    b = bus.consumer("g", ["t"])
    b.on_assign = assigned.extend
    assert len(a.assignment) == 2 and len(b.assignment) == 2
    assert not set(a.assignment) & set(b.assignment)
    a.close()
    assert len(b.assignment) == 4
    assert len(assigned) == 2          # b received a's two partitions
    other = bus.consumer("other", ["t"])
    assert len(other.assignment) == 4  # groups are independent


def test_lag_counts_unconsumed_records():
    bus = EmbeddedBus(partitions=1)
    c = bus.consumer("g", ["t"])
    for i in range(5):
        bus.producer().send("t", b"x")
    assert c.lag() == 5
    c.poll(2, 0)
    assert c.lag() == 3


def test_pause_seek_resume_gives_records_back_and_commit_stays_behind():
    """The contract a backpressured act stage relies on (same as the Kafka clients')."""
    bus = EmbeddedBus(partitions=2)
    p = bus.producer()
    for i in range(10):
        p.send("t", str(i).encode(), f"k{i}".encode())
    c = bus.consumer("g", ["t"])
    recs = c.poll(100, 0)
    assert len(recs) == 10
    first = {}
    for r in recs:
        first[r.partition] = min(first.get(r.partition, r.offset), r.offset)
    for part, off in first.items():
        c.seek("t", part, off)
    assert c.pause() is True
    c.commit()
    assert sum(bus.committed("g", "t").values()) == 0     # not past the records given back
    p.send("t", b"10", b"k10")
    assert c.poll(100, 0) == [] and c.pause() is True     # paused: nothing, new records included
    c.resume()
    again = c.poll(100, 0)
    assert sorted(int(r.value) for r in again) == list(range(11))
    c.commit()
    assert sum(bus.committed("g", "t").values()) == 11


def test_a_rebalance_hands_out_unpaused_partitions():
    bus = EmbeddedBus(partitions=2)
    a = bus.consumer("g", ["t"])
    assert a.pause() is True
    b = bus.consumer("g", ["t"])
    assert b.pause() is True and len(b.assignment) == 1
    b.close()                                              # its partition goes back to a, unpaused
    bus.producer().send("t", b"x", b"k")
    bus.producer().send("t", b"y", b"other")
    assert len(a.assignment) == 2 and len(a.paused) == 1
    got = a.poll(100, 0)
    assert all(r.partition not in {p for _, p in a.paused} for r in got)


def test_pause_with_nothing_assigned_and_seek_outside_the_assignment():
    bus = EmbeddedBus(partitions=1)
    a = bus.consumer("g", ["t"])
    b = bus.consumer("g", ["t"])           # one partition: b gets nothing
    assert b.pause() is False
    b.resume()
    with pytest.raises(KeyError):
        b.seek("t", 0, 0)
    a.close()
    b.close()


def test_a_consumer_without_flow_control_says_not_supported():
    from core.bus.base import Consumer, NotSupported

    class Bare(Consumer):
        def poll(self, max_records=500, timeout=0.1):
            return []

        def commit(self):
            pass

        def close(self):
            pass
    c = Bare()
    for call in (c.pause, c.resume, lambda: c.seek("t", 0, 0)):
        with pytest.raises(NotSupported):
            call()
