"""Evidence and history for people: bytes, percentages, rates, durations and times with their zone
instead of raw floats (`65963456765.0` → `61.4 GiB`), nested evidence as indented lines instead
of Python dict reprs.

A metric's unit comes from its name (OpenTelemetry conventions: `*.memory.*` / `*bytes*` are
bytes, `*.duration` / `*latency*` seconds, `*.utilization` a ratio shown as a percentage); the
evidence keys that carry the metric's values (value, baseline, deviation, ...) are shown in it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from core.durations import format_duration
from core.units import fmt_in_unit, fmt_number, unit_of     # the same formatting as detectors' titles

#: evidence keys that hold a value of the finding's metric (its unit applies)
METRIC_VALUE_KEYS = frozenset(("value", "baseline", "deviation", "rise", "recent", "scale", "latency_threshold",
                               "step", "median", "expected", "observed", "threshold_value"))
#: keys that are fractions (0..1) shown as percentages
PERCENT_KEYS = frozenset(("relative_rise", "objective", "utilization", "error_rate", "share", "fraction"))
#: keys that are epoch-second times
TIME_KEYS = frozenset(("first_time", "last_time", "since", "first_seen", "last_seen", "time", "at", "updated"))


def fmt_time(ts: float | None) -> str:
    """An epoch time as `2026-01-05 02:30:00 UTC` (warden's times are UTC); one no datetime holds
    (a record from before times were bounded) is shown as such, never raised on."""
    if ts is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return f"{float(ts):.0f} (epoch seconds, beyond year 9999)"


def fmt_value(key: str, v: Any, unit: str = "") -> str:
    """One evidence value for people, by its key (and the metric's unit)."""
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, (int, float)):
        k = key.rsplit(".", 1)[-1]
        if k in TIME_KEYS and v > 1e9:
            return fmt_time(v)
        if k in PERCENT_KEYS:
            return f"{v * 100:.2f}%"
        if k == "ratio":
            return f"{v:.2f}x"
        if k.endswith("_s") or k.endswith("seconds") or k == "seconds":
            return format_duration(v)
        if k.startswith("slope_per_hour") or k.endswith("_per_hour"):
            return fmt_in_unit(v, unit, per_hour=True)
        if k in METRIC_VALUE_KEYS and unit:
            return fmt_in_unit(v, unit)
        return fmt_number(v)
    if isinstance(v, list):
        if all(isinstance(x, dict) for x in v) and v:
            return "; ".join(", ".join(f"{k}={fmt_value(k, x[k], unit)}" for k in x) for x in v)
        return ", ".join(fmt_value(key, x, unit) for x in v) or "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(k, x, unit)}" for k, x in v.items()) or "-"
    return str(v)


def evidence_lines(evidence: dict[str, Any], indent: str = "  ") -> list[str]:
    """Evidence as indented `key: value` lines (nested objects nest)."""
    unit = unit_of(str(evidence.get("metric", "")))
    out: list[str] = []

    def walk(d: dict[str, Any], pad: str) -> None:
        for k in sorted(d):
            v = d[k]
            if k == "chart" and isinstance(v, dict) and isinstance(v.get("points"), list):
                out.append(f"{pad}chart: {chart_summary(v)}")
            elif isinstance(v, dict) and v:
                out.append(f"{pad}{k}:")
                walk(v, pad + "  ")
            else:
                out.append(f"{pad}{k}: {fmt_value(k, v, unit)}")
    walk(evidence, indent)
    return out


def chart_summary(chart: dict[str, Any]) -> str:
    """One line for a metric chart's evidence (its points are for the page and `--png`, not for reading)."""
    pts = [p for p in chart["points"] if isinstance(p, list) and p]
    span = f" from {fmt_time(pts[0][0])} to {fmt_time(pts[-1][0])}" if pts else ""
    return (f"{len(pts)} points of {chart.get('metric') or 'the series'}{span}, "
            f"{int(chart.get('crossings') or 0)} over the threshold (drawn by `alerts explain ID --png FILE` "
            "and the web page)")


def history_lines(history, indent: str = "  ") -> list[str]:
    out = []
    for h in history:
        extra = ""
        if h.get("assignee"):
            extra = f" -> {h['assignee']}"
        elif h.get("severity"):
            extra = f" (at {h['severity']}, {h.get('count', '?')} finding(s))"
        out.append(f"{indent}{fmt_time(h.get('at'))}  {h.get('by') or '?'}  {h.get('action')}{extra}"
                   + (f": {h['note']}" if h.get("note") else ""))
    return out


def step_lines(steps, indent: str = "  ") -> list[str]:
    """The alert's timeline: one line per contributing (detector, rule, entity)."""
    return [f"{indent}{fmt_time(s.get('first_seen'))} .. {fmt_time(s.get('last_seen'))}  x{s.get('count')}  "
            f"[{s.get('severity')}] {s.get('detector')}: {s.get('title')} on {s.get('entity')}" for s in steps]
