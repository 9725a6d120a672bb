"""The one place that turns records into bytes and back (JSON via orjson, schema-versioned).

Wire form: a JSON object with "v" (schema version) and "type" (event|finding|alert|action) plus
the record's fields. Decoding validates types and raises DecodeError with a reason, which the
stages send to the dead-letter topic.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from core.event import KINDS, Action, Alert, Event, Finding
from core.event_bounds import TIME_MAX, TIME_MIN, time_in_range, time_reason

SCHEMA_VERSION = 1
TYPES: dict[str, type] = {"event": Event, "finding": Finding, "alert": Alert, "action": Action}
TYPE_OF = {cls: name for name, cls in TYPES.items()}
_FIELDS = {name: {f.name: f for f in dataclasses.fields(cls)} for name, cls in TYPES.items()}
_TUPLE_FIELDS = {name: {f.name for f in dataclasses.fields(cls) if "tuple" in str(f.type)}
                 for name, cls in TYPES.items()}


class DecodeError(ValueError):
    """A record that cannot be decoded; the message is the reason shown in the dead-letter topic."""


_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_dumps = orjson.dumps


def to_dict(record: Any) -> dict[str, Any]:
    if type(record) is Event:
        return _event_dict(record)
    d = {"v": SCHEMA_VERSION, "type": TYPE_OF[type(record)]}
    for f in _FIELDS[d["type"]]:
        d[f] = getattr(record, f)
    return d


def _event_dict(e: Event) -> dict[str, Any]:
    # the hot path (every event crosses the bus at least once): one dict literal, same keys and
    # order as the generic to_dict
    return {"v": SCHEMA_VERSION, "type": "event", "id": e.id, "time": e.time, "kind": e.kind, "source": e.source,
            "entity": e.entity, "name": e.name, "value": e.value, "attributes": e.attributes,
            "observed_time": e.observed_time}


def encode(record: Any) -> bytes:
    if type(record) is Event:
        return _dumps(_event_dict(record), option=_OPTS)
    return _dumps(to_dict(record), option=_OPTS)


def dumps(obj: Any) -> bytes:
    """Encode any JSON-able value (used for dead letters, snapshots, store documents). An integer
    beyond 64 bits (orjson refuses it) is written as a float, or as text when no float holds it:
    one such value in a detector's state must not fail every checkpoint."""
    try:
        return orjson.dumps(obj, option=_OPTS)
    except TypeError:
        fixed = _fit_ints(obj, 0)
        if fixed is obj:
            raise
        return orjson.dumps(fixed, option=_OPTS)


_INT_MIN, _INT_MAX = -(2 ** 63), 2 ** 64 - 1      # what orjson writes as an integer
_FIT_DEPTH = 255                                  # orjson's own nesting limit


def _fit_ints(v: Any, depth: int) -> Any:
    """`v` with each integer orjson cannot write replaced (float, else str); `v` itself when none."""
    t = type(v)
    if t is int and not _INT_MIN <= v <= _INT_MAX:
        try:
            return float(v)
        except OverflowError:
            return str(v)
    if depth >= _FIT_DEPTH:
        return v
    if t is dict:
        items = {k: _fit_ints(c, depth + 1) for k, c in v.items()}
        return items if any(items[k] is not c for k, c in v.items()) else v
    if t is list or t is tuple:
        out = [_fit_ints(c, depth + 1) for c in v]
        return out if any(a is not b for a, b in zip(out, v)) else v
    return v


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"invalid JSON: {e}") from None


def from_dict(d: Any, expect: str | None = None) -> Any:
    if not isinstance(d, dict):
        raise DecodeError(f"expected a JSON object, got {type(d).__name__}")
    v = d.get("v")
    if v is None:
        raise DecodeError(f'not a warden record: no schema version "v" (warden\'s own records carry '
                          f'"v": {SCHEMA_VERSION} and "type", e.g. "event"; other input takes its format)')
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
    d = loads(data)
    if expect == "event" or expect is None:
        ev = _fast_event(d)
        if ev is not None:
            return ev
    if expect == "finding" or expect is None:
        f = _fast_finding(d)
        if f is not None:
            return f
    return from_dict(d, expect)


_FINDING_REQUIRED = tuple(f.name for f in dataclasses.fields(Finding)
                          if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
_FINDING_DEFAULTS = {f.name: (f.default_factory if f.default_factory is not dataclasses.MISSING else f.default)
                     for f in dataclasses.fields(Finding) if f.name not in _FINDING_REQUIRED}
_FINDING_SETTERS = tuple((f.name, getattr(Finding, f.name).__set__) for f in dataclasses.fields(Finding))


def _fast_finding(d: Any) -> Finding | None:
    """A Finding from a decoded wire dict as from_dict builds it (lists → tuples, unknown keys
    ignored, defaults for absent optional fields) without its generic per-key loop; None when
    it is not a finding of this schema version or a required field is absent (from_dict says why)."""
    if type(d) is not dict or d.get("type") != "finding" or d.get("v") != SCHEMA_VERSION:
        return None
    for k in _FINDING_REQUIRED:
        if k not in d:
            return None
    f = _new(Finding)
    for name, put in _FINDING_SETTERS:
        if name in d:
            val = d[name]
            if type(val) is list and (name == "event_ids" or name == "tags"):
                val = tuple(val)
        else:
            dv = _FINDING_DEFAULTS[name]
            val = dv() if callable(dv) else dv
        put(f, val)
    return f


def decode_events(values: "list[bytes]") -> list:
    """Decode a batch of event records: one entry per value, an Event or the DecodeError (with its
    reason) for a record that cannot be decoded. Same results as decode(value, "event") each."""
    out: list = []
    append, parse, fast = out.append, orjson.loads, _fast_event
    for data in values:
        try:
            d = parse(data)
        except orjson.JSONDecodeError as e:
            append(DecodeError(f"invalid JSON: {e}"))
            continue
        ev = fast(d)
        if ev is None:
            try:
                ev = from_dict(d, "event")
            except DecodeError as e:
                ev = e
        append(ev)
    return out


_new = object.__new__
#: the slot setters of Event, one per field of the model (tests/unit/agent/test_codec_fast_paths.py
#: probes the fast decoder against from_dict on every field)
_EVENT_SET = {f.name: getattr(Event, f.name).__set__ for f in dataclasses.fields(Event)}
(_set_id, _set_time, _set_kind, _set_source, _set_entity, _set_name, _set_value, _set_attributes,
 _set_observed) = (_EVENT_SET[f] for f in ("id", "time", "kind", "source", "entity", "name", "value",
                                            "attributes", "observed_time"))
_KINDS = frozenset(KINDS)
_NUM = (float, int)
_VALUE = (float, int, type(None))


def _fast_event(d: Any) -> Event | None:
    """An Event from a decoded wire dict whose fields all have their exact JSON types (what
    encode() writes), without the generic path's per-field work; None when anything is unusual
    (missing or extra-typed fields, another record type): from_dict then decides, with the reason."""
    if type(d) is not dict or d.get("type") != "event" or d.get("v") != SCHEMA_VERSION:
        return None
    try:
        id_, t, kind, source, entity, name = d["id"], d["time"], d["kind"], d["source"], d["entity"], d["name"]
    except KeyError:
        return None
    value = d.get("value")
    attrs = d["attributes"] if "attributes" in d else {}
    obs = d.get("observed_time", 0.0)
    if (type(t) not in _NUM or type(value) not in _VALUE or type(attrs) is not dict or type(id_) is not str
            or type(source) is not str or type(entity) is not str or type(name) is not str or type(kind) is not str
            or kind not in _KINDS or not entity or not TIME_MIN <= t <= TIME_MAX or type(obs) not in _NUM
            or not TIME_MIN <= obs <= TIME_MAX):
        return None
    ev = _new(Event)
    _set_id(ev, id_)
    _set_time(ev, t)
    _set_kind(ev, kind)
    _set_source(ev, source)
    _set_entity(ev, entity)
    _set_name(ev, name)
    _set_value(ev, value)
    _set_attributes(ev, attrs)
    _set_observed(ev, obs)
    return ev


def _check_types(t: str, rec: Any) -> None:
    if t == "event":
        if not isinstance(rec.time, (int, float)) or isinstance(rec.time, bool):
            raise DecodeError("invalid event: time must be a number (epoch seconds)")
        for name in ("time", "observed_time"):
            if not time_in_range(getattr(rec, name)):
                raise DecodeError(f"invalid {time_reason(name, getattr(rec, name))}")
        if rec.value is not None and (not isinstance(rec.value, (int, float)) or isinstance(rec.value, bool)):
            raise DecodeError("invalid event: value must be a number or null")
        if not isinstance(rec.attributes, dict):
            raise DecodeError("invalid event: attributes must be an object")
        for name in ("id", "kind", "source", "entity", "name"):
            if not isinstance(getattr(rec, name), str):
                raise DecodeError(f"invalid event: {name} must be a string")
