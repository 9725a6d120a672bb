"""The bus consumer's flow-control contract from its main user's side: a backpressured act stage
pauses through Consumer.pause / resume / seek on any bus, and where a consumer raises
NotSupported it stops polling instead — nothing consumed, nothing committed, nothing lost."""
from __future__ import annotations

import pytest

from core.bus.base import Consumer
from core.bus.embedded import _EmbeddedConsumer
from tests.unit.agent.stages.test_act_delivery import finding, make, receiver  # noqa: F401 - fixture


@pytest.mark.parametrize("can_pause", [True, False])
def test_a_full_buffer_stops_act_consuming_with_or_without_pause(tmp_path, receiver, monkeypatch, can_pause):
    polls = []
    if not can_pause:
        for name in ("pause", "resume", "seek"):
            monkeypatch.setattr(_EmbeddedConsumer, name, getattr(Consumer, name))
    real_poll = _EmbeddedConsumer.poll

    def poll(self, *a, **kw):
        out = real_poll(self, *a, **kw)
        polls.append((self, len(out)))
        return out
    monkeypatch.setattr(_EmbeddedConsumer, "poll", poll)
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock, max_buffer=2)
    alerts_topic = h.rt.topic("alerts")
    h.feed(*[finding(f"n{i}") for i in range(5)])
    assert h.act.backpressured and h.act.buffered() == 2
    before = len(polls)
    h.feed(*[finding(f"m{i}") for i in range(3)])                   # more alerts while full
    end = sum(h.rt.bus.end_offsets(alerts_topic).values())
    assert end - sum(h.rt.bus.committed(h.act.group, alerts_topic).values()) == 3
    act_polls = [n for c, n in polls[before:] if c is h.act.consumer]
    if can_pause:             # polls (keeps its group membership), its partitions paused: gets nothing
        assert act_polls and not any(act_polls) and h.act.consumer.paused
    else:                     # cannot pause: does not poll at all
        assert act_polls == [] and not h.act.consumer.paused
    receiver.status = 200
    for _ in range(40):
        clock["t"] += 1
        h.drain()
        h.act.step(0)
    assert not h.act.backpressured and h.act.buffered() == 0
    assert sum(h.rt.bus.committed(h.act.group, alerts_topic).values()) == end
    assert receiver.count(200) == 8 and receiver.duplicates == 0
    h.close()
