"""The act stage's responders by name: the configured ones, and any other a route names, built
with its defaults on first use (a route to a responder that needs options it was not given is a
configuration error). `check_routes` checks every route of a policy set without a stage.
"""
from __future__ import annotations

from typing import Any

from core import registry
from core.errors import ConfigError


class ResponderSet:
    def __init__(self, built: list | tuple = (), runtime: Any = None) -> None:
        self.runtime = runtime           # None: built only to be checked (`warden config check`)
        self.by_name: dict[str, Any] = {}
        for r in built:
            self._bind(r)
            self.by_name[r.name] = r

    def get(self, name: str, where: str = ""):
        r = self.by_name.get(name)
        if r is None:
            try:
                r = registry.create("responder", name, {})
            except ConfigError as e:
                raise ConfigError(f"{where}: responder {name} is not configured and cannot be built "
                                  f"with defaults: {e}") from None
            self._bind(r)
            self.by_name[name] = r
        return r

    def _bind(self, r) -> None:
        bind = getattr(r, "bind_runtime", None)
        if bind is not None and self.runtime is not None:
            bind(self.runtime)

    def close(self) -> None:
        for r in self.by_name.values():
            r.close()


def check_routes(policies, responders: ResponderSet | None = None) -> None:
    """Every route names a responder that exists (or can be built with defaults) and valid params.
    Raises ConfigError naming the route."""
    responders = responders if responders is not None else ResponderSet()
    for p in policies.policies:
        for i, route in enumerate(p.routes):
            where = f"{p.source}.routes[{i}]"
            r = responders.get(route["responder"], where=where)
            r.check_route(route.get("params") or {}, where)
