"""Output helpers: plain tables for people, JSON for scripts."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import click
import orjson

from agent.cli.render import fmt_time  # noqa: F401 - times with their zone, for every command
from core.codec import to_dict


def emit_json(obj: Any) -> None:
    if isinstance(obj, list):
        obj = [to_dict(o) if hasattr(o, "__dataclass_fields__") else o for o in obj]
    elif hasattr(obj, "__dataclass_fields__"):
        obj = to_dict(obj)
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode())


def table(headers: list[str], rows: Iterable[list[Any]]) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def parse_since(s: str | None) -> float | None:
    """A duration ago (`90s`, `1h30m`, `2d`, `1w`, `1.5h`: core.durations) or an ISO time → epoch seconds."""
    if not s:
        return None
    from core.durations import EXAMPLES, parse_duration
    from core.errors import ConfigError
    try:
        return dt.datetime.now(dt.timezone.utc).timestamp() - parse_duration(s, "--since")
    except ConfigError:
        pass
    from core.times import TimeFormatError, iso_to_epoch
    try:
        return iso_to_epoch(s)
    except TimeFormatError:
        raise click.BadParameter(f"{s!r}: use a duration ({EXAMPLES}) or an ISO time") from None
