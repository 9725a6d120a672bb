"""The whole pipeline on real Kafka and Elasticsearch, one stage per consumer group, with a
detect replica that crashes before committing, and a full re-run of the same input: the alerts
in Elasticsearch are exactly those of the embedded run — same ids, same counts, no duplicates."""
from __future__ import annotations

import time

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
from tests.support.synthetic import SyntheticCollector


def embedded_alerts(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "embedded")})
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[SyntheticCollector("synthetic/t")])
    p.drain()
    view = sorted((a.id, a.entity, a.count) for a in p.rt.store.list_alerts(AlertQuery(limit=1000)))
    p.close()
    return view


def stage(cfg, name, **kw):
    return Pipeline(cfg, stages=(name,), runtime=Runtime(cfg, counters=Counters()), http=False, **kw)


def pump(pipes, until, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in pipes:
            for s in p.stages:
                s.step(timeout=0.2)
        if until():
            return True
    return False


def es_view(cfg):
    from core.stores.elasticsearch import ElasticsearchStore
    store = ElasticsearchStore(cfg.store)
    try:
        return sorted((a.id, a.entity, a.count) for a in store.list_alerts(AlertQuery(limit=1000)))
    finally:
        store.close()


def test_stages_as_separate_consumers_crash_and_rerun(kafka_cfg, tmp_path):
    expected = embedded_alerts(tmp_path)
    assert expected and expected[0][1] == "node-0"

    collect = stage(kafka_cfg, "collect", collectors=[SyntheticCollector("synthetic/t")])
    collect.start()
    collect.stages[0].step()          # all 1,200 events into warden.telemetry on Kafka

    # a detect replica that processes part of the stream and dies before its first commit
    doomed = stage(kafka_cfg, "detect")
    d = doomed.stages[0]
    d.start()
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 1150 and time.monotonic() < deadline:
        recs = d.consumer.poll(200, 0.5)
        d.handle(recs)
        seen += len(recs)
    assert seen >= 1150
    d.rt.producer.flush()             # its findings reached Kafka...
    d.consumer.on_revoke = None       # ...but it crashes: no hand-over checkpoint, no commit
    d.consumer.close()

    detect, decide, act = stage(kafka_cfg, "detect"), stage(kafka_cfg, "decide"), stage(kafka_cfg, "act")
    assert pump([detect, decide, act], lambda: es_view(kafka_cfg) == expected), \
        f"ES has {es_view(kafka_cfg)}, expected {expected}"
    # the restarted replica re-processes what the crashed one never committed: every input record
    # ends up committed by the detect group, and the re-sent findings change nothing
    bus = detect.rt.bus
    telemetry = kafka_cfg.bus.topic_prefix + "telemetry"
    group = kafka_cfg.pipeline.group_prefix + "detect"

    seen_offsets = {}

    def all_committed():
        end = bus.end_offsets(telemetry)
        done = bus.committed(group, telemetry)
        seen_offsets.update(end=end, committed=done)
        # >= 1200: a producer retry may append a record twice; every record must still be committed
        return bool(end) and sum(end.values()) >= 1200 and all(done.get(p, 0) >= o for p, o in end.items())

    assert pump([detect, decide, act], all_committed, timeout=120), (
        f"detect group did not commit every input record: {seen_offsets}; "
        f"assignment {detect.stages[0].consumer.c.assignment()}; counters {dict(detect.rt.counters.snapshot())}")
    pump([detect, decide, act], lambda: False, timeout=5)   # let decide/act drain what detect re-sent
    assert es_view(kafka_cfg) == expected

    # the same input again: same event ids → no second alert, no recount
    collect.stages[0].collectors[0].finished = False
    collect.stages[0].step()
    pump([detect, decide, act], lambda: False, timeout=8)
    assert es_view(kafka_cfg) == expected
    for p in (collect, detect, decide, act, doomed):
        p.close()
