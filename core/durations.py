"""The one duration grammar of warden, used by every parser (policies, config, silences, `--since`,
`--for`, responder params): a number and a unit, or several of them run together.

    90s   1h30m   2d   1w   1.5h   250ms   30     (a bare number is seconds)

Units: ms, s, m, h, d, w (and `sec`, `min`, `hr`, `day`, `week` spelled out, singular or plural).
`format_duration` writes the same grammar back (`5400` → `1h30m`).
"""
from __future__ import annotations

import math
import re
from typing import Any

from core.errors import ConfigError

UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_ALIASES = {"sec": "s", "secs": "s", "second": "s", "seconds": "s", "min": "m", "mins": "m", "minute": "m",
            "minutes": "m", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "day": "d", "days": "d",
            "week": "w", "weeks": "w"}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)?")
EXAMPLES = "90s, 1h30m, 2d, 1w, 1.5h"


def parse_duration(v: Any, where: str = "duration") -> float:
    """Seconds of a duration (a number is taken as seconds). Raises ConfigError naming `where`."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(v):
            raise ConfigError(f"{where}: invalid duration {v!r} (e.g. {EXAMPLES})")
        return float(v)
    text = str(v).strip().lower().replace(" ", "")
    pos, total, parts = 0, 0.0, 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            break
        unit = m.group(2)
        unit = _ALIASES.get(unit, unit) if unit else "s"
        if unit not in UNITS or (m.group(2) is None and (pos != 0 or m.end() != len(text))):
            break
        total += float(m.group(1)) * UNITS[unit]
        pos, parts = m.end(), parts + 1
    if not text or pos != len(text) or parts == 0:
        raise ConfigError(f"{where}: invalid duration {v!r} (e.g. {EXAMPLES})")
    return total


def format_duration(seconds: float) -> str:
    """`5400` → `1h30m`, `90` → `1m30s`, `0.25` → `250ms`, `1209600` → `2w`."""
    s = float(seconds)
    if s < 0:
        return "-" + format_duration(-s)
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 60 and not float(s).is_integer():
        return f"{s:.1f}s"
    out, rest = [], round(s)
    for unit in ("w", "d", "h", "m", "s"):
        n, rest = divmod(rest, int(UNITS[unit]))
        if n:
            out.append(f"{int(n)}{unit}")
    return "".join(out[:2]) or "0s"
