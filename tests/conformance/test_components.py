"""Every registered component gets these checks automatically (OpenTelemetry Collector habit):
a factory that builds it from its default (or declared example) config, config validation that
rejects unknown options, and a lifecycle where start() and close() are safe to call twice.
Detectors additionally get the river-style conformance suite in test_detectors.py."""
from __future__ import annotations

import dataclasses

import pytest

from core import registry
from core.component import build_config
from core.errors import ConfigError


def all_components():
    return [(kind, typ, cls) for kind in registry.KINDS for typ, cls in registry.all_of(kind).items()]


def example_config(cls) -> dict:
    """Default config, or the component's declared `example_config` when options are required."""
    return dict(getattr(cls, "example_config", {}) or {})


@pytest.fixture(params=all_components(), ids=lambda c: f"{c[0]}:{c[1]}")
def component(request):
    return request.param


def test_builds_from_default_or_example_config(component):
    kind, typ, cls = component
    try:
        c = registry.create(kind, f"{typ}/conformance", example_config(cls))
    except ConfigError as e:
        pytest.fail(f"{kind} {typ} cannot be built from its defaults; declare `example_config` ({e})")
    assert c.name == f"{typ}/conformance"
    assert c.type == typ and c.kind == kind


def test_config_is_a_validated_dataclass(component):
    kind, typ, cls = component
    assert dataclasses.is_dataclass(cls.Config), f"{typ}.Config must be a dataclass"
    with pytest.raises(ConfigError, match="unknown option"):
        build_config(cls, {**example_config(cls), "no_such_option_xyz": 1}, where=typ)


def test_options_are_readable_as_same_named_attributes(component):
    kind, typ, cls = component
    c = registry.create(kind, f"{typ}/conformance", example_config(cls))
    for f in dataclasses.fields(c.config):
        if f.name not in ("name", "kind", "type", "config"):
            assert getattr(c, f.name) == getattr(c.config, f.name)


def test_lifecycle_start_close_twice(component, tmp_path, monkeypatch):
    kind, typ, cls = component
    monkeypatch.chdir(tmp_path)   # components that write files use relative data dirs
    c = registry.create(kind, f"{typ}/conformance", example_config(cls))
    if kind == "collector":
        from collectors.base import ListEmitter
        c.bind(ListEmitter())
    c.start()
    c.start()
    c.close()
    c.close()
    c.start()   # restartable after close
    c.close()
