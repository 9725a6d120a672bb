"""Registry of component classes, by kind and type.

Built-in components register themselves with @register when their module is imported;
`load_builtins()` imports every module of the component packages (no hand-written list).
Third-party components come from the `warden.components` entry-point group.
"""
from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from core.errors import ConfigError

KINDS = ("collector", "detector", "responder", "notifier")
BUILTIN_PACKAGES = ("collectors", "detectors", "responders")
#: built-in components that wire two families together, so live in the app (loaded by name, never imported here)
BUILTIN_MODULES = ("agent.inline_guard",)

_registry: dict[str, dict[str, type]] = {k: {} for k in KINDS}
_loaded = False


def register(cls: type) -> type:
    kind, typ = cls.kind, cls.type
    if kind not in _registry:
        raise ValueError(f"{cls.__name__}: unknown component kind {kind!r}")
    if not typ or typ != typ.lower():
        raise ValueError(f"{cls.__name__}: type must be a non-empty lowercase name, got {typ!r}")
    other = _registry[kind].get(typ)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"{kind} type {typ!r} registered twice ({other.__module__}, {cls.__module__})")
    _registry[kind][typ] = cls
    return cls


def load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for pkg_name in BUILTIN_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for mod in pkgutil.walk_packages(pkg.__path__, prefix=pkg_name + "."):
            importlib.import_module(mod.name)
    for mod_name in BUILTIN_MODULES:
        importlib.import_module(mod_name)
    for ep in entry_points(group="warden.components"):
        register(ep.load())


def get(kind: str, typ: str) -> type:
    load_builtins()
    try:
        return _registry[kind][typ]
    except KeyError:
        known = ", ".join(sorted(_registry.get(kind, {}))) or "none"
        raise ConfigError(f"unknown {kind} type {typ!r} (known: {known})") from None


def all_of(kind: str) -> dict[str, type]:
    load_builtins()
    return dict(sorted(_registry[kind].items()))


def create(kind: str, name: str, options: dict | None = None, base_dir: str | None = None):
    """Build a component from its config entry `type/name: {options}`; with `base_dir` (the config
    file's folder) its relative file options are read from there."""
    if "/" not in name:
        raise ConfigError(f"{kind} {name!r}: names are 'type/name', e.g. '{name}/default'")
    typ = name.split("/", 1)[0]
    cls = get(kind, typ)
    from core.component import build_config
    cfg = build_config(cls, options or {}, where=name, base_dir=base_dir)
    return cls(name, config=cfg)
