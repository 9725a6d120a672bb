"""Act stage notification delivery on the embedded bus against a real local HTTP receiver:
a receiver that is down gets every notification once it is back (none lost, none doubled);
4xx is given up; Retry-After is honoured; a full buffer stops the stage consuming (offsets stay
behind) and due groups wait instead of being dropped; the buffer survives a restart."""
from __future__ import annotations

import pytest

from responders.webhook import WebhookResponder
from tests.support.receiver import Receiver
from tests.unit.agent.lifecycle.harness import Harness, finding

POLICY = """
policies:
  - id: p
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {group_by: [entity]}
    routes: [{responder: webhook/t, dry_run: false, notify: {group_by: [entity], group_wait: 0s}}]
"""


@pytest.fixture
def receiver():
    r = Receiver(status=503)
    yield r
    r.close()


def make(tmp_path, receiver, clock, **cfg):
    cfg = {"retry_initial_s": 10, "retry_max_s": 40, "timeout_s": 2, **cfg}
    hook = WebhookResponder("webhook/t", url=receiver.url, **cfg)
    return Harness(tmp_path, POLICY, responders=[hook], wall=lambda: clock["t"])


def settle(h, clock, seconds):
    """Let `seconds` of wall time pass in steps, running the stages at each."""
    for _ in range(int(seconds)):
        clock["t"] += 1
        h.drain()
        h.act.step(0)


def notify_actions(h):
    return [a for a in h.actions() if a.action == "notify"]


def test_receiver_down_then_back_gets_each_notification_once(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock)
    h.feed(finding("n1"), finding("n2"))
    assert receiver.count(503) == 1 and notify_actions(h) == []      # n2 waits behind n1 (one FIFO)
    assert h.act.buffered() == 2 and h.rt.counters.get("act.notify_retries") == 1
    settle(h, clock, 9)
    assert receiver.count() == 1                                      # backoff: next attempt at +10 s
    settle(h, clock, 1)
    assert receiver.count(503) == 2 and h.rt.counters.get("act.notify_retries") == 2
    receiver.status = 200
    settle(h, clock, 20)                                              # 2nd backoff is 20 s
    acts = notify_actions(h)
    assert {a.status for a in acts} == {"done"} and len(acts) == 2 and h.act.buffered() == 0
    alerts = {a.id for a in h.alerts()}
    assert sorted(receiver.notified_alerts()) == sorted((aid, "firing") for aid in alerts)
    assert receiver.duplicates == 0 and receiver.count(200) == 2
    keys = {a.result["idempotency_key"] for a in acts}
    assert keys == {f"{aid}:firing" for aid in alerts}
    assert max(a.result["attempts"] for a in acts) == 3
    assert h.rt.counters.get("act.notify_delivered") == 2 and h.rt.counters.get("act.notify_buffered") == 1
    assert h.rt.counters.get("act.notify_given_up") == 0
    h.close()


def test_4xx_is_given_up_at_once_and_recorded(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    receiver.status = 400
    h = make(tmp_path, receiver, clock)
    h.feed(finding("n1"))
    [a] = notify_actions(h)
    assert a.status == "failed" and a.result["given_up"] == "rejected" and a.result["attempts"] == 1
    assert receiver.count() == 1 and h.act.buffered() == 0
    assert h.rt.counters.get("act.notify_given_up.rejected") == 1 and h.rt.counters.get("act.notify_retries") == 0
    h.close()


def test_retry_after_is_honoured_and_expiry_gives_up(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    receiver.retry_after = "30"
    h = make(tmp_path, receiver, clock, give_up_after_s=45)
    h.feed(finding("n1"))
    settle(h, clock, 29)
    assert receiver.count() == 1                                      # Retry-After 30 beats the 10 s backoff
    settle(h, clock, 1)
    assert receiver.count() == 2
    settle(h, clock, 30)                                              # 60 s after the first attempt
    [a] = notify_actions(h)
    assert a.status == "failed" and a.result["given_up"] == "expired" and receiver.count() == 3
    assert h.rt.counters.get("act.notify_given_up.expired") == 1 and h.act.buffered() == 0
    h.close()


def test_full_buffer_backpressures_and_nothing_is_dropped(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock, max_buffer=2)
    alerts_topic = h.rt.topic("alerts")
    h.feed(*[finding(f"n{i}") for i in range(5)])
    assert h.act.buffered() == 2 and h.act.buffer_full() and h.act.backpressured
    assert h.act.groups.pending() == 3 and h.rt.counters.get("act.notify_deferred") >= 3
    h.feed(*[finding(f"m{i}") for i in range(3)])                     # more alerts while full
    end = sum(h.rt.bus.end_offsets(alerts_topic).values())
    committed = sum(h.rt.bus.committed(h.act.group, alerts_topic).values())
    assert end - committed == 3                                       # not consumed, not committed
    assert h.rt.counters.get("act.backpressure") == 1
    receiver.status = 200
    settle(h, clock, 40)
    assert not h.act.backpressured and h.act.buffered() == 0 and h.act.groups.pending() == 0
    assert sum(h.rt.bus.committed(h.act.group, alerts_topic).values()) == end
    alerts = {a.id for a in h.alerts()}
    assert len(alerts) == 8
    assert sorted(receiver.notified_alerts()) == sorted((aid, "firing") for aid in alerts)
    assert receiver.duplicates == 0 and receiver.count(200) == 8
    assert h.rt.counters.get("act.notify_delivered") == 8 and h.rt.counters.get("act.backpressure_seconds") >= 0
    h.close()


def test_buffered_notifications_survive_a_restart(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock)
    h.feed(finding("n1"), finding("n2"))
    alerts = {a.id for a in h.alerts()}
    assert h.act.buffered() == 2
    h.close()                                                         # buffer written to the state
    receiver.status = 200
    h2 = make(tmp_path, receiver, clock)                              # fresh process, same data dir
    h2.act.step(0)
    assert h2.act.buffered() == 2 and receiver.count() == 1           # restored with its backoff
    settle(h2, clock, 10)
    assert h2.act.buffered() == 0 and receiver.count(200) == 2 and receiver.duplicates == 0
    assert sorted(receiver.notified_alerts()) == sorted((aid, "firing") for aid in alerts)
    assert {a.status for a in notify_actions(h2)} == {"done"}
    h2.close()


def test_a_crash_after_delivery_before_the_checkpoint_resends_with_the_same_key(tmp_path, receiver):
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock)
    h.feed(finding("n1"))
    assert h.act.buffered() == 1
    receiver.status = 200
    clock["t"] += 10
    h.act._publish(h.act._deliver())                  # delivered, then the process dies before checkpointing
    assert receiver.count(200) == 1
    h2 = make(tmp_path / "again", receiver, clock)    # (a fresh harness dir, the old state copied over)
    h2.rt.state.put_many([(ns, k, h.rt.state.get(ns, k)) for ns in ("act:delivery",)
                          for k in h.rt.state.keys(ns)])
    h2.act.step(0)
    settle(h2, clock, 1)
    assert receiver.count(200) == 2 and receiver.duplicates == 1  # resent with the same Idempotency-Key
    assert len(receiver.accepted) == 1 and h2.act.buffered() == 0
    h.close()
    h2.close()


def test_flush_notifications_without_a_consumer_still_persists_the_buffer(tmp_path, receiver):
    from core import codec
    clock = {"t": 1_000_000.0}
    h = make(tmp_path, receiver, clock)
    h.feed(finding("n1"))
    [alert] = h.alerts()
    h.close()
    h2 = make(tmp_path / "b", receiver, clock)        # an act stage that never polls
    h2.act._load()
    for route in alert.routes:
        h2.act._route(codec.from_dict(codec.to_dict(alert), "alert"), route)
    assert h2.act.flush_notifications() == [] and h2.act.buffered() == 1
    h2.close()
    receiver.status = 200
    h3 = make(tmp_path / "b", receiver, clock)
    settle(h3, clock, 10)
    assert receiver.count(200) == 1 and receiver.notified_alerts() == [(alert.id, "firing")]
    h3.close()
