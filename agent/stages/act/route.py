"""A route: where a policy sends an alert (one responder, with its parameters and options).

Decide writes an alert's routes as mappings (they travel on the bus inside the alert); the act
stage reads each one into a `Route` once. A route is also a read-only mapping of the keys its
source had, so a plug-in responder's `plan(alert, route)` and a stored route look as before.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: the keys an action keeps of its route (for `warden actions approve`, which runs it later)
META_KEYS = ("responder", "policy", "approval", "approval_expires", "auto_revert")


@dataclass(frozen=True, eq=True)
class Route(Mapping):
    """One of an alert's routes. Optional fields are None where the source had no such key."""
    responder: str
    dry_run: bool | None = None
    params: dict[str, Any] | None = None
    approval: bool | None = None
    policy: str | None = None
    notify: dict[str, Any] | None = None
    approval_expires: float | None = None
    auto_revert: float | None = None

    @classmethod
    def of(cls, route: "Route | Mapping[str, Any]") -> "Route":
        if type(route) is Route:        # (not isinstance: an ABC's check costs, once per alert route)
            return route
        return cls(**{k: route[k] for k in _FIELDS if k in route})

    @property
    def is_dry_run(self) -> bool:
        """A route runs dry unless it says otherwise."""
        return bool(True if self.dry_run is None else self.dry_run)

    @property
    def param_values(self) -> dict[str, Any]:
        return dict(self.params or {})

    def to_dict(self, *, notify: bool = True) -> dict[str, Any]:
        """The mapping this route was read from (its keys in the policy's order)."""
        return {k: self[k] for k in self if notify or k != "notify"}

    def meta(self) -> dict[str, Any]:
        return {k: self[k] for k in META_KEYS if k in self}

    # a read-only mapping of the keys the source had ----------------------------------------------
    def __getitem__(self, key: str) -> Any:
        v = self.__dict__.get(key) if key in _FIELD_SET else None
        if v is None:
            raise KeyError(key)
        return v

    def __iter__(self) -> Iterator[str]:
        return (k for k in _FIELDS if getattr(self, k) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


_FIELDS = tuple(f.name for f in dataclasses.fields(Route))
_FIELD_SET = frozenset(_FIELDS)
