import orjson
import pytest

from core import codec
from core.event import Event
from collectors.formats import FormatError, all_formats, parse_record


def _ev(**kw):
    base = dict(source="scenario/demo", kind="metric", entity="gpu-node-1", name="gpu.utilization",
                time=1767571200.0, value=0.93, attributes={"gpu.index": 0}, observed_time=1767571200.0)
    base.update(kw)
    return Event.create(**base)


def test_registered_with_detect():
    f = all_formats()["event"]
    d = codec.to_dict(_ev())
    assert f.detect(d)
    assert not f.detect({"eventName": "GetObject"})
    assert not f.detect([d])


def test_round_trip_keeps_identity():
    ev = _ev()
    d = orjson.loads(codec.encode(ev))
    (out,) = parse_record(d, "event", "replay/x")
    assert out == ev                        # id, source and times are kept, not re-derived
    (auto,) = parse_record(d, "auto", "replay/x")
    assert auto == ev


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d.update(v=99), "schema version"),
    (lambda d: d.update(type="alert"), "expected event"),
    (lambda d: d.update(time="yesterday"), "time must be a number"),
    (lambda d: d.update(value="high"), "value must be a number"),
    (lambda d: d.update(kind="weird"), "unknown event kind"),
    (lambda d: d.update(attributes=[1]), "attributes must be an object"),
    (lambda d: d.pop("entity"), "entity"),
    (lambda d: d.update(entity=""), "entity"),
])
def test_bad_records_raise_format_error_with_reason(mutate, reason):
    d = codec.to_dict(_ev())
    mutate(d)
    with pytest.raises(FormatError) as ei:
        parse_record(d, "event", "replay/x")
    assert reason in str(ei.value) and str(ei.value).startswith("event: ")


def test_not_an_object():
    with pytest.raises(FormatError, match="expected a JSON object"):
        parse_record([1, 2], "event", "replay/x")
