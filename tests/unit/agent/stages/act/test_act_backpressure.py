"""Backpressure on the embedded bus's consumer: pause / resume keep the membership, records that
arrive anyway are rewound, and a consumer that cannot pause stops the polling instead."""
from __future__ import annotations

from core.bus.base import Consumer, Record
from agent.stages.act.backpressure import Backpressure


class PlainConsumer(Consumer):
    """A consumer with only what every client has: no pause, resume or seek."""

    def poll(self, max_records: int = 500, timeout: float = 0.1):
        return []

    def commit(self) -> None:
        pass

    def close(self) -> None:
        pass


def alerts_consumer(rt, n: int):
    topic = rt.topic("alerts")
    for i in range(n):
        rt.producer.send(topic, b"x%d" % i, b"k")
    c = rt.bus.consumer("g", [topic])
    return c, topic


def test_entering_pauses_the_partitions_and_leaving_resumes_them(rt):
    c, _ = alerts_consumer(rt, 3)
    bp = Backpressure(rt.counters)
    c.poll(0, 0)                                   # join: partitions assigned
    assert bp.set(True, c, lambda: "scripted/t=2") and bp.on and c.paused
    assert c.poll(10, 0) == []                     # paused: nothing, but still a member
    assert bp.set(True, c) and rt.counters.get("act.backpressure") == 1     # counted once per episode
    assert bp.set(False, c) and not bp.on and not c.paused
    assert len(c.poll(10, 0)) == 3
    assert rt.counters.get("act.backpressure_seconds") >= 0.0


def test_records_that_arrive_while_backpressured_are_rewound(rt):
    c, _ = alerts_consumer(rt, 4)
    bp = Backpressure(rt.counters)
    got = c.poll(10, 0)
    assert len(got) == 4 and bp.rewind(c, got[1:])
    assert rt.counters.get("act.backpressure_rewound") == 3 and bp.on and c.paused
    bp.set(False, c)
    assert [r.value for r in c.poll(10, 0)] == [r.value for r in got[1:]]


def test_a_consumer_that_cannot_pause_or_seek_stops_the_polling(rt):
    bp = Backpressure(rt.counters)
    plain = PlainConsumer()
    assert not bp.set(True, plain) and bp.on
    rec = Record(topic="warden.alerts", partition=0, offset=7, key=None, value=b"x")
    assert not bp.rewind(plain, [rec]) and not bp.set(True, None)
