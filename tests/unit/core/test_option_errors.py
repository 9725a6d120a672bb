"""Option errors say what is wrong once, under the option's path. A number option takes finite
numbers only: YAML's `.inf` / `.nan` are errors naming the path. Before,
`pipeline: {checkpoint_interval_s: .inf}` passed `config check` (a stage that never checkpoints:
nothing committed, the embedded bus never trimmed) and so did `rate_limit_rps: .inf` or a detector
`threshold: .inf` (a detector that never fires)."""
from __future__ import annotations

import math

import pytest

from agent.config import parse
from core import registry
from core.errors import ConfigError


@pytest.mark.parametrize("raw, path", [
    ({"pipeline": {"checkpoint_interval_s": math.inf}}, "pipeline.checkpoint_interval_s"),
    ({"http": {"rate_limit_rps": math.inf}}, "http.rate_limit_rps"),
    ({"pipeline": {"checkpoint_interval_s": -math.inf}}, "pipeline.checkpoint_interval_s"),
    ({"pipeline": {"checkpoint_interval_s": 10 ** 400}}, "pipeline.checkpoint_interval_s"),   # OverflowError
])
def test_a_section_refuses_a_number_that_is_not_finite(raw, path):
    with pytest.raises(ConfigError, match=f"{path}: expected a finite number"):
        parse(raw)


@pytest.mark.parametrize("kind, name, option, bad, good, path", [
    ("detector", "baseline/x", "threshold", math.nan, 5.0, "baseline/x.threshold"),
    ("detector", "ueba/x", "threshold", math.inf, 20.0, "ueba/x.threshold"),
    ("detector", "slo_burn/x", "rules", [[3600.0, math.inf, 14.4]], [[3600.0, 300.0, 14.4]], "slo_burn/x.rules[0][1]"),
    ("responder", "webhook/x", "timeout_s", math.inf, 5.0, "webhook/x.timeout_s"),
])
def test_a_component_refuses_a_number_that_is_not_finite(kind, name, option, bad, good, path):
    base = {"url": "http://127.0.0.1:9/"} if kind == "responder" else {}
    with pytest.raises(ConfigError) as e:
        registry.create(kind, name, {**base, option: bad})
    assert str(e.value).startswith(f"{path}: expected a finite number"), e.value
    assert registry.create(kind, name, {**base, option: good}) is not None


def test_a_reason_naming_its_own_path_is_not_prefixed_twice(monkeypatch):
    """It read "http: http.tokens.a: environment variable NOPE is empty or unset"."""
    monkeypatch.delenv("NOPE_UNSET_TOKEN", raising=False)
    with pytest.raises(ConfigError) as e:
        parse({"http": {"tokens": {"a": {"token_env": "NOPE_UNSET_TOKEN", "scopes": ["read"]}}}})
    assert str(e.value).startswith("http.tokens.a: environment variable NOPE_UNSET_TOKEN"), e.value
