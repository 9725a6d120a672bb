"""Inference SLO burn rate: multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5).

Two SLIs per endpoint (entity); ``slo_burn`` reads the latency SLI by default (``metrics`` may add
the error metrics), ``error_burst`` reads the availability SLI with faster rules:
- latency: each http.server.request.duration sample is good when <= the endpoint's threshold:
  ``latency_thresholds[endpoint]``, else ``latency_threshold``, else (0, the default) automatic:
  ``auto_factor`` x the median of the endpoint's first ``auto_samples`` samples, then frozen (no
  score before it is set; later samples never move it, so a slow regression cannot raise it);
- availability: http.server.request.errors / http.server.request.count, summed over a window.

With objective ``objective`` the error budget is ``1 - objective``; the burn rate over a window is
(bad / total in the window) / budget. Each alert rule ``[long_s, short_s, burn]`` fires when both
the long and the short window burn at least ``burn`` (the short window makes the alert reset
quickly after recovery). score = max over rules of min(burn_long, burn_short) / burn; flag at 1.
Defaults (30-day SLO): page on 2% of the budget in 1 h (14.4 over 1 h and 5 min) or 5% in 6 h
(6 over 6 h and 30 min); ticket on 10% in 1 d (3 over 1 d and 2 h) or 10% in 3 d (1 over 3 d
and 6 h). Page rules give severity ``critical``, ticket rules ``high``.

The windows are measurements of what happened, not learned baselines: every in-order sample is
counted, flagged or not (a burning SLO must keep burning). Windows need ``min_samples`` latency
samples / ``min_requests`` requests in the short window before they can fire. Late samples are
scored but not counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.names import HTTP_SERVER_DURATION, HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS
from core.registry import register
from detectors.metrics.config import MetricConfig
from detectors.metrics.keyed import KeyedStateDetector, ledger, ledger_add, ledger_sum, ledger_trim

DEFAULT_RULES = [[3600.0, 300.0, 14.4], [21600.0, 1800.0, 6.0], [86400.0, 7200.0, 3.0],
                 [259200.0, 21600.0, 1.0]]


@register
class SloBurnDetector(KeyedStateDetector):
    """Latency and error-rate SLO burn rate per endpoint (multi-window, multi-burn-rate)."""

    type = "slo_burn"
    metric_names = (HTTP_SERVER_DURATION,)
    tags = ("slo", "inference")

    @dataclass
    class Config(MetricConfig):
        latency_threshold: float = 0.0   # seconds; a sample above it is "bad"; 0 = automatic
        latency_thresholds: dict = field(default_factory=dict)  # {endpoint: seconds} overrides
        auto_factor: float = 2.0         # automatic threshold = factor x median of the first samples
        auto_samples: int = 60           # samples that set the automatic threshold (then frozen)
        objective: float = 0.99          # SLO target (fraction good)
        rules: list[list[float]] = field(default_factory=lambda: [list(r) for r in DEFAULT_RULES])
        page_rules: int = 2              # the first N rules page (critical), the rest ticket (high)
        min_samples: int = 3             # latency samples in the short window
        min_requests: float = 20.0       # requests in the short window (error SLI)
        metrics: list[str] = field(default_factory=lambda: [HTTP_SERVER_DURATION])
        severity: str = "high"
        high_factor: float = 0.0

        def validate(self) -> None:
            if not 0 < self.objective < 1:
                raise ValueError("objective must be in (0, 1)")
            if self.latency_threshold < 0 or any(float(v) <= 0 for v in self.latency_thresholds.values()):
                raise ValueError("latency thresholds must be > 0 (latency_threshold 0 = automatic)")
            if self.auto_factor <= 1.0 or self.auto_samples < 1:
                raise ValueError("auto_factor must be > 1 and auto_samples >= 1")
            if not self.rules:
                raise ValueError("rules must not be empty")
            for r in self.rules:
                if len(r) != 3 or not (r[0] > 0 and 0 < r[1] <= r[0] and r[2] > 0):
                    raise ValueError(f"rule {r}: expected [long_s, short_s, burn] with short <= long")
            super().validate()

    def key_for(self, ev):
        return ev.entity, ("latency" if ev.name == HTTP_SERVER_DURATION else "errors")

    def new_state(self, ev):
        cfg = self.config
        latency = ev.name == HTTP_SERVER_DURATION
        fixed = None
        if latency:
            fixed = float(cfg.latency_thresholds.get(ev.entity, cfg.latency_threshold) or 0) or None
        return {"bad": ledger(), "tot": ledger(), "sli": "latency" if latency else "errors",
                "fixed": fixed, "thr": None, "first": []}

    @staticmethod
    def _threshold(st) -> float | None:
        """The endpoint's latency threshold: configured, or automatic (frozen after warm-up)."""
        return st["fixed"] if st["fixed"] is not None else st["thr"]

    def warm(self, st):
        return st["sli"] == "errors" or self._threshold(st) is not None

    def _parts(self, ev, v, st):
        """(bad, total) contributions of this sample."""
        if ev.name == HTTP_SERVER_DURATION:
            return (1.0 if v > self._threshold(st) else 0.0), 1.0
        if ev.name == HTTP_SERVER_ERRORS:
            return max(v, 0.0), None
        return None, max(v, 0.0)

    def evaluate(self, st, ev, v, t):
        bad, tot = self._parts(ev, v, st)
        budget = 1.0 - self.config.objective
        latency = ev.name == HTTP_SERVER_DURATION
        best, best_rule, burns = 0.0, None, []
        for k, (long_s, short_s, burn) in enumerate(self.config.rules):
            rates = []
            for w in (long_s, short_s):
                b = ledger_sum(st["bad"], t, w) + (bad or 0.0)
                n = ledger_sum(st["tot"], t, w) + (tot or 0.0)
                rates.append((b / n / budget) if n > 0 else 0.0)
                if w == short_s:
                    enough = n >= (self.config.min_samples if latency else self.config.min_requests)
            s = min(rates) / burn if enough else 0.0
            burns.append({"long_s": long_s, "short_s": short_s, "burn_long": rates[0],
                          "burn_short": rates[1], "burn_threshold": burn})
            if s > best:
                best, best_rule = s, k
        evd = {"metric": ev.name, "value": v, "sli": "latency" if latency else "errors",
               "objective": self.config.objective, "baseline": budget, "burn_rates": burns,
               "rule": f"slo_burn:{'latency' if latency else 'errors'}", "direction": "up"}
        if latency:
            evd["latency_threshold"] = self._threshold(st)
            evd["latency_threshold_source"] = "configured" if st["fixed"] is not None else "automatic"
        if best_rule is not None:
            evd["window"] = burns[best_rule]
            evd["_severity"] = "critical" if best_rule < self.config.page_rules else "high"
            evd["deviation"] = burns[best_rule]["burn_short"]
        return best, evd

    def update(self, st, ev, v, t, flagged):
        if st["sli"] == "latency" and self._threshold(st) is None:
            # automatic threshold: factor x median of the first samples, then frozen
            st["first"].append(v)
            if len(st["first"]) >= self.config.auto_samples:
                st["thr"] = self.config.auto_factor * float(sorted(st["first"])[len(st["first"]) // 2])
                st["first"] = []
            return
        bad, tot = self._parts(ev, v, st)
        if bad is not None:
            ledger_add(st["bad"], t, bad)
        if tot is not None:
            ledger_add(st["tot"], t, tot)
        horizon = max(r[0] for r in self.config.rules)
        ledger_trim(st["bad"], t - horizon)
        ledger_trim(st["tot"], t - horizon)

    def title(self, ev, e):
        w = e.get("window", {})
        return (f"{e['sli']} SLO burning on {ev.entity}: {w.get('burn_long', 0):.1f}x budget over "
                f"{w.get('long_s', 0) / 3600:.3g} h and {w.get('burn_short', 0):.1f}x over "
                f"{w.get('short_s', 0) / 60:.0f} min (objective {e['objective']:.2%})")


@register
class ErrorBurstDetector(SloBurnDetector):
    """Error-rate spikes per endpoint: errors / requests burning the availability budget fast.

    Same machinery as ``slo_burn`` on http.server.request.errors / http.server.request.count,
    with short rules by default: 10x the budget over 30 min and 5 min, or 20x over 5 min and 1 min
    (with objective 0.99: 10% and 20% errors). All rules page (severity critical).
    """

    type = "error_burst"
    metric_names = (HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS)
    tags = ("errors", "inference")

    @dataclass
    class Config(SloBurnDetector.Config):
        rules: list[list[float]] = field(default_factory=lambda: [[1800.0, 300.0, 10.0], [300.0, 60.0, 20.0]])
        page_rules: int = 2
        metrics: list[str] = field(default_factory=lambda: [HTTP_SERVER_ERRORS, HTTP_SERVER_REQUESTS])
