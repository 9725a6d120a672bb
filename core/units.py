"""Metric values for people, in their metric's unit: bytes as `61.4 GiB`, durations as `123.2 ms`
or `1m30s`, ratios as `87.3%`, plain numbers with 4 significant digits and no scientific notation
(`7.16e+10` was a title). Detectors' titles and the CLI's evidence use the same formatting; a
finding's evidence keeps the raw value.

A metric's unit comes from its name (OpenTelemetry conventions: `*.memory.*` / `*bytes*` are
bytes, `*.duration` / `*latency*` seconds, `*.utilization` a ratio shown as a percentage).
"""
from __future__ import annotations

import math
from typing import Any

from core.durations import format_duration

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def unit_of(metric: str) -> str:
    m = (metric or "").lower()
    if "memory" in m or "bytes" in m or m.endswith(".size"):
        return "bytes"
    if m.endswith(".duration") or "latency" in m or m.endswith(".time"):
        return "seconds"
    if m.endswith(".utilization") or m.endswith(".ratio"):
        return "ratio"
    if m.endswith(".temperature"):
        return "celsius"
    return ""


def fmt_number(v: float) -> str:
    """Plain digits, 4 significant, thousands separated; no scientific notation."""
    if v == 0 or not math.isfinite(v):
        return str(v if not float(v).is_integer() else int(v))
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    digits = max(0, 3 - int(math.floor(math.log10(abs(v)))))
    return f"{v:,.{digits}f}"


def fmt_bytes(v: float) -> str:
    n, i = abs(float(v)), 0
    while n >= 1024 and i < len(_BYTE_UNITS) - 1:
        n /= 1024
        i += 1
    return f"{'-' if v < 0 else ''}{n:.1f} {_BYTE_UNITS[i]}" if i else f"{int(v)} B"


def fmt_in_unit(v: float, unit: str, per_hour: bool = False) -> str:
    if unit == "bytes":
        s = fmt_bytes(v)
    elif unit == "seconds":
        s = f"{v * 1000:.1f} ms" if abs(v) < 1 else f"{v:.3g}s" if abs(v) < 60 else format_duration(v)
    elif unit == "ratio":
        s = f"{v * 100:.1f}%"
    elif unit == "celsius":
        s = f"{v:.1f} °C"
    else:
        s = fmt_number(v)
    return s + ("/h" if per_hour else "")


def metric_value(v: Any, metric: str, per_hour: bool = False) -> str:
    """`v` in the unit of `metric` (its name), for a title; a value that is not a number as text."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return fmt_in_unit(float(v), unit_of(metric), per_hour)
