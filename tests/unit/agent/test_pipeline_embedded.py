"""The whole pipeline on the embedded bus and SQLite: alerts, dedup on replay, crash before
commit, dead letters."""
from __future__ import annotations

import dataclasses

import pytest

from core import codec
from core.bus.base import CommitDeferred
from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
from tests.support.synthetic import SyntheticCollector


def run_pipeline(tmp_path, name="w", collectors=None, **kw):
    cfg = parse({"data_dir": str(tmp_path / name), "pipeline": {"batch_size": 200}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=collectors if collectors is not None else [SyntheticCollector("synthetic/t")], **kw)
    p.drain()
    return p


def alert_view(p):
    return sorted((a.id, a.entity, a.count, a.status) for a in p.rt.store.list_alerts(AlertQuery(limit=1000)))


def test_level_shift_becomes_one_alert_on_the_right_entity(tmp_path):
    p = run_pipeline(tmp_path)
    alerts = p.rt.store.list_alerts(AlertQuery())
    assert [a.entity for a in alerts] == ["node-0"]
    a = alerts[0]
    assert a.first_seen == pytest.approx(1.7e9 + 60 * 300)
    assert a.count >= 50 and a.event_ids
    assert p.rt.counters.get("collect.events") == 1200
    assert p.rt.counters.get("detect.events") == 1200
    actions = p.rt.store.list_actions()
    assert len(actions) == 1 and actions[0].dry_run and actions[0].status == "planned"
    p.close()


def test_same_input_twice_gives_same_alert_ids_and_no_duplicates(tmp_path):
    first = run_pipeline(tmp_path, "a")
    second = run_pipeline(tmp_path, "b")
    assert alert_view(first) == alert_view(second)
    first.close()
    second.close()


def _collected(data_dir):
    """A started pipeline whose collector has published once; checkpoints only when asked.
    Returns (runtime, pipeline, detect stage)."""
    cfg = parse({"data_dir": str(data_dir), "pipeline": {"batch_size": 200, "checkpoint_interval_s": 3600}})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=[SyntheticCollector("synthetic/t")])
    p.start()
    p.stages[0].step()
    return rt, p, p.stages[1]


def test_crash_of_detect_before_commit_replays_without_duplicates(tmp_path):
    clean = run_pipeline(tmp_path, "clean")
    expected = alert_view(clean)
    clean.close()

    rt, p, detect = _collected(tmp_path / "crash")
    detect.step(0)                     # one checkpointed batch...
    detect.checkpoint()
    for _ in range(5):                 # ...then more work that is never committed
        detect.handle(detect.consumer.poll(200, 0))
    findings_before = sum(rt.bus.end_offsets(rt.topic("findings")).values())   # written so far
    detect.consumer.on_revoke = None   # crash: no hand-over checkpoint, no commit
    detect.consumer.close()
    from agent.stages.detect import DetectStage
    p.stages[1] = DetectStage(rt)      # restart: state from the last checkpoint
    p.drain()
    assert sum(rt.bus.end_offsets(rt.topic("findings")).values()) > findings_before   # the replay re-sent findings
    assert alert_view(p) == expected                                     # ... without any effect
    assert rt.counters.get("decide.dedup") > 0
    p.close()


def test_malformed_records_go_to_dead_letters_and_the_pipeline_keeps_going(tmp_path):
    class Mixed(SyntheticCollector):
        def run_once(self):
            self.emitter.dead_letter(b"\xff\xfe{", "broken JSON")
            return super().run_once()

    cfg = parse({"data_dir": str(tmp_path / "w")})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=[Mixed("synthetic/m")])
    # bad records straight onto the input topics: wrong types, unknown kind, not JSON, oversized
    prod = rt.producer
    good = codec.to_dict(SyntheticCollector("synthetic/x").events()[0])
    prod.send(rt.topic("telemetry"), b"{not json")
    prod.send(rt.topic("telemetry"), codec.dumps({**good, "value": "high"}))
    prod.send(rt.topic("audit"), codec.dumps({**good, "kind": "weird"}))
    prod.send(rt.topic("findings"), codec.dumps({"v": 1, "type": "finding", "score": "x"}))
    prod.send(rt.topic("alerts"), b"\x00\x01")
    p.drain()
    letters = [codec.loads(r.value) for r in rt.bus.records(rt.topic("deadletter"))]
    reasons = [(d["stage"], d["reason"]) for d in letters]
    assert ("collect", "broken JSON") in reasons
    assert any(s == "detect" and "invalid JSON" in r for s, r in reasons)
    assert any(s == "detect" and "value must be a number" in r for s, r in reasons)
    assert any(s == "detect" and "unknown event kind" in r for s, r in reasons)
    assert any(s == "decide" for s, _ in reasons)
    assert any(s == "act" for s, _ in reasons)
    assert letters[0]["raw"] == {"base64": "//57"}
    assert rt.counters.get("detect.deadletter") == 3
    assert len(p.rt.store.list_alerts(AlertQuery())) == 1       # the good data still made its alert
    p.close()


def test_a_member_whose_commits_stay_deferred_is_replaced_and_its_work_replayed(tmp_path, monkeypatch):
    clean = run_pipeline(tmp_path, "clean")
    expected = alert_view(clean)
    clean.close()

    cfg = parse({"data_dir": str(tmp_path / "stuck"), "pipeline": {"batch_size": 200}})
    clock = [1000.0]                                 # the stages' one clock: nothing reads another
    rt = Runtime(cfg, counters=Counters(), clock=lambda: clock[0])
    p = Pipeline(cfg, runtime=rt, collectors=[SyntheticCollector("synthetic/t")])
    p.start()
    collect, detect = p.stages[0], p.stages[1]
    collect.step()
    stuck = detect.consumer

    def never_commits():
        raise CommitDeferred("not part of an active group")

    monkeypatch.setattr(stuck, "commit", never_commits)
    detect.step(0)                                   # a batch...
    detect.checkpoint()                              # ...whose commit is deferred
    assert detect.consumer is stuck and rt.counters.get("detect.commit_deferred") == 1
    clock[0] += detect.rejoin_timeout_s - 1
    detect.step(0)
    detect.checkpoint()                              # still within the timeout: same member
    assert detect.consumer is stuck
    clock[0] += 2
    detect.checkpoint()                              # deferred for too long: a new member
    assert detect.consumer is None and rt.counters.get("detect.consumer_replaced") == 1
    assert not any(rt.bus.committed(cfg.pipeline.group_prefix + "detect", rt.topic("telemetry")).values())
    monkeypatch.undo()
    p.drain()                                        # the new member replays what was never committed
    assert alert_view(p) == expected
    assert rt.counters.get("detect.events") >= 1200
    p.close()


@pytest.mark.parametrize("on_poll_thread", [True, False])
def test_revoke_inside_poll_hands_the_partitions_over_checkpointed(tmp_path, on_poll_thread):
    """librdkafka calls the revoke callback inside poll while the partitions are still owned: the
    stage checkpoints there (flush, state, commit), so the next owner does not replay the work.
    Where the callback runs on another thread (kafka-python's IO thread) nothing blocks in it."""
    rt, p, detect = _collected(tmp_path / "w")
    assert detect.step(0) > 0 and detect._uncommitted > 0
    telemetry = rt.topic("telemetry")
    before = sum(rt.bus.committed(detect.group, telemetry).values())
    consumer = detect.consumer
    consumer.callbacks_on_poll_thread = on_poll_thread
    consumer.on_revoke([(telemetry, 0)])
    after = sum(rt.bus.committed(detect.group, telemetry).values())
    if on_poll_thread:
        assert after - before == 200 and detect._uncommitted == 0
        assert rt.counters.get("detect.handover_checkpoints") == 1
    else:
        assert after == before and detect._uncommitted == 200
        assert rt.counters.get("detect.handover_checkpoints") == 0
    assert list(detect._rebalance) == [("revoke", [(telemetry, 0)])]     # applied after the poll, as before
    p.close()


class CommitFailedError(Exception):
    """Named like kafka-python's CommitFailedError, but not the bus contract's CommitDeferred."""


def test_a_commit_error_is_deferred_by_type_not_by_name(tmp_path, monkeypatch):
    """Only CommitDeferred defers a commit; any other error from commit() fails the checkpoint,
    whatever its class is called."""
    rt, p, detect = _collected(tmp_path / "w")
    detect.step(0)

    def refuse(error):
        def commit():
            raise error
        return commit
    monkeypatch.setattr(detect.consumer, "commit", refuse(CommitFailedError("named like a rebalance")))
    with pytest.raises(CommitFailedError):
        detect.checkpoint()
    assert rt.counters.get("detect.commit_deferred") == 0
    monkeypatch.setattr(detect.consumer, "commit", refuse(CommitDeferred("rebalancing")))
    detect.checkpoint()
    assert rt.counters.get("detect.commit_deferred") == 1 and detect.last_commit_deferral == "rebalancing"
    p.close()
