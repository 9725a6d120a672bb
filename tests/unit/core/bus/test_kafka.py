"""The librdkafka clients' own logic, on stand-ins for confluent_kafka's Producer and Consumer
(the real ones run against the broker in tests/integration/test_kafka_bus.py): a fatal producer
error replaces the producer and makes every flushing thread's next flush raise; the consumer
stores positions itself (so a seek back holds the commit back); commits refused while the
coordinator moves are deferred like a rebalance's."""
from __future__ import annotations

import threading
import types

import confluent_kafka as ck
import pytest
from kafka import errors as KafkaErrors
from kafka.structs import MemberState

from core.bus import kafka as kbus
from core.bus import kafka_python, rdkafka
from core.bus.base import CommitDeferred
from core.bus.failures import DeliveryFailures
from agent.config import parse


class FakeProducer:
    made: list["FakeProducer"] = []

    def __init__(self, conf):
        self.conf, self.sent, self.purged = conf, [], False
        self.fail_next_flush: ck.KafkaError | None = None
        self.fatal_next_flush: ck.KafkaError | None = None
        FakeProducer.made.append(self)

    def produce(self, topic, value, key):
        self.sent.append((topic, value, key))

    def poll(self, timeout):
        return 0

    def flush(self, timeout):
        if self.fail_next_flush is not None:
            err, self.fail_next_flush = self.fail_next_flush, None
            self.conf["on_delivery"](err, None)
        if self.fatal_next_flush is not None:
            err, self.fatal_next_flush = self.fatal_next_flush, None
            self.conf["error_cb"](err)
        return 0

    def purge(self):
        self.purged = True


class FakeConsumer:
    def __init__(self, conf):
        self.conf = conf
        self.stored: dict[tuple[str, int], int] = {}
        self.sought: list = []
        self.msgs: list = []
        self.commit_error: ck.KafkaError | None = None
        self.commit_gate: threading.Event | None = None
        self.closed = False
        self.consumed = 0
        self.paused: list = []
        self.assigned = [ck.TopicPartition("t", 0), ck.TopicPartition("t", 1)]

    def subscribe(self, topics, **cb):
        self.cb = cb

    def consume(self, num_messages, timeout):
        self.consumed += 1
        out, self.msgs = self.msgs, []
        return out

    def store_offsets(self, offsets):
        for tp in offsets:
            self.stored[tp.topic, tp.partition] = tp.offset

    def seek(self, tp):
        self.sought.append((tp.topic, tp.partition, tp.offset))

    def commit(self, asynchronous=True):
        if self.commit_gate is not None:
            self.commit_gate.wait()       # a commit librdkafka never acknowledges (until the gate opens)
        if self.commit_error is not None:
            raise ck.KafkaException(self.commit_error)

    def assignment(self):
        return list(self.assigned)

    def pause(self, parts):
        self.paused = [(tp.topic, tp.partition) for tp in parts]

    def resume(self, parts):
        self.paused = []

    def close(self):
        self.closed = True


class Msg:
    def __init__(self, t, p, o):
        self.t, self.p, self.o = t, p, o

    def error(self):
        return None

    def topic(self):
        return self.t

    def partition(self):
        return self.p

    def offset(self):
        return self.o

    def key(self):
        return b"k"

    def value(self):
        return b"v"

    def timestamp(self):
        return (1, 1000)


@pytest.fixture
def bus(monkeypatch):
    fake = types.SimpleNamespace(Producer=FakeProducer, Consumer=FakeConsumer, KafkaError=ck.KafkaError,
                                 KafkaException=ck.KafkaException, TopicPartition=ck.TopicPartition)
    monkeypatch.setattr(rdkafka, "import_confluent", lambda: fake)
    FakeProducer.made = []
    return kbus.KafkaBus(parse({"bus": {"type": "kafka"}}).bus)


def test_defaults_build_the_librdkafka_clients(bus):
    assert isinstance(bus.producer(), rdkafka.ConfluentProducer)
    c = bus.consumer("g", ["t"])
    assert isinstance(c, rdkafka.ConfluentConsumer)
    assert c.c.conf["enable.auto.offset.store"] is False and c.c.conf["enable.auto.commit"] is False
    assert c.c.conf["session.timeout.ms"] == 15000 and c.c.conf["partition.assignment.strategy"] == "range"


def test_a_fatal_producer_error_replaces_the_producer_and_every_thread_replays(bus):
    p = bus.producer()
    p.send("t", b"1", b"k")
    p.flush()                                   # a thread's first flush: nothing failed
    errs = {}

    def other_thread():
        p.flush()
        p.send("t", b"x", b"k")
        errs["first"] = None
        ev.wait()
        try:
            p.flush()
        except ConnectionError as e:
            errs["other"] = e
    ev = threading.Event()
    t = threading.Thread(target=other_thread)
    t.start()
    while "first" not in errs:
        pass
    old = p.p
    old.fatal_next_flush = ck.KafkaError(ck.KafkaError._FATAL, "OUT_OF_ORDER_SEQUENCE_NUMBER", fatal=True)
    with pytest.raises(ConnectionError, match="fatal"):
        p.flush()
    assert p.p is not old and old.purged and p.renewed == 1
    ev.set()
    t.join(5)
    assert "fatal" in str(errs["other"])        # the other stage's thread replays too
    p.send("t", b"2", b"k")
    p.flush()                                   # the new producer works; each failure raised once
    assert p.p.sent == [("t", b"2", b"k")]


def test_an_undelivered_record_is_raised_by_the_next_flush(bus):
    p = bus.producer()
    p.send("t", b"1", b"k")
    p.p.fail_next_flush = ck.KafkaError(ck.KafkaError._MSG_TIMED_OUT, "timed out")
    with pytest.raises(ConnectionError, match="1 record"):
        p.flush()
    p.flush()


def test_produce_on_a_fatal_instance_renews_it(bus):
    p = bus.producer()
    old = p.p

    def boom(*a):
        raise ck.KafkaException(ck.KafkaError(ck.KafkaError._FATAL, "fatal", fatal=True))
    old.produce = boom
    p.send("t", b"1", b"k")
    assert p.p is not old and p.p.sent == [("t", b"1", b"k")]
    with pytest.raises(ConnectionError):
        p.flush()


def test_the_consumer_stores_positions_per_batch_and_seek_holds_the_commit_back(bus):
    c = bus.consumer("g", ["t"])
    c.c.msgs = [Msg("t", 0, 5), Msg("t", 0, 6), Msg("t", 1, 9)]
    recs = c.poll(10, 0)
    assert [(r.partition, r.offset) for r in recs] == [(0, 5), (0, 6), (1, 9)]
    assert c.c.stored == {("t", 0): 7, ("t", 1): 10}
    c.seek("t", 0, 5)
    assert c.c.sought == [("t", 0, 5)] and c.c.stored[("t", 0)] == 5
    assert c.pause() is True and c.c.paused == [("t", 0), ("t", 1)]
    c.resume()
    assert c.c.paused == []
    c.c.assigned = []
    assert c.pause() is False


@pytest.mark.parametrize("code, deferred", [
    (ck.KafkaError.REBALANCE_IN_PROGRESS, True), (ck.KafkaError._WAIT_COORD, True),
    (ck.KafkaError.NOT_COORDINATOR, True), (ck.KafkaError._TRANSPORT, True),
    (ck.KafkaError.COORDINATOR_NOT_AVAILABLE, True), (ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, False)])
def test_commits_refused_while_the_coordinator_moves_are_deferred(bus, code, deferred):
    c = bus.consumer("g", ["t"])
    c.c.commit_error = ck.KafkaError(code)
    with pytest.raises(CommitDeferred if deferred else ck.KafkaException):
        c.commit()
    c.c.commit_error = ck.KafkaError(ck.KafkaError._NO_OFFSET)
    c.commit()                                  # nothing consumed since the last commit


def test_a_fatal_consumer_error_raises_from_poll(bus):
    c = bus.consumer("g", ["t"])
    c.c.conf["error_cb"](ck.KafkaError(ck.KafkaError.FENCED_INSTANCE_ID, "fenced", fatal=True))
    with pytest.raises(ck.KafkaException):
        c.poll(10, 0)


def test_each_flushing_thread_is_told_of_a_failure_once():
    """Both producers share this: a record lost by the shared producer makes every stage
    thread's next flush raise (nobody knows whose record it was), and only once."""
    f = DeliveryFailures()
    f.raise_new()
    f.add("MSG_TIMED_OUT")
    seen = []

    def flush_twice():
        for _ in range(2):
            try:
                f.raise_new()
                seen.append("ok")
            except ConnectionError as e:
                seen.append(str(e))
    threads = [threading.Thread(target=flush_twice) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == ["kafka: 1 record(s) not delivered: MSG_TIMED_OUT"] * 2 + ["ok", "ok"]
    with pytest.raises(ConnectionError):
        f.raise_new()                          # this thread had not flushed since either
    f.raise_new()


def test_a_commit_that_never_returns_is_deferred_and_the_consumer_abandoned_not_closed(bus):
    """librdkafka's synchronous commit can stay blocked once its coordinator moved: the stage's
    thread must get a deferred commit back instead of hanging, and closing must not touch the
    handle while that commit is still inside it."""
    c = bus.consumer("g", ["t"])
    c.commit_timeout_s = 0.2
    c.c.commit_gate = threading.Event()
    with pytest.raises(CommitDeferred, match="not acknowledged"):
        c.commit()
    with pytest.raises(CommitDeferred, match="still waiting"):
        c.commit()                          # no second commit piled onto the stuck one
    c.close_timeout_s = 0.5
    c.close()
    assert c.c.closed is False              # abandoned: librdkafka leaves the group by itself
    assert c.c.consumed >= 1                # it polled (serving a pending rebalance) before giving up
    c.c.commit_gate.set()                   # the stuck commit returns at last
    c._commit_thread.join(5)
    c.commit()                              # commits work again
    c.close()
    assert c.c.closed is True


def test_closing_serves_the_queue_so_a_commit_waiting_on_a_rebalance_returns_and_closes(bus):
    c = bus.consumer("g", ["t"])
    c.commit_timeout_s = 0.1
    gate = c.c.commit_gate = threading.Event()
    real_consume = c.c.consume

    def consume(num_messages, timeout):     # the rebalance the commit waits for is served by polling
        gate.set()
        return real_consume(num_messages, timeout)
    c.c.consume = consume
    with pytest.raises(CommitDeferred):
        c.commit()
    c.close()
    assert c.c.closed is True


class StuckKafkaPython:
    """kafka-python 3.0.12 after it abandoned a finished join: commits refused, nothing to rejoin for."""

    def __init__(self, due: bool = False, in_flight: bool = False, state: str = MemberState.STABLE,
                 owned: tuple = ()) -> None:
        self.polls: list[int] = []
        self.owned = set(owned)
        coord = types.SimpleNamespace(rejoins=0, _join_task=types.SimpleNamespace(is_done=not in_flight), state=state)
        coord.need_rejoin = lambda: due or coord.rejoins > 0     # request_rejoin makes one due
        coord.request_rejoin = lambda: setattr(coord, "rejoins", coord.rejoins + 1)
        self._coordinator = coord

    def commit(self):
        raise KafkaErrors.RebalanceInProgressError("the consumer is undergoing a rebalance")

    def poll(self, timeout_ms, max_records):
        self.polls.append(timeout_ms)
        return {}

    def assignment(self):
        return self.owned


@pytest.mark.parametrize("due,in_flight,restarted", [(False, False, True), (True, False, False), (False, True, False)])
def test_kafka_python_join_abandoned_by_the_client_is_restarted_by_the_next_poll(due, in_flight, restarted):
    c = object.__new__(kafka_python.KafkaPythonConsumer)
    c.c, c._rejoin_poll = StuckKafkaPython(due, in_flight), False
    with pytest.raises(CommitDeferred):                            # still deferred by the stage, as before
        c.commit()
    assert c.c._coordinator.rejoins == int(restarted)
    c.poll(10, 0.1)
    c.poll(10, 0.1)
    long_poll = int(kafka_python.KafkaPythonConsumer.REJOIN_POLL_S * 1000)
    assert c.c.polls == ([long_poll, 100] if restarted else [100, 100])   # one long poll runs the join to its end


@pytest.mark.parametrize("state,owned,due,in_flight,restarted", [
    (MemberState.REBALANCING, (), False, False, True),        # revoked, join abandoned: idle for good
    (MemberState.STABLE, (), False, False, False),            # a stable member that owns nothing
    (MemberState.REBALANCING, ("t", 0), False, False, True),   # lists its old partitions, gets nothing
    (MemberState.REBALANCING, (), True, False, False),        # a join is due: the next poll runs it
    (MemberState.REBALANCING, (), False, True, False)])       # a join is under way
def test_kafka_python_idle_member_left_out_of_the_group_rejoins_without_a_commit(state, owned, due, in_flight, restarted):
    """A member whose partitions were revoked and whose join was abandoned gets no records, so it has
    nothing to commit: the idle poll itself restarts the join, also while `assignment()` still lists
    the partitions it had (kafka-python replaces them only when a join completes)."""
    c = object.__new__(kafka_python.KafkaPythonConsumer)
    c.c, c._rejoin_poll = StuckKafkaPython(due, in_flight, state, owned), False
    c.poll(10, 0.1)
    c.poll(10, 0.1)
    assert c.c._coordinator.rejoins == int(restarted)
    long_poll = int(kafka_python.KafkaPythonConsumer.REJOIN_POLL_S * 1000)
    assert c.c.polls == ([100, long_poll] if restarted else [100, 100])


class RefusingKafkaPython(StuckKafkaPython):
    def __init__(self, error: Exception) -> None:
        super().__init__(due=True)
        self.error = error

    def commit(self):
        raise self.error


@pytest.mark.parametrize("error, deferred", [
    (KafkaErrors.RebalanceInProgressError("rebalancing"), True), (KafkaErrors.CommitFailedError("left the group"), True),
    (KafkaErrors.IllegalGenerationError("old generation"), True), (KafkaErrors.UnknownMemberIdError("unknown"), True),
    (KafkaErrors.TopicAuthorizationFailedError("denied"), False), (ConnectionError("gone"), False)])
def test_kafka_python_commit_errors_map_to_the_bus_contract(error, deferred):
    """The stage catches CommitDeferred by type: kafka-python's rebalance errors become it (the
    original kept as the cause), every other error stays what it was."""
    c = object.__new__(kafka_python.KafkaPythonConsumer)
    c.c, c._rejoin_poll = RefusingKafkaPython(error), False
    with pytest.raises(CommitDeferred if deferred else type(error)) as caught:
        c.commit()
    if deferred:
        assert caught.value.__cause__ is error and type(error).__name__ in str(caught.value)


@pytest.mark.parametrize("command", [["replay", "{empty}"], ["deadletters", "list"]])
def test_brokers_that_cannot_be_reached_are_a_clear_error_naming_the_address(tmp_path, command):
    """A mistyped bus.bootstrap printed kafka-python's KafkaTimeoutError traceback."""
    from click.testing import CliRunner
    from agent.cli import _load_commands, cli
    _load_commands()
    (tmp_path / "empty.jsonl").write_text("")
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\nbus: {{type: kafka, bootstrap: '127.0.0.1:1', "
                    "kafka: {bootstrap_timeout_ms: 300}}\n")
    r = CliRunner().invoke(cli, ["-c", str(conf), *[a.format(empty=tmp_path / "empty.jsonl") for a in command]])
    assert r.exit_code == 2 and "cannot reach Kafka at 127.0.0.1:1" in r.output, (r.output, r.exception)
