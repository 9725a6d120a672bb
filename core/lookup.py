"""Dotted-path lookup into records: `evidence.metric`, `labels.node`, ECS attributes with dots in
their keys; used by the policy engine (match, group_by, templates) and by responders (params)."""
from __future__ import annotations

from typing import Any


def lookup(obj: Any, path: str) -> Any:
    """Dotted path into dataclasses and dicts; dict keys may themselves contain dots
    (ECS attributes like `orchestrator.namespace`): the longest key that matches wins."""
    parts = path.split(".")
    return _lookup(obj, parts)


def _lookup(cur: Any, parts: list[str]) -> Any:
    if not parts:
        return cur
    if isinstance(cur, dict):
        for n in range(len(parts), 0, -1):
            k = ".".join(parts[:n])
            if k in cur:
                v = _lookup(cur[k], parts[n:])
                if v is not None:
                    return v
        return None
    nxt = getattr(cur, parts[0], None)
    return None if nxt is None else _lookup(nxt, parts[1:])
