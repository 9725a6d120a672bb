"""The options the metric detectors share (detectors.metrics.config): every detector's Config
derives from MetricConfig, keeps its documented defaults, and validates the shared options."""
import dataclasses
import math

import pytest

from core import registry
from core.errors import ConfigError
from core.names import (GPU_MEMORY_USED, GPU_TEMPERATURE, GPU_UTILIZATION, GPU_XID_ERRORS, HTTP_SERVER_DURATION,
                         HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS, TRAIN_STEP_DURATION)
from detectors.metrics.common import MetricDetector
from detectors.metrics.config import SEVERITIES, CalibrationConfig, MetricConfig, ScaleFloorConfig

#: type -> (threshold, severity, high_factor, metrics): the shared options' defaults per detector
SHARED_DEFAULTS = {
    "baseline": (7.0, "medium", 2.0, []),
    "seasonal": (7.0, "medium", 2.0, []),
    "changepoint": (12.0, "medium", 0.0, []),
    "novelty": (0.1, "medium", 3.0, []),
    "discord": (2.8, "medium", 3.0, []),
    "pyod_window": (1.5, "medium", 2.0, []),
    "forecast": (8.0, "medium", 2.0, []),
    "ensemble": (1.0, "medium", 2.0, []),
    "gpu_memory_leak": (4.0, "high", 0.0, [GPU_MEMORY_USED]),
    "gpu_stall": (1.0, "high", 0.0, [GPU_UTILIZATION]),
    "gpu_health": (1.0, "high", 0.0, [GPU_TEMPERATURE, GPU_XID_ERRORS]),
    "straggler": (1.5, "medium", 2.0, [TRAIN_STEP_DURATION]),
    "slo_burn": (1.0, "high", 0.0, [HTTP_SERVER_DURATION]),
    "error_burst": (1.0, "high", 0.0, [HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS]),
    "gpu_spend": (1.0, "medium", 1.5, [GPU_UTILIZATION]),
}
#: the option groups, with their defaults where a detector does not override them
SCALE_FLOOR = {"baseline": (1e-9, 0.01), "seasonal": (1e-9, 0.01), "changepoint": (1e-9, 0.01),
               "novelty": (1e-12, 1e-6), "discord": (1e-12, 0.002)}
CALIBRATION = {"novelty", "discord", "pyod_window", "forecast"}


def metric_detector_types():
    return sorted(t for t, c in registry.all_of("detector").items() if issubclass(c, MetricDetector))


def test_every_metric_detector_is_listed():
    assert metric_detector_types() == sorted(SHARED_DEFAULTS)


@pytest.mark.parametrize("typ", sorted(SHARED_DEFAULTS))
def test_shared_options_and_defaults(typ):
    cls = registry.get("detector", typ)
    assert issubclass(cls.Config, MetricConfig)
    cfg = cls.Config()
    assert (cfg.threshold, cfg.severity, cfg.high_factor, cfg.metrics) == SHARED_DEFAULTS[typ]
    assert issubclass(cls.Config, ScaleFloorConfig) == (typ in SCALE_FLOOR)
    if typ in SCALE_FLOOR:
        assert (cfg.min_scale, cfg.min_rel_scale) == SCALE_FLOOR[typ]
    assert issubclass(cls.Config, CalibrationConfig) == (typ in CALIBRATION)
    if typ in CALIBRATION:
        assert (cfg.suppress, cfg.rate_target, cfg.rate_halflife) == (100, 0.001, 2000.0)
    # every option, shared or own, is readable as a same-named attribute
    d = registry.create("detector", f"{typ}/t", {})
    for f in dataclasses.fields(cfg):
        assert getattr(d, f.name) == getattr(cfg, f.name)


@pytest.mark.parametrize("typ", sorted(SHARED_DEFAULTS))
def test_shared_options_are_validated(typ):
    with pytest.raises(ConfigError, match="severity must be one of"):
        registry.create("detector", f"{typ}/t", {"severity": "urgent"})
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ConfigError, match="threshold"):
            registry.create("detector", f"{typ}/t", {"threshold": bad})
    for sev in SEVERITIES:
        assert registry.create("detector", f"{typ}/t", {"severity": sev}).severity == sev
    if typ in SCALE_FLOOR:
        with pytest.raises(ConfigError, match="min_scale and min_rel_scale must be >= 0"):
            registry.create("detector", f"{typ}/t", {"min_rel_scale": -0.1})
    if typ in CALIBRATION:
        for opt in ({"suppress": -1}, {"rate_target": 1.0}, {"rate_halflife": 0.0}):
            with pytest.raises(ConfigError, match="suppress|rate_target|rate_halflife"):
                registry.create("detector", f"{typ}/t", opt)
