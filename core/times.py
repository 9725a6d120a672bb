"""Times: epoch seconds from ISO-8601 text or epoch numbers, and back to ISO-8601 UTC."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

_FRACTION = re.compile(r"\.(\d+)")


def iso_to_epoch(s: str) -> float:
    """An ISO-8601 time ('Z' or an offset; none = UTC; space for 'T'; fractions beyond
    microseconds trimmed) -> epoch seconds. Raises ValueError."""
    s = s.strip().replace(" ", "T", 1)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = _FRACTION.search(s)
    if m and len(m.group(1)) > 6:
        s = s[:m.start(1)] + m.group(1)[:6] + s[m.end(1):]
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_time(v: Any) -> float | None:
    """Epoch seconds from ISO-8601 / 'YYYY-MM-DD HH:MM:SS.fff' strings or epoch s/ms numbers."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        x = float(v)
        if x > 1e14:      # microseconds
            return x / 1e6
        if x > 1e11:      # milliseconds
            return x / 1e3
        return x
    if not isinstance(v, str) or not v.strip():
        return None
    s = v.strip()
    try:
        return float(s) if re.fullmatch(r"\d+(\.\d+)?", s) else iso_to_epoch(s)
    except ValueError:
        return None


def iso(ts: float) -> str:
    """ISO 8601 UTC of an epoch time; a time no datetime holds (a record that slipped past the
    collectors' bounds, core.event_bounds) is clamped to the nearest one a store takes, never raised
    on: one such record must not fail every act step."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return "9999-12-31T23:59:59Z" if ts > 0 else "0001-01-01T00:00:00Z"
