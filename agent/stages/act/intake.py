"""Store: the act stage's first step. Each consumed record is decoded into an `Alert` (a record
that is not one is dead-lettered with the reason) and every alert of the batch is written to the
alert store (Elasticsearch or SQLite; `act.alerts_stored`) before anything acts on it."""
from __future__ import annotations

from typing import Any

from core import codec
from core.bus.base import Record
from core.codec import DecodeError
from core.event import Alert


def store_alerts(runtime: Any, records: list[Record]) -> list[Alert]:
    alerts: list[Alert] = []
    for rec in records:
        try:
            alerts.append(codec.decode(rec.value, "alert"))
        except DecodeError as e:
            runtime.dead_letter("act", rec.value, str(e), rec.topic)
    if alerts:
        runtime.store.upsert_alerts(alerts)
        runtime.counters.inc("act.alerts_stored", len(alerts))
    return alerts
