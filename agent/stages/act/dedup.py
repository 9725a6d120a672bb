"""Actions are idempotent: an action's id hashes what it does (alert, responder, verb, target,
alert status; a notification's, its group, sequence and alerts), so a redelivered alert never acts
twice (`act.dedup`). An id counts as seen when this process planned it already, when the store
holds it, or when the action log ends it (a crash after the action ran but before the store was
flushed: the logged action is stored again, `act.recovered_from_log`). An action whose log ends
at its intent was interrupted mid-run and runs again (`act.resumed`; responders are idempotent).

The store is asked per action: it also holds what other processes did (`warden actions approve`,
another replica), which neither this process's memory nor its action log can know.
"""
from __future__ import annotations

from typing import Any

from core import codec
from core.event import Action

#: the action log's phases that end an action (it ran, or was recorded without running)
FINAL_PHASES = ("result", "record", "undo-result")


class ActionDedup:
    def __init__(self, runtime: Any, action_log: Any) -> None:
        self.rt = runtime
        self.log = action_log
        self.planned: set[str] = set()
        self._log_index: dict | None = None

    def seen(self, action: Action) -> bool:
        """True when `action` was acted on already (counted); else remembers it as planned."""
        counters = self.rt.counters
        if action.id in self.planned or any(a.id == action.id
                                            for a in self.rt.store.list_actions(action.alert_id, limit=1000)):
            counters.inc("act.dedup")
            return True
        self.planned.add(action.id)
        if self._log_index is None:
            self._log_index = self.log.last_by_action()
        last = self._log_index.get(action.id)
        if last is not None and last.get("phase") in FINAL_PHASES:
            self.rt.store.put_actions([codec.from_dict(last["action"], "action")])
            counters.inc("act.recovered_from_log")
            counters.inc("act.dedup")
            return True
        if last is not None and last.get("phase") == "intent":
            counters.inc("act.resumed")
        return False
