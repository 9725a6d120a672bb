"""One check for every section of a policy file: a mapping whose keys are all known.

Each section parser (policies, routes, notify, correlation, inhibition, safety, risk) calls
`known_mapping` first, so a typo in any of them is refused with the same message naming where it
is and which keys are known.
"""
from __future__ import annotations

from typing import Any, Iterable

from core.errors import ConfigError


def known_mapping(raw: Any, keys: Iterable[str], where: str, what: str = "", kind: str = "") -> dict[str, Any]:
    """`raw` when it is a mapping with no key outside `keys`; else ConfigError naming `where`
    (and `what` the section is, e.g. "a policy"; `kind` names its keys, e.g. "notify")."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {what + ' ' if what else ''}must be a mapping")
    keys = tuple(keys)
    bad = set(raw) - set(keys)
    if bad:
        raise ConfigError(f"{where}: unknown {kind + ' ' if kind else ''}key(s) {', '.join(sorted(map(str, bad)))} (known: {', '.join(keys)})")
    return raw
