"""The bounds an accepted event keeps, so that no single record can stop a stage downstream.

A record that parses can still carry values every sink chokes on: a time in year 586,524 (no
datetime holds it: the store's ISO timestamps fail on every act step) or an integer over 64 bits
(orjson, SQLite and Elasticsearch refuse it: every detector snapshot fails). The collectors refuse
such an event at the door (dead letter with the reason from `out_of_bounds`); the codec refuses an
event time outside the range when it decodes a record from the bus.
"""
from __future__ import annotations

from typing import Any

from core.event import Event

#: 1970-01-01 .. 2100-01-01 UTC: what an event time may be (epoch seconds)
TIME_MIN = 0.0
TIME_MAX = 4102444800.0
#: signed 64-bit: what orjson, SQLite and Elasticsearch's long all hold
INT_MIN = -(2 ** 63)
INT_MAX = 2 ** 63 - 1


def time_in_range(t: Any) -> bool:
    """True for a number (not a bool) within TIME_MIN..TIME_MAX (NaN compares false)."""
    return (type(t) is float or type(t) is int) and TIME_MIN <= t <= TIME_MAX


def time_reason(name: str, t: Any) -> str:
    if not (type(t) is float or type(t) is int):
        return f"event {name} must be a number (epoch seconds), not {type(t).__name__}"
    return f"event {name} {t!r} outside 1970..2100 UTC ({TIME_MIN:.0f}..{TIME_MAX:.0f} epoch seconds)"


def out_of_bounds(ev: Event) -> str | None:
    """Why `ev` must not enter the pipeline, or None when it may."""
    if not time_in_range(ev.time):
        return time_reason("time", ev.time)
    if not time_in_range(ev.observed_time):
        return time_reason("observed_time", ev.observed_time)
    return _big_int(ev.attributes) if type(ev.attributes) is dict else None


def _big_int(attributes: dict[str, Any]) -> str | None:
    """The first integer outside int64 in `attributes` (iterative: any depth), as a reason."""
    stack: list[tuple[str, Any]] = [("attributes", attributes)]
    while stack:
        path, v = stack.pop()
        items = v.items() if type(v) is dict else enumerate(v)
        for k, c in items:
            tc = type(c)
            if tc is int and not INT_MIN <= c <= INT_MAX:
                return f"integer at {path[:200]}.{str(k)[:100]} outside the signed 64-bit range"
            if tc is dict or tc is list or tc is tuple:
                stack.append((f"{path}.{k}", c))
    return None
