"""The codec's fast paths against the model, field by field: for every field of Event and Finding
(enumerated with dataclasses.fields, so a field added to the model is probed too) and every kind
of JSON value — or the field left out — the fast decoder gives exactly what the generic
from_dict gives (the same record with the same value types, or None so that from_dict answers
with its reason), and the fast encoder writes exactly the generic dict."""
from __future__ import annotations

import dataclasses

import orjson
import pytest

from core import codec
from core.codec import DecodeError
from core.event import Event, Finding

#: one value of every JSON type, and values at the edges of what the model accepts
PROBES = ["s", "", "log", "metric", 0, 1, 1.5, -1.0, 1.7e9, 5e9, -1e20, 2 ** 70, True, False, None, [], ["a", "b"],
          [1], {}, {"k": [1, {"x": None}]}]

EVENT = Event.create(source="s/x", kind="metric", entity="n1", name="gpu.utilization", time=1.7e9, value=0.5,
                     attributes={"gpu.index": 1}, observed_time=1.7e9 + 1)
FINDING = Finding.create(detector="d/x", entity="e", time=3, score=4, threshold=3, severity="high", title="t",
                         evidence={"x": [1, 2]}, event_ids=["a", "b"], tags=["attack.t1"], rule="r1")
MISSING = object()


def _variants(record):
    base = codec.to_dict(record)
    for f in dataclasses.fields(record):
        for probe in PROBES + [MISSING]:
            d = dict(base)
            if probe is MISSING:
                del d[f.name]
            else:
                d[f.name] = probe
            yield f.name, orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS) if probe != 2 ** 70 else codec.dumps(d)


def _generic(data: bytes, expect: str):
    try:
        return codec.from_dict(codec.loads(data), expect)
    except DecodeError as e:
        return DecodeError(str(e))


def _same(got, want, cls) -> None:
    if isinstance(want, DecodeError):
        assert isinstance(got, DecodeError) and str(got) == str(want)
    else:
        assert type(got) is cls and got == want
        for f in dataclasses.fields(cls):
            assert type(getattr(got, f.name)) is type(getattr(want, f.name)), f.name


def _decoded(fn, *a):
    try:
        return fn(*a)
    except DecodeError as e:
        return e


@pytest.mark.parametrize("field, data", list(_variants(EVENT)))
def test_event_fast_decoder_equals_the_generic_one_on_every_field(field, data):
    want = _generic(data, "event")
    _same(_decoded(codec.decode, data, "event"), want, Event)
    _same(_decoded(codec.decode, data), want, Event)
    _same(codec.decode_events([data])[0], want, Event)


@pytest.mark.parametrize("field, data", list(_variants(FINDING)))
def test_finding_fast_decoder_equals_the_generic_one_on_every_field(field, data):
    want = _generic(data, "finding")
    _same(_decoded(codec.decode, data, "finding"), want, Finding)
    _same(_decoded(codec.decode, data), want, Finding)


@pytest.mark.parametrize("record", [EVENT, Event.create(source="s", kind="log", entity="e", name="n", time=1),
                                    FINDING])
def test_the_fast_encoder_writes_every_field_of_the_model_in_order(record):
    generic = {"v": codec.SCHEMA_VERSION, "type": codec.TYPE_OF[type(record)],
               **{f.name: getattr(record, f.name) for f in dataclasses.fields(record)}}
    assert list(codec.to_dict(record)) == list(generic) and codec.to_dict(record) == generic
    assert codec.encode(record) == codec.dumps(generic)


def test_finding_create_sets_every_field_as_the_dataclass_constructor_does():
    made = Finding.create(detector="d/x", entity="e", time=3, score=4, threshold=3, severity="high", title="t",
                          evidence={"x": 1}, event_ids=["a"], tags=["t1"], rule="r1")
    generic = Finding(**{f.name: getattr(made, f.name) for f in dataclasses.fields(Finding)})
    assert made == generic
    assert [type(getattr(made, f.name)) for f in dataclasses.fields(Finding)] == \
        [str, str, str, float, float, float, str, str, dict, tuple, tuple, str]
