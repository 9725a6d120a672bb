"""What approving or undoing an action needs outside the act stage: the runtime (for responders that
publish), the executor with the policies' safety rules, and the configured responders, built on
first use. Shared by `warden actions` and the web page's operations."""
from __future__ import annotations


class _Env:
    """What approve / undo need: runtime (for responders that publish), executor, responders."""

    def __init__(self, cfg) -> None:
        from core import registry
        from agent.stages.act.executor import ActionExecutor
        from policy.action_log import ActionLog
        from core.counters import COUNTERS
        from agent.runtime import Runtime
        from policy.policies import PolicySet
        self.cfg = cfg
        self.rt = Runtime(cfg)
        self.registry = registry
        self._responders: dict = {}
        policies = PolicySet.load(cfg.policies or None)
        self.executor = ActionExecutor(action_log=ActionLog.for_data_dir(cfg.data_dir), safety=policies.safety,
                                       state=self.rt.state, counters=COUNTERS, responder_for=self.responder)

    def responder(self, name: str):
        r = self._responders.get(name)
        if r is None:
            r = self.registry.create("responder", name, self.cfg.responders.get(name, {}), self.cfg.config_dir)
            if hasattr(r, "bind_runtime"):
                r.bind_runtime(self.rt)
            self._responders[name] = r
        return r

    def close(self) -> None:
        for r in self._responders.values():
            r.close()
        self.rt.producer.flush()
        self.rt.close()
