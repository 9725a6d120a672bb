"""The one place that turns records into bytes and back (JSON via orjson, schema-versioned).

Wire form: a JSON object with "v" (schema version) and "type" (event|finding|alert|action) plus
the record's fields. Decoding validates types and raises DecodeError with a reason, which the
stages send to the dead-letter topic.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from agent.event import Action, Alert, Event, Finding

SCHEMA_VERSION = 1
TYPES: dict[str, type] = {"event": Event, "finding": Finding, "alert": Alert, "action": Action}
TYPE_OF = {cls: name for name, cls in TYPES.items()}
_FIELDS = {name: {f.name: f for f in dataclasses.fields(cls)} for name, cls in TYPES.items()}
_TUPLE_FIELDS = {name: {f.name for f in dataclasses.fields(cls) if "tuple" in str(f.type)}
                 for name, cls in TYPES.items()}


class DecodeError(ValueError):
    """A record that cannot be decoded; the message is the reason shown in the dead-letter topic."""


def to_dict(record: Any) -> dict[str, Any]:
    d = {"v": SCHEMA_VERSION, "type": TYPE_OF[type(record)]}
    for f in _FIELDS[d["type"]]:
        d[f] = getattr(record, f)
    return d


def encode(record: Any) -> bytes:
    return orjson.dumps(to_dict(record), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def dumps(obj: Any) -> bytes:
    """Encode any JSON-able value (used for dead letters, snapshots, store documents)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"invalid JSON: {e}") from None


def from_dict(d: Any, expect: str | None = None) -> Any:
    if not isinstance(d, dict):
        raise DecodeError(f"expected a JSON object, got {type(d).__name__}")
    v = d.get("v")
    if v != SCHEMA_VERSION:
        raise DecodeError(f"unsupported schema version {v!r} (this warden reads {SCHEMA_VERSION})")
    t = d.get("type")
    if t not in TYPES or (expect and t != expect):
        raise DecodeError(f"unexpected record type {t!r}" + (f" (expected {expect})" if expect else ""))
    fields = _FIELDS[t]
    kwargs = {}
    for k, val in d.items():
        if k in ("v", "type"):
            continue
        if k not in fields:
            continue  # forward compatible: ignore unknown fields of the same schema version
        if k in _TUPLE_FIELDS[t] and isinstance(val, list):
            val = tuple(val)
        kwargs[k] = val
    try:
        rec = TYPES[t](**kwargs)
    except (TypeError, ValueError) as e:
        raise DecodeError(f"invalid {t}: {e}") from None
    _check_types(t, rec)
    return rec


def decode(data: bytes | str, expect: str | None = None) -> Any:
    return from_dict(loads(data), expect)


def _check_types(t: str, rec: Any) -> None:
    if t == "event":
        if not isinstance(rec.time, (int, float)) or isinstance(rec.time, bool):
            raise DecodeError("invalid event: time must be a number (epoch seconds)")
        if rec.value is not None and (not isinstance(rec.value, (int, float)) or isinstance(rec.value, bool)):
            raise DecodeError("invalid event: value must be a number or null")
        if not isinstance(rec.attributes, dict):
            raise DecodeError("invalid event: attributes must be an object")
        for name in ("id", "kind", "source", "entity", "name"):
            if not isinstance(getattr(rec, name), str):
                raise DecodeError(f"invalid event: {name} must be a string")
