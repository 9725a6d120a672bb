"""core.memory: the collector settings a running pipeline uses, restored afterwards."""
import gc

import pytest

from agent.config import parse
from core.errors import ConfigError
from core.memory import tuned_gc


def test_objects_alive_at_start_are_frozen_and_the_threshold_raised_then_both_restored():
    before = gc.get_threshold()
    keep = [{"i": i} for i in range(1000)]
    with tuned_gc(123_456):
        assert gc.get_threshold()[0] == 123_456
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() >= len(keep)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_leaves_the_collector_alone():
    before = gc.get_threshold()
    with tuned_gc(0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


def test_restored_when_the_body_raises():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with tuned_gc(99_999):
            raise RuntimeError("stage died")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_negative_threshold_is_a_config_error():
    with pytest.raises(ConfigError, match="gc_threshold"):
        parse({"pipeline": {"gc_threshold": -1}}, "<test>")
