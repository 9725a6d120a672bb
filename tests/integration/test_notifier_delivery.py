"""Notifier delivery on the real stack: the act stage consumes alerts from real Kafka, stores them
in real Elasticsearch and notifies a real HTTP receiver (http.server on 127.0.0.1) that answers
503 for a while, then 200.

Proves: while the receiver is down nothing is lost — notifications wait in the bounded buffer, a
full buffer makes the act stage stop consuming (its committed offset stays behind the end of the
alerts topic over many steps: partitions paused, records that slip in rewound) and due groups wait; the stage is
restarted in the middle (a new process on the same data dir resumes from its committed offset
and its persisted buffer); once the receiver is back every alert's notification arrives exactly
once (firing, then resolved), each with its Idempotency-Key; retry, backpressure and delivery
counters move and show in /metrics. Each test runs on both Kafka clients: librdkafka's (the
default) and kafka-python's, through the bus's pause / resume / seek.
"""
from __future__ import annotations

import dataclasses
import time

import pytest

from core import codec
from core.counters import Counters
from core.event import Alert, stable_id
from core.observability import metrics
from agent.runtime import Runtime
from agent.stages.act import ActStage
from responders.webhook import WebhookResponder
from policy.policies import PolicySet
from tests.support.receiver import Receiver

POLICY = """
policies:
  - id: notify-delivery
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {group_by: [entity]}
    routes: [{responder: webhook/hook, dry_run: false, notify: {group_by: [entity], group_wait: 0s, group_interval: 1s}}]
"""
WAVE = 6          # alerts per wave
BUFFER = 3        # max_buffer of the notifier


@pytest.fixture
def receiver():
    r = Receiver(status=503, retry_after="0")
    yield r
    r.close()


def alerts_for(policies, wave: int, status="firing") -> list[Alert]:
    [p] = policies.policies
    t = 1_700_000_000.0 + wave * 100
    return [Alert(id=stable_id("alert", "notify-delivery", wave, i), rule=p.id, title="gpu memory leak",
                  severity="high", entity=f"gpu-{wave}-{i}", group_key=f"gpu-{wave}-{i}", status=status,
                  first_seen=t, last_seen=t + (50 if status == "resolved" else 0), count=1,
                  detector="gpu_memory_leak/default",
                  labels={"alertname": p.id, "entity": f"gpu-{wave}-{i}", "severity": "high"},
                  updated=t + (50 if status == "resolved" else 0), routes=tuple(p.routes))
            for i in range(WAVE)]


def start(cfg, policies, receiver) -> tuple[Runtime, ActStage]:
    rt = Runtime(cfg, counters=Counters())
    rt.create_topics()
    hook = WebhookResponder("webhook/hook", url=receiver.url, max_buffer=BUFFER, retry_initial_s=0.2,
                            retry_max_s=0.5, timeout_s=2)
    hook.receiver = receiver      # for the diagnostics of run_until
    return rt, ActStage(rt, responders=[hook], policies=policies)


def produce(rt, alerts) -> None:
    for a in alerts:
        rt.producer.send(rt.topic("alerts"), codec.encode(a), a.entity.encode())
    rt.producer.flush()


def committed(rt, act) -> int:
    return sum(rt.bus.committed(act.group, rt.topic("alerts")).values())


def end(rt) -> int:
    return sum(rt.bus.end_offsets(rt.topic("alerts")).values())


def run_until(act, cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        act.step(0.1)
        if cond():
            return
    raise AssertionError(f"timed out waiting for {what}: accepted {len(act_receiver(act).accepted)}, "
                         f"committed {committed(act.rt, act)}, buffered {act.buffered()}, pending "
                         f"{act.groups.pending()}, backpressured {act.backpressured}, "
                         f"last commit deferral {act.last_commit_deferral!r}, "
                         f"counters {dict((k, v) for k, v in act.rt.counters.snapshot().items() if k.startswith('act.'))}")


def act_receiver(act):
    return act.responders["webhook/hook"].receiver


def with_clients(kafka_cfg, client, **kw):
    """The config on one client implementation for both roles (librdkafka's is the default)."""
    bus = dataclasses.replace(kafka_cfg.bus, producer_client=client, consumer_client=client)
    return dataclasses.replace(kafka_cfg, bus=bus, **kw)


#: the act stage's pause / resume / seek on both consumers (librdkafka's is the default)
CLIENTS = ["confluent", "kafka-python"]


@pytest.mark.parametrize("client", CLIENTS)
def test_receiver_down_backpressure_restart_then_every_notification_once(kafka_cfg, tmp_path, receiver, client):
    pol = tmp_path / "policies.yaml"
    pol.write_text(POLICY)
    policies = PolicySet.load([str(pol)])
    cfg = with_clients(kafka_cfg, client, policies=[str(pol)])
    rt, act = start(cfg, policies, receiver)
    wave0 = alerts_for(policies, 0)
    produce(rt, wave0)

    # the receiver is down: the buffer fills, the rest of the due groups wait, act stops consuming
    run_until(act, lambda: act.backpressured and committed(rt, act) == WAVE, 90, "a full buffer, wave 0 committed")
    assert act.buffered() == BUFFER and act.groups.pending() == WAVE - BUFFER
    wave1 = alerts_for(policies, 1)
    produce(rt, wave1)
    retries0 = rt.counters.get("act.notify_retries")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4:                  # many steps and retries: still nothing consumed
        act.step(0.1)
    assert rt.counters.get("act.notify_retries") > retries0
    assert committed(rt, act) == WAVE and end(rt) == 2 * WAVE and act.backpressured
    assert rt.counters.get("act.backpressure") == 1
    assert rt.counters.get("act.notify_deferred") >= WAVE - BUFFER
    assert receiver.count(200) == 0 and receiver.count(503) >= 3
    text = metrics.render(rt.counters).decode()
    assert "notify_retries" in text and "notify_deferred" in text
    assert f'warden_notify_buffer{{responder="webhook/hook"}} {float(BUFFER)}' in text
    assert "warden_act_backpressure 1.0" in text

    # restart the act stage in the middle of the outage (new runtime, same data dir)
    act.close()
    rt.close()
    rt, act = start(cfg, policies, receiver)
    run_until(act, lambda: act.buffered() == BUFFER, 60, "the restored buffer")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2:
        act.step(0.1)
    assert act.backpressured and committed(rt, act) == WAVE

    # the receiver comes back: everything drains, wave 1 is consumed, then resolutions follow
    receiver.status = 200
    run_until(act, lambda: len(receiver.accepted) == 2 * WAVE and committed(rt, act) == 2 * WAVE,
              90, "all firing notifications")
    assert not act.backpressured
    produce(rt, alerts_for(policies, 0, "resolved") + alerts_for(policies, 1, "resolved"))
    run_until(act, lambda: len(receiver.accepted) == 4 * WAVE, 90, "all resolved notifications")
    for _ in range(5):
        act.step(0.1)

    ids = [a.id for a in wave0 + wave1]
    got = receiver.notified_alerts()
    assert sorted(got) == sorted([(i, "firing") for i in ids] + [(i, "resolved") for i in ids])   # none lost
    assert receiver.duplicates == 0 and receiver.count(200) == 4 * WAVE                             # none doubled
    assert set(receiver.accepted) == {f"{i}:{s}" for i in ids for s in ("firing", "resolved")}
    for aid in ids:                                   # firing reached the receiver before resolved
        keys = [h["Idempotency-Key"] for c, h, _ in receiver.requests if c == 200]
        assert keys.index(f"{aid}:firing") < keys.index(f"{aid}:resolved")
    assert rt.counters.get("act.notify_delivered") == 4 * WAVE
    assert rt.counters.get("act.notify_given_up") == 0 and rt.counters.get("act.notify_dropped") == 0
    assert rt.counters.get("act.backpressure_seconds") > 0
    rt.store.flush()
    acts = [a for a in rt.store.list_actions(limit=1000) if a.action == "notify"]
    assert len(acts) == 4 * WAVE
    assert {a.status for a in acts} == {"done"}
    act.close()
    rt.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_a_rebalance_while_backpressured_consumes_nothing_and_loses_nothing(kafka_cfg, tmp_path, receiver, client):
    """Another member joins and leaves the act group while the buffer is full: partitions move
    and come back unpaused; whatever a poll fetches then is rewound, not handled or committed.
    (The other member is a kafka-python consumer with the range assignor: both clients speak
    the same group protocol.)"""
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    pol = tmp_path / "policies.yaml"
    pol.write_text(POLICY)
    policies = PolicySet.load([str(pol)])
    cfg = with_clients(kafka_cfg, client, policies=[str(pol)])
    rt, act = start(cfg, policies, receiver)
    wave0, wave1 = alerts_for(policies, 0), alerts_for(policies, 1)
    produce(rt, wave0)
    run_until(act, lambda: act.backpressured and committed(rt, act) == WAVE, 90, "a full buffer")
    produce(rt, wave1)
    other = KafkaConsumer(bootstrap_servers=cfg.bus.bootstrap, group_id=act.group, enable_auto_commit=False,
                          auto_offset_reset="earliest", partition_assignment_strategy=(RangePartitionAssignor,))
    other.subscribe([rt.topic("alerts")])
    deadline = time.monotonic() + 60
    while not other.assignment() and time.monotonic() < deadline:
        other.poll(timeout_ms=100, max_records=1)
        other.pause(*other.assignment())     # it only joins: never consumes
        act.step(0.1)
    assert other.assignment(), "the second member never got partitions"
    other.close(autocommit=False)
    assigned = rt.counters.get("act.partitions_assigned")
    run_until(act, lambda: rt.counters.get("act.partitions_assigned") > assigned, 60, "the partitions back")
    for _ in range(20):
        act.step(0.1)
    assert committed(rt, act) == WAVE and act.backpressured and receiver.count(200) == 0
    print("rebalance while backpressured:", {k: v for k, v in rt.counters.snapshot().items()
                                             if k.startswith(("act.partitions", "act.backpressure", "act.commit"))})
    receiver.status = 200
    run_until(act, lambda: len(receiver.accepted) == 2 * WAVE and committed(rt, act) == 2 * WAVE,
              90, "all notifications")
    assert sorted(receiver.notified_alerts()) == sorted((a.id, "firing") for a in wave0 + wave1)
    assert receiver.duplicates == 0 and receiver.count(200) == 2 * WAVE
    act.close()
    rt.close()
