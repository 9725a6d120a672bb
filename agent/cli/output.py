"""Output helpers: plain tables for people, JSON for scripts."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable

import click
import orjson

from agent.codec import to_dict


def emit_json(obj: Any) -> None:
    if isinstance(obj, list):
        obj = [to_dict(o) if hasattr(o, "__dataclass_fields__") else o for o in obj]
    elif hasattr(obj, "__dataclass_fields__"):
        obj = to_dict(obj)
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode())


def fmt_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: list[str], rows: Iterable[list[Any]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


_SINCE = re.compile(r"^(\d+)\s*([smhd])$")


def parse_since(s: str | None) -> float | None:
    """'1h', '30m', '2d' → epoch seconds that long ago; an ISO time is taken as is."""
    if not s:
        return None
    m = _SINCE.match(s.strip())
    if m:
        return dt.datetime.now(dt.timezone.utc).timestamp() - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{s!r}: use e.g. 30m, 1h, 2d or an ISO time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.timestamp()
