"""`warden status` on the real Elasticsearch and Kafka: no 'Result window is too large' (the alerts
read stays within Elasticsearch's 10,000 window), no kafka-python 'group_id is None' warnings, and
never 'healthy' over an error or over a pipeline that is not running."""
from __future__ import annotations

import logging

from agent.status import collect_status
from core.stores import create_store


def test_status_on_elasticsearch_reads_alerts_and_stays_truthful(kafka_cfg, caplog):
    from core.bus import create_bus
    bus = create_bus(kafka_cfg.bus)
    bus.create_topics([kafka_cfg.bus.topic_prefix + t for t in ("telemetry", "findings", "alerts")])
    bus.close()
    store = create_store(kafka_cfg)
    store.start()
    store.close()
    with caplog.at_level(logging.WARNING):
        s = collect_status(kafka_cfg)
    assert s["alerts_error"] == "" and not any("window" in p for p in s["problems"]), s["problems"]
    assert not any("group_id is None" in r.getMessage() for r in caplog.records)
    assert not s["healthy"] and any("no stage has reported" in p for p in s["problems"])


def test_an_unreachable_store_is_never_healthy(kafka_cfg):
    kafka_cfg.store.hosts = ["http://127.0.0.1:1"]
    s = collect_status(kafka_cfg)
    assert not s["healthy"] and any("alert store unreadable" in p for p in s["problems"])
