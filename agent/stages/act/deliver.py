"""Deliver: attempt the head of every notifier's buffer that is due, and drain while deliveries
succeed. A retryable failure (receiver down, timeout, 5xx, 429) keeps the notification for a retry
with backoff (`act.notify_retries`); a 4xx, a crash, or `give_up_after_s` of failures gives it up
(`act.notify_given_up[.rejected|.expired|.crashed]`, failed actions). Delivered or given up, its
actions are recorded in the action log and returned to be stored and published.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable

from core import codec
from core.event import Action
from agent.stages.act.buffers import DeliveryBuffers
from agent.stages.act.delivery import DeliveryEntry, DeliveryQueue
from agent.stages.act.responders import ResponderSet
from responders.base import ResponderError

log = logging.getLogger("warden.act")


class Deliverer:
    #: wall seconds one delivery pass may spend draining buffers (the rest goes next step)
    BUDGET_S = 5.0

    def __init__(self, runtime: Any, buffers: DeliveryBuffers, responders: ResponderSet, action_log: Any,
                 wall: Callable[[], float]) -> None:
        self.rt = runtime
        self.buffers = buffers
        self.responders = responders
        self.log = action_log
        self.wall = wall

    def deliver(self) -> list[Action]:
        """Attempt every notifier's head notification that is due; drain while deliveries succeed."""
        out: list[Action] = []
        queues = self.buffers.queues
        until = time.monotonic() + self.BUDGET_S
        for name in sorted(queues):
            q = queues[name]
            while time.monotonic() < until:
                e = q.due(self.wall())
                if e is None:
                    break
                out.extend(self._attempt(self.responders.by_name[name], q, e))
                self.buffers.changed = True
                if q.head() is e:      # still undelivered: retry later
                    break
        if queues:
            self.buffers.gauges()
        return out

    def _attempt(self, r, q: DeliveryQueue, e: DeliveryEntry) -> list[Action]:
        alerts = [codec.from_dict(a, "alert") for a in e.alerts]
        actions = [codec.from_dict(a, "action") for a in e.actions]
        q.attempted(e, self.wall())
        counters = self.rt.counters
        try:
            result = dict(r.notify(alerts, e.group, actions[0]) or {})
        except ResponderError as err:
            now = self.wall()
            if err.retryable and not q.expired(e, now):
                delay = q.retry_later(e, now, str(err), getattr(err, "retry_after", None))
                counters.inc("act.retries")
                counters.inc("act.notify_retries")
                if e.attempts == 1:
                    counters.inc("act.notify_buffered")
                log.warning("%s: notification %s not delivered (%s), attempt %d, next in %.1fs (%d buffered)",
                            r.name, e.id[:12], err, e.attempts, delay, len(q))
                return []
            why = "expired" if err.retryable else "rejected"
            return self._finish(q, e, actions, "failed", {"error": str(err), "retryable": err.retryable,
                                                           "attempts": e.attempts, "given_up": why})
        except Exception as err:  # noqa: BLE001 - a responder bug is a failed action, not a crash
            log.exception("%s crashed", r.name)
            return self._finish(q, e, actions, "failed", {"error": f"{type(err).__name__}: {err}",
                                                           "retryable": False, "attempts": e.attempts,
                                                           "given_up": "crashed"})
        return self._finish(q, e, actions, "done", {**result, "attempts": e.attempts})

    def _finish(self, q: DeliveryQueue, e: DeliveryEntry, actions: list[Action], status: str,
                result: dict) -> list[Action]:
        q.pop(e)
        counters = self.rt.counters
        if status == "done":
            counters.inc("act.notify_delivered")
        else:
            log.error("%s: notification %s given up (%s): %s", q.responder, e.id[:12], result["given_up"],
                      result["error"])
            counters.inc("act.notify_given_up")
            counters.inc(f"act.notify_given_up.{result['given_up']}")
        counters.inc("act.done" if status == "done" else "act.failed", len(actions))
        result = {**result, "idempotency_key": e.key}
        done = [dataclasses.replace(a, status=status, result=result, time=self.wall()) for a in actions]
        for a in done:
            self.log.append("result", codec.to_dict(a))
        return done
