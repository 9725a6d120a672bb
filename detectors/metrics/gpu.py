"""GPU health detectors: utilisation collapse / training stall, thermal throttling, XID bursts.

``gpu_stall`` (gpu.utilization, per node and GPU): a GPU that was busy (its EWMA baseline, learned
from unflagged samples, is at least ``busy_level``) and drops below ``collapse_fraction`` of that
baseline for ``stall_points`` consecutive samples. score = consecutive collapsed samples /
``stall_points`` (flag at 1). Values above 1.5 are read as percentages. The collapsed samples do
not move the baseline, so a stall that lasts hours keeps being reported against the busy level.

``gpu_health`` (gpu.temperature and gpu.xid.errors, per node and GPU):
- thermal: at or above ``temp_limit`` the score is consecutive hot samples / ``sustain``; below it,
  ``0.9 * temperature / temp_limit`` (never flags). Rule ``thermal``.
- XID: errors in the last ``xid_window`` seconds / ``xid_burst``; a sample whose attribute
  ``gpu.xid.code`` is in ``critical_xids`` (double-bit ECC, fallen off the bus...) scores at least
  1 with severity critical. Rule ``xid``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.names import GPU_TEMPERATURE, GPU_UTILIZATION, GPU_XID_ERRORS
from core.registry import register
from core.units import metric_value
from detectors.metrics.common import halflife_alpha
from detectors.metrics.config import MetricConfig
from detectors.metrics.keyed import KeyedStateDetector, ledger, ledger_add, ledger_sum, ledger_trim


def _gpu_key(ev):
    return ev.entity, f"{ev.name}#{ev.attributes.get('gpu.index', '')}"


@register
class GpuStallDetector(KeyedStateDetector):
    """Utilisation collapse of a busy GPU (training job stalled or crashed)."""

    type = "gpu_stall"
    metric_names = (GPU_UTILIZATION,)
    tags = ("gpu", "training-stall")

    @dataclass
    class Config(MetricConfig):
        busy_level: float = 0.5       # baseline utilisation (0..1) that counts as busy
        collapse_fraction: float = 0.3  # below this fraction of the baseline = collapsed
        stall_points: int = 5         # consecutive collapsed samples to flag
        halflife: float = 30.0        # baseline EWMA half-life, samples
        warmup: int = 10
        metrics: list[str] = field(default_factory=lambda: [GPU_UTILIZATION])
        severity: str = "high"
        high_factor: float = 0.0

        def validate(self) -> None:
            if not (0 < self.busy_level <= 1 and 0 < self.collapse_fraction < 1):
                raise ValueError("busy_level must be in (0, 1] and collapse_fraction in (0, 1)")
            if self.stall_points < 1 or self.warmup < 1 or self.halflife <= 0:
                raise ValueError("stall_points, warmup and halflife must be positive")
            super().validate()

    def key_for(self, ev):
        return _gpu_key(ev)

    def new_state(self, ev):
        return {"base": None, "run": 0, "since": None, "learned": 0}

    def warm(self, st):
        return st["learned"] >= self.config.warmup

    @staticmethod
    def _unit(v):
        return v / 100.0 if v > 1.5 else v

    def _low(self, st, u):
        b = st["base"]
        return b is not None and b >= self.config.busy_level and u < self.config.collapse_fraction * b

    def evaluate(self, st, ev, v, t):
        u = self._unit(v)
        low = self._low(st, u)
        run = st["run"] + 1 if low else 0
        since = (st["since"] if st["run"] else t) if low else None
        b = st["base"]
        return run / self.config.stall_points, {
            "metric": ev.name, "value": v, "baseline": b, "deviation": (u - b) if b is not None else None,
            "drop": 1.0 - u / b if b else None, "direction": "down", "stalled_points": run,
            "stalled_seconds": (t - since) if since is not None else 0.0,
            "gpu.index": ev.attributes.get("gpu.index"),
            "window": {"halflife_points": self.config.halflife}}

    def update(self, st, ev, v, t, flagged):
        u = self._unit(v)
        if self._low(st, u):
            if not st["run"]:
                st["since"] = t
            st["run"] += 1            # a counter of the current episode, not learned state
            return
        st["run"], st["since"] = 0, None
        if flagged:
            return
        a = halflife_alpha(self.config.halflife)
        st["base"] = u if st["base"] is None else st["base"] + a * (u - st["base"])
        st["learned"] += 1

    def title(self, ev, e):
        return (f"GPU utilisation collapsed on {ev.entity} (gpu {e.get('gpu.index')}): "
                f"{metric_value(self._unit(e['value']), ev.name)} vs busy baseline {metric_value(e['baseline'], ev.name)} "
                f"for {e['stalled_points']} samples")


@register
class GpuHealthDetector(KeyedStateDetector):
    """Thermal throttling (gpu.temperature) and XID error bursts (gpu.xid.errors)."""

    type = "gpu_health"
    metric_names = (GPU_TEMPERATURE, GPU_XID_ERRORS)
    tags = ("gpu", "hardware")

    @dataclass
    class Config(MetricConfig):
        temp_limit: float = 85.0      # celsius; throttling starts around here on most data-centre GPUs
        sustain: int = 3              # consecutive samples at/above the limit to flag
        xid_window: float = 600.0     # seconds
        xid_burst: float = 3.0        # XID errors in the window that flag
        critical_xids: list[int] = field(default_factory=lambda: [48, 63, 64, 74, 79, 92, 94, 95])
        metrics: list[str] = field(default_factory=lambda: [GPU_TEMPERATURE, GPU_XID_ERRORS])
        severity: str = "high"
        high_factor: float = 0.0

        def validate(self) -> None:
            if self.temp_limit <= 0 or self.sustain < 1:
                raise ValueError("temp_limit must be > 0 and sustain >= 1")
            if self.xid_window <= 0 or self.xid_burst <= 0:
                raise ValueError("xid_window and xid_burst must be > 0")
            super().validate()

    def key_for(self, ev):
        return _gpu_key(ev)

    def new_state(self, ev):
        return {"base": None, "hot": 0, "xid": ledger()}

    def evaluate(self, st, ev, v, t):
        if ev.name == GPU_XID_ERRORS:
            n = ledger_sum(st["xid"], t, self.config.xid_window) + v
            code = ev.attributes.get("gpu.xid.code")
            try:
                code = int(code) if code is not None else None
            except (TypeError, ValueError):
                code = None
            score = n / self.config.xid_burst if v > 0 else 0.0   # findings only on samples with errors
            evd = {"metric": ev.name, "value": v, "rule": "xid", "errors_in_window": n,
                   "baseline": self.config.xid_burst, "xid_code": code,
                   "window": {"seconds": self.config.xid_window},
                   "gpu.index": ev.attributes.get("gpu.index")}
            if code is not None and code in self.config.critical_xids and v > 0:
                score = max(score, 1.0)
                evd["_severity"] = "critical"
            return score, evd
        lim = self.config.temp_limit
        hot = st["hot"] + 1 if v >= lim else 0
        score = hot / self.config.sustain if v >= lim else 0.9 * v / lim
        return score, {"metric": ev.name, "value": v, "rule": "thermal", "baseline": st["base"],
                       "limit": lim, "deviation": v - lim, "hot_points": hot, "direction": "up",
                       "gpu.index": ev.attributes.get("gpu.index"),
                       "window": {"points": self.config.sustain}}

    def update(self, st, ev, v, t, flagged):
        if ev.name == GPU_XID_ERRORS:
            if v > 0:
                ledger_add(st["xid"], t, v)
            ledger_trim(st["xid"], t - self.config.xid_window)
            return
        st["hot"] = st["hot"] + 1 if v >= self.config.temp_limit else 0
        if not flagged and v < self.config.temp_limit:
            a = halflife_alpha(60.0)
            st["base"] = v if st["base"] is None else st["base"] + a * (v - st["base"])

    def title(self, ev, e):
        if e.get("rule") == "xid":
            return (f"GPU XID errors on {ev.entity} (gpu {e.get('gpu.index')}): "
                    f"{e['errors_in_window']:.0f} in {e['window']['seconds']:.0f} s"
                    + (f", critical XID {e['xid_code']}" if e.get("_severity") else ""))
        return (f"GPU thermal throttling on {ev.entity} (gpu {e.get('gpu.index')}): "
                f"{e['value']:.0f} C >= {e['limit']:.0f} C for {e['hot_points']} samples")
