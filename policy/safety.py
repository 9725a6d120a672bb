"""Safety rails for real actions: protected resources and the blast-radius limit.

Configured in a policy file's top-level `safety:` section (merged over every policy file):
```yaml
safety:
  protected:
    namespaces: [kube-system, kube-public, warden]       # globs
    labels: {warden.io/protected: "true"}                  # any one of these label=value pairs
    accounts: ["123456789012"]                             # AWS account ids (globs)
    arns: ["arn:aws:iam::*:role/OrganizationAccountAccessRole", "arn:aws:iam::*:root"]
    nodes: ["control-plane-*"]
    principals: ["admin@example.com"]                      # users / keys / clients (globs)
  blast_radius: {max_actions: 5, window: 10m, page: log/default}
```
A responder describes what an action touches in `Action.params["resource"]` (kind, namespace,
name, labels, node, account, arn, principal); anything matching `protected` is never touched —
the action is recorded as `skipped` with the reason and counted (`act.protected`).
At most `max_actions` real actions run per `window` (wall clock, shared by every process on the
data dir through the state store); beyond that actions are recorded `blocked_by_blast_radius` and
a critical page goes out through the `page` responder once per window.
"""
from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.errors import ConfigError
from policy.sections import known_mapping

DEFAULT_PROTECTED_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease"]


def _globs(v: Any, where: str) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, (str, int)) for x in v):
        return [str(x) for x in v]
    raise ConfigError(f"{where}: expected a list of strings")


@dataclass
class Protected:
    namespaces: list[str] = field(default_factory=lambda: list(DEFAULT_PROTECTED_NAMESPACES))
    labels: dict[str, str] = field(default_factory=lambda: {"warden.io/protected": "true"})
    accounts: list[str] = field(default_factory=list)
    arns: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)

    def reason(self, resource: dict[str, Any]) -> str | None:
        """Why this resource must not be touched, or None."""
        if not resource:
            return None
        checks = (("namespace", self.namespaces), ("account", self.accounts), ("arn", self.arns),
                  ("node", self.nodes), ("principal", self.principals))
        for key, pats in checks:
            v = resource.get(key)
            if v in (None, ""):
                continue
            for p in pats:
                if fnmatch.fnmatchcase(str(v), p):
                    return f"protected {key} {v} (matches {p!r})"
        labels = resource.get("labels") or {}
        for k, v in self.labels.items():
            if str(labels.get(k, "\0")) == str(v):
                return f"protected label {k}={v}"
        return None


@dataclass
class BlastRadius:
    max_actions: int = 5
    window: float = 600.0
    page: str = "log/default"


@dataclass
class Safety:
    protected: Protected = field(default_factory=Protected)
    blast_radius: BlastRadius = field(default_factory=BlastRadius)

    def merge(self, raw: Any, where: str) -> None:
        """Merge one file's `safety:` section: protected lists are unioned; blast_radius overrides."""
        from core.durations import parse_duration
        if raw is None:
            return
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: safety must be a mapping")
        bad = set(raw) - {"protected", "blast_radius"}
        if bad:
            raise ConfigError(f"{where}: unknown safety key(s) {', '.join(sorted(bad))}")
        p = raw.get("protected") or {}
        known_mapping(p, ("namespaces", "labels", "accounts", "arns", "nodes", "principals"), f"{where}.protected")
        for k in ("namespaces", "accounts", "arns", "nodes", "principals"):
            cur = getattr(self.protected, k)
            for g in _globs(p.get(k), f"{where}.protected.{k}"):
                if g not in cur:
                    cur.append(g)
        labels = p.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"{where}.protected.labels must be a mapping")
        self.protected.labels.update({str(k): str(v) for k, v in labels.items()})
        b = raw.get("blast_radius")
        if b is not None:
            if not isinstance(b, dict) or set(b) - {"max_actions", "window", "page"}:
                raise ConfigError(f"{where}.blast_radius: expected {{max_actions, window, page}}")
            if "max_actions" in b:
                if not isinstance(b["max_actions"], int) or isinstance(b["max_actions"], bool) or b["max_actions"] < 0:
                    raise ConfigError(f"{where}.blast_radius.max_actions must be an integer >= 0")
                self.blast_radius.max_actions = b["max_actions"]
            if "window" in b:
                self.blast_radius.window = parse_duration(b["window"], f"{where}.blast_radius.window")
            if "page" in b:
                if not isinstance(b["page"], str) or "/" not in b["page"]:
                    raise ConfigError(f"{where}.blast_radius.page must be a responder name 'type/name'")
                self.blast_radius.page = b["page"]


class BlastLimiter:
    """Sliding window of real-action start times, kept in the state store (ns `actions`)."""

    NS, KEY = "actions", "blast_radius"

    def __init__(self, cfg: BlastRadius, state) -> None:
        self.cfg = cfg
        self.state = state

    def _load(self) -> dict[str, Any]:
        blob = self.state.get(self.NS, self.KEY)
        return orjson.loads(blob) if blob else {"times": [], "paged_window": 0.0}

    def try_acquire(self, now: float | None = None) -> tuple[bool, bool]:
        """(allowed, page_now): record a real action when allowed; page once per window when not."""
        now = time.time() if now is None else now
        st = self._load()
        times = [t for t in st["times"] if now - t < self.cfg.window]
        if len(times) < self.cfg.max_actions:
            times.append(now)
            st["times"] = times
            self.state.put(self.NS, self.KEY, orjson.dumps(st))
            return True, False
        page = now - st.get("paged_window", 0.0) >= self.cfg.window
        if page:
            st["paged_window"] = now
        st["times"] = times
        self.state.put(self.NS, self.KEY, orjson.dumps(st))
        return False, page

    def used(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(1 for t in self._load()["times"] if now - t < self.cfg.window)
