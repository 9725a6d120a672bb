"""Backpressure: while a notifier's delivery buffer is full the act stage stops consuming alerts.
Its partitions are paused (the bus consumer's pause / resume / seek, on either Kafka client and the
embedded bus), so the consumer keeps its group membership, until a retry drains the buffer
(`act.backpressure`, `act.backpressure_seconds`, gauge `warden_act_backpressure`). Nothing is
dropped for lack of room.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from core.bus.base import NotSupported, Record
from core.observability import metrics as _metrics

log = logging.getLogger("warden.act")


class Backpressure:
    def __init__(self, counters: Any) -> None:
        self.counters = counters
        self.on = False
        self._since = 0.0

    def set(self, on: bool, consumer, why: Callable[[], str] = str) -> bool:
        """Enter / leave backpressure: pause / resume fetching on the consumer's assigned
        partitions. Returns whether the stage may go on polling: True when its partitions are
        paused or it holds none (a member must keep polling — the group's rebalances are served
        inside the poll, and a member that stops polling stalls them for every member; records a
        partition assigned inside that poll delivers are rewound); False when the bus cannot
        pause — then the stage does not poll until the buffer has room."""
        if on and not self.on:
            self.on = True
            self._since = time.monotonic()
            self.counters.inc("act.backpressure")
            log.warning("notification buffer full (%s): act stops consuming alerts until deliveries drain", why())
        elif not on and self.on:
            self.on = False
            self.counters.inc("act.backpressure_seconds", time.monotonic() - self._since)
            log.info("notification buffers drained: act consumes again")
        _metrics.GAUGES.set("warden_act_backpressure", 1.0 if self.on else 0.0,
                            "1 while a full notification buffer stops the act stage from consuming")
        if consumer is None:
            return False
        try:
            if on:
                # re-paused every step: a rebalance assigns unpaused partitions
                consumer.pause()
                return True
            consumer.resume()
        except NotSupported:
            return False
        except Exception as e:  # noqa: BLE001 - e.g. a partition revoked meanwhile: try again next step
            log.debug("pause/resume: %s", e)
        return True

    def rewind(self, consumer, records: list[Record], why: Callable[[], str] = str) -> bool:
        """Records that reached a backpressured stage anyway (a partition assigned by a rebalance
        inside the poll, before it could be paused) are not handled: the consumer seeks back to
        them, so they are neither consumed nor committed now. False when the bus cannot seek."""
        if consumer is None:
            return False
        first: dict[tuple[str, int], int] = {}
        for r in records:
            k = (r.topic, r.partition)
            first[k] = min(first.get(k, r.offset), r.offset)
        try:
            for (t, p), off in first.items():
                consumer.seek(t, p, off)
        except NotSupported:
            return False
        except Exception as e:  # noqa: BLE001 - cannot seek (revoked meanwhile): handle them after all
            log.debug("rewind: %s", e)
            return False
        self.counters.inc("act.backpressure_rewound", len(records))
        self.set(True, consumer, why)     # pause what is assigned now
        return True
