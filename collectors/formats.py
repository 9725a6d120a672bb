"""Registry of input record formats: a format turns one decoded record into events.

A parser takes `(record, source)` where record is the JSON-decoded value of one input record (a
line of a JSON-lines file, one HTTP body, one Kafka message) and returns a list of Events. It raises
`FormatError` (or ValueError/KeyError/TypeError, which are wrapped) with a reason for records it
cannot read; the caller dead-letters them. A format may also claim records in `detect(record)` so
`--format auto` can pick it. A format whose input may be a container of records (a CloudTrail log
file `{"Records": [...]}`, a Kubernetes `EventList`, a GCP `entries.list` answer) gives `split(record)`
its member records (None when the record is a single one): callers then parse, accept or
dead-letter each member on its own (collectors/accounting.py), so one bad member loses nothing else.
Formats register with @input_format("name"); modules under collectors/ register theirs on import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.event import Event
from core.times import iso_to_epoch  # noqa: F401 - re-exported: the input formats parse times with it


class FormatError(ValueError):
    pass


Parser = Callable[[Any, str], list[Event]]


@dataclass(frozen=True)
class InputFormat:
    name: str
    parse: Parser
    detect: Callable[[Any], bool] | None = None
    description: str = ""
    split: Callable[[Any], list[Any] | None] | None = None


_formats: dict[str, InputFormat] = {}


def input_format(name: str, *, detect: Callable[[Any], bool] | None = None, description: str = "",
                 split: Callable[[Any], list[Any] | None] | None = None):
    def deco(fn: Parser) -> Parser:
        _formats[name] = InputFormat(name, fn, detect, description or (fn.__doc__ or "").strip().split("\n")[0],
                                     split)
        return fn
    return deco


def get_format(name: str) -> InputFormat:
    from core.registry import load_builtins
    load_builtins()
    if name not in _formats:
        raise FormatError(f"unknown format {name!r} (known: {', '.join(sorted(_formats))}, auto)")
    return _formats[name]


def all_formats() -> dict[str, InputFormat]:
    from core.registry import load_builtins
    load_builtins()
    return dict(sorted(_formats.items()))


def resolve(record: Any, fmt: str) -> InputFormat:
    """The named format, or for `auto` the first whose detect() claims the record."""
    if fmt == "auto":
        for f in all_formats().values():
            if f.detect is not None and f.detect(record):
                return f
        raise FormatError("unknown record shape: no format recognises it")
    return get_format(fmt)


def parse_record(record: Any, fmt: str, source: str) -> list[Event]:
    """Parse one decoded record with the named format (or `auto`); FormatError says why not."""
    return _call(resolve(record, fmt), record, source)


def _call(f: InputFormat, record: Any, source: str) -> list[Event]:
    try:
        return f.parse(record, source)
    except FormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise FormatError(f"{f.name}: {type(e).__name__}: {e}") from None
