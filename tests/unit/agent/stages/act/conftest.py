"""Real objects for the act stage's units: a runtime on the embedded bus with the SQLite store,
an action log in its data dir, and two small responders (not registered) that do what a notifier
and a remediating responder do without reaching anything outside the test."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from policy.action_log import ActionLog
from agent.config import parse
from core.counters import Counters
from core.event import Alert
from agent.runtime import Runtime
from responders.base import Responder, ResponderError


@pytest.fixture
def rt(tmp_path):
    runtime = Runtime(parse({"data_dir": str(tmp_path / "w")}), counters=Counters())
    runtime.create_topics()
    yield runtime
    runtime.close()


@pytest.fixture
def action_log(rt):
    return ActionLog.for_data_dir(rt.cfg.data_dir)


def alert(aid: str = "a1", entity: str = "pod-a", status: str = "firing", last_seen: float = 100.0,
          routes: tuple = ()) -> Alert:
    return Alert(id=aid, rule="p", title=f"t {aid}", severity="high", entity=entity, group_key=entity,
                 status=status, first_seen=0.0, last_seen=last_seen, updated=last_seen,
                 labels={"alertname": "p", "entity": entity}, routes=routes)


class ScriptedNotifier(Responder):
    """A notifier whose receiver answers from a script: "ok", "down" (retryable), "reject"
    (not retryable) or "crash"; the answers it got are in `calls`."""
    type = "scripted"
    action = "notify"
    notifies = True

    @dataclass
    class Config:
        max_buffer: int = 2
        retry_initial_s: float = 1.0
        retry_max_s: float = 8.0
        give_up_after_s: float = 100.0

    def __init__(self, *a, script: list[str] | None = None, **kw) -> None:
        super().__init__(*a, **kw)
        self.script = list(script or [])
        self.calls: list[tuple[str, list[str]]] = []

    def notify(self, alerts, group, action):
        answer = self.script.pop(0) if self.script else "ok"
        self.calls.append((answer, [a.id for a in alerts]))
        if answer == "down":
            raise ResponderError("receiver down", retryable=True)
        if answer == "reject":
            raise ResponderError("400 bad request", retryable=False)
        if answer == "crash":
            raise RuntimeError("bug")
        return {"status": 200}


class Isolator(Responder):
    """Remediates: isolates the alert's entity; `revert` lets it go again."""
    type = "isolator"
    action = "isolate"
    reversible = True

    def __init__(self, *a, fail_revert: bool = False, **kw) -> None:
        super().__init__(*a, **kw)
        self.isolated: list[str] = []
        self.released: list[str] = []
        self.fail_revert = fail_revert

    def execute(self, action, alert):
        self.isolated.append(action.target)
        return {"isolated": action.target}

    def revert(self, action):
        if self.fail_revert:
            raise ResponderError("cannot release", retryable=False)
        self.released.append(action.target)
        return {"released": action.target}
