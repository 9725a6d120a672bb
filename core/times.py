"""The one time parser of warden: text or numbers from the outside world → float epoch seconds.

    parse_time(1767571200)              epoch seconds; ms, µs and ns are told by magnitude
    parse_time("1767571200.5")          the same, as text
    parse_time("2026-01-05T00:00:00Z")  ISO-8601: any offset, none = UTC, space for 'T',
                                        fractions beyond microseconds trimmed
    rfc3339_to_epoch("2026-01-05T00:00:00.123456789Z")
                                        strict RFC 3339 (an API's contract: the zone is required),
                                        nanoseconds kept

Failure modes are explicit and chosen by the caller: `parse_time` and `rfc3339_to_epoch` raise
TimeFormatError (a ValueError) whose message says what was wrong; `parse_time_or_none` answers
None instead (a record with several candidate times tries the next one). Relative times ("2h ago")
are a user interface's business (`core.durations` reads the duration). `iso` writes a time back.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

EXPECTED = "expected epoch seconds or ISO-8601"
#: a number above this is not seconds: milliseconds, microseconds or nanoseconds (÷ 1000 until below)
_SECONDS_MAX = 1e11
_FRACTION = re.compile(r"\.(\d+)")
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)


class TimeFormatError(ValueError):
    """A value that is not a time; the message says why."""


def iso_to_epoch(s: str) -> float:
    """An ISO-8601 time ('Z' or an offset; none = UTC; space for 'T'; fractions beyond
    microseconds trimmed) -> epoch seconds. Raises TimeFormatError."""
    text = s.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    m = _FRACTION.search(text)
    if m and len(m.group(1)) > 6:
        text = text[:m.start(1)] + m.group(1)[:6] + text[m.end(1):]
    try:
        t = datetime.fromisoformat(text)
    except ValueError as e:
        raise TimeFormatError(str(e)) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def parse_time(value: Any) -> float:
    """Epoch seconds (or ms / µs / ns, by magnitude; a number or its text) or an ISO-8601 string
    -> float seconds. Raises TimeFormatError for anything else (booleans, negative or non-finite
    numbers, None, empty text)."""
    if isinstance(value, bool):
        raise TimeFormatError(f"invalid time {value!r}")
    if isinstance(value, (int, float)):
        try:
            v = float(value)
        except OverflowError:
            v = math.inf
        if not math.isfinite(v) or v < 0:
            raise TimeFormatError(f"invalid time {value!r}")
        while v > _SECONDS_MAX:
            v /= 1000.0
        return v
    if isinstance(value, str):
        s = value.strip()
        try:
            return parse_time(float(s))
        except ValueError:
            pass
        try:
            return iso_to_epoch(s)
        except TimeFormatError:
            raise TimeFormatError(f"invalid time {value!r}: {EXPECTED}") from None
    raise TimeFormatError(f"invalid time {value!r}: {EXPECTED}")


def parse_time_or_none(value: Any) -> float | None:
    """parse_time, with None for a value that is not a time."""
    try:
        return parse_time(value)
    except TimeFormatError:
        return None


def rfc3339_to_epoch(value: Any) -> float:
    """Strict RFC 3339 (`2026-12-04T17:16:10.123456789Z`, any offset, the zone required) → epoch
    seconds, fractions to the nanosecond. Raises TimeFormatError."""
    m = _RFC3339.match(value) if isinstance(value, str) else None
    if not m:
        raise TimeFormatError(f"not an RFC 3339 time: {value!r}")
    base, frac, zone = m.groups()
    zone = "+00:00" if zone.upper() == "Z" else zone
    try:
        t = datetime.fromisoformat(base + zone).timestamp()
    except ValueError as e:
        raise TimeFormatError(str(e)) from None
    return t + (float(frac) if frac else 0.0)


#: 9999-12-31 23:59:59 UTC: the latest time a datetime, an ISO timestamp and the stores hold
LATEST_TIME = 253402300799.0


def iso(ts: float) -> str:
    """ISO 8601 UTC of an epoch time; a time no datetime holds (a record that slipped past the
    collectors' bounds, core.event_bounds) is clamped to the nearest one a store takes, never raised
    on: one such record must not fail every act step."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return "9999-12-31T23:59:59Z" if ts > 0 else "0001-01-01T00:00:00Z"
