"""Auto-revert: a real action whose route has `auto_revert` records when it is due
(`result.revert_at`); the schedule undoes it then (`act.auto_reverted`), unless it was undone by
hand meanwhile. Actions run elsewhere (`warden actions approve`) or before a restart are picked up
from the store every `SCAN_S` seconds. The schedule is written with the act stage's checkpoint.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from core import codec
from core.event import Action

log = logging.getLogger("warden.act")

NS = "act:reverts"


@dataclass(frozen=True)
class Revert:
    """An executed action and the wall time it is to be undone."""
    at: float
    action: Action

    @classmethod
    def of(cls, action: Action) -> "Revert | None":
        at = action.result.get("revert_at") if action.status == "done" else None
        return cls(at, action) if at else None

    def to_json(self) -> bytes:
        return orjson.dumps({"at": self.at, "action": codec.to_dict(self.action)})

    @classmethod
    def from_json(cls, blob: bytes) -> "Revert":
        d = orjson.loads(blob)
        return cls(d["at"], codec.from_dict(d["action"], "action"))


class RevertSchedule:
    #: seconds between two looks at the store for actions to revert that this process did not run
    SCAN_S = 30.0

    def __init__(self, runtime: Any, wall: Callable[[], float]) -> None:
        self.rt = runtime
        self.wall = wall
        self.due_at: dict[str, Revert] = {}
        self._dirty: set[str] = set()
        self.last_scan = -1e18

    def __len__(self) -> int:
        return len(self.due_at)

    def track(self, actions: list[Action]) -> None:
        for a in actions:
            rev = Revert.of(a)
            if rev is not None and a.id not in self.due_at:
                self.due_at[a.id] = rev
                self._dirty.add(a.id)

    def scan(self) -> None:
        """Pick up auto-reverts of actions run elsewhere (`warden actions approve`) or before a restart."""
        mono = time.monotonic()
        if mono - self.last_scan < self.SCAN_S:
            return
        self.last_scan = mono
        try:
            recent = self.rt.store.list_actions(limit=1000)
        except Exception:  # noqa: BLE001 - the store is checked again next time
            return
        self.track([a for a in recent if a.status == "done" and a.result.get("revert_at")])

    def run_due(self, undo: Callable[[Action], Action]) -> list[Action]:
        """Undo every action that is due (earliest first); returns the undone (or failed) actions."""
        self.scan()
        now = self.wall()
        out = []
        for aid, rev in sorted(self.due_at.items(), key=lambda kv: kv[1].at):
            if rev.at > now:
                continue
            action = rev.action
            current = [a for a in self.rt.store.list_actions(action.alert_id, limit=1000) if a.id == aid]
            if current and current[0].status != "done":   # undone by hand already
                self._forget(aid)
                continue
            try:
                out.append(undo(action))
                self.rt.counters.inc("act.auto_reverted")
            except Exception as e:  # noqa: BLE001 - not retried: recorded, and counted for paging
                log.error("auto-revert of %s failed: %s", aid[:12], e)
                self.rt.counters.inc("act.auto_revert_failed")
                out.append(dataclasses.replace(action, result={**action.result, "auto_revert_error": str(e)}))
            self._forget(aid)
        return out

    def _forget(self, aid: str) -> None:
        del self.due_at[aid]
        self._dirty.add(aid)

    # state ----------------------------------------------------------------------------------------
    def restore(self, state) -> None:
        for k in state.keys(NS):
            blob = state.get(NS, k)
            if blob:
                self.due_at[k] = Revert.from_json(blob)

    def snapshot_items(self) -> list[tuple[str, str, bytes]]:
        items = [(NS, k, self.due_at[k].to_json() if k in self.due_at else b"") for k in self._dirty]
        self._dirty.clear()
        return items
