import pytest

from core import codec
from core.codec import DecodeError
from core.event import Action, Alert, Event, Finding


def _event(**kw):
    base = dict(source="t/x", kind="metric", entity="n1", name="m", time=1.5, value=2.0, attributes={"a.b": 1})
    base.update(kw)
    return Event.create(**base)


def test_event_id_is_stable_hash_of_source_record():
    a = Event.create(source="s/x", kind="audit", entity="u", name="x", time=1, raw={"k": 1, "j": 2})
    b = Event.create(source="s/x", kind="audit", entity="u", name="x", time=1, raw={"j": 2, "k": 1})
    c = Event.create(source="s/x", kind="audit", entity="u", name="x", time=1, raw={"k": 2, "j": 2})
    assert a.id == b.id != c.id


@pytest.mark.parametrize("record", [
    _event(),
    Finding.create(detector="d/x", entity="e", time=3, score=4, threshold=3, severity="high", title="t",
                   evidence={"x": [1, 2]}, event_ids=["a", "b"], tags=["attack.t1"]),
    Alert(id="a1", rule="r", title="t", severity="low", entity="e", group_key="g", status="firing",
          first_seen=1, last_seen=2, tags=("x",), routes=({"responder": "log/default", "dry_run": True},)),
    Action(id="x", alert_id="a1", responder="log/default", action="notify", target="e", dry_run=True,
           status="planned", time=5, undo={"op": "none"}),
])
def test_roundtrip_every_record_type(record):
    assert codec.decode(codec.encode(record)) == record


@pytest.mark.parametrize("data, reason", [
    (b"{not json", "invalid JSON"),
    (b"[1,2]", "expected a JSON object"),
    (b'{"v": 99, "type": "event"}', "unsupported schema version"),
    (b'{"v": 1, "type": "nope"}', "unexpected record type"),
    (b'{"v": 1, "type": "event", "id": "x"}', "invalid event"),
    (b'{"v":1,"type":"event","id":"x","time":"soon","kind":"metric","source":"s","entity":"e","name":"n"}', "time must be a number"),
    (b'{"v":1,"type":"event","id":"x","time":1,"kind":"bogus","source":"s","entity":"e","name":"n"}', "unknown event kind"),
    (b'{"v":1,"type":"event","id":"x","time":1,"kind":"metric","source":"s","entity":"e","name":"n","value":"7"}', "value must be a number"),
])
def test_decode_errors_carry_a_reason(data, reason):
    with pytest.raises(DecodeError, match=reason):
        codec.decode(data)


def test_decode_checks_expected_type():
    with pytest.raises(DecodeError, match="expected finding"):
        codec.decode(codec.encode(_event()), "finding")


def _generic(data):
    """What decode gave before the event fast path: the generic from_dict."""
    try:
        return codec.from_dict(codec.loads(data), "event")
    except DecodeError as e:
        return DecodeError(str(e))


_ODD_EVENTS = [
    b'{"v":1,"type":"event","id":"a","time":1,"kind":"log","source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":true,"kind":"log","source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":["log"],"source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"nope","source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e","name":"n","value":"1"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e","name":"n","value":false}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e","name":"n","attributes":[]}',
    b'{"v":1,"type":"event","id":7,"time":1.5,"kind":"log","source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e","name":"n","extra":1}',
    b'{"v":1,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e"}',
    b'{"v":2,"type":"event","id":"a","time":1.5,"kind":"log","source":"s","entity":"e","name":"n"}',
    b'{"v":1,"type":"finding","id":"a"}',
    b'[1,2]', b'"x"', b'not json', b'', b'\xff\xfe',
]


@pytest.mark.parametrize("data", [codec.encode(_event()), codec.encode(_event(value=None, attributes={}))]
                         + _ODD_EVENTS)
def test_event_fast_path_decodes_exactly_like_the_generic_path(data):
    want = _generic(data)
    for got in (codec.decode_events([data])[0], _try_decode(data)):
        if isinstance(want, DecodeError):
            assert isinstance(got, DecodeError) and str(got) == str(want)
        else:
            assert got == want and type(got) is Event
            assert [type(getattr(got, f)) for f in Event.__slots__] == [type(getattr(want, f)) for f in Event.__slots__]


def _try_decode(data):
    try:
        return codec.decode(data, "event")
    except DecodeError as e:
        return e


def test_decode_events_keeps_one_entry_per_value_in_order():
    good = [codec.encode(_event(entity=f"n{i}")) for i in range(3)]
    out = codec.decode_events([good[0], b"{", good[1], b'{"v":1}', good[2]])
    assert [type(x).__name__ for x in out] == ["Event", "DecodeError", "Event", "DecodeError", "Event"]
    assert [x.entity for x in out if isinstance(x, Event)] == ["n0", "n1", "n2"]
    assert "invalid JSON" in str(out[1])


def test_event_encoding_matches_the_generic_dict():
    ev = _event(attributes={"x": {"y": [1, 2]}})
    d = {"v": codec.SCHEMA_VERSION, "type": "event", **{f: getattr(ev, f) for f in codec._FIELDS["event"]}}
    assert codec.to_dict(ev) == d and list(codec.to_dict(ev)) == list(d)
    assert codec.encode(ev) == codec.dumps(d)


_FINDING = Finding.create(detector="d/x", entity="e", time=3, score=4, threshold=3, severity="high", title="t",
                          evidence={"x": [1, 2]}, event_ids=["a", "b"], tags=["attack.t1"], rule="r1")


@pytest.mark.parametrize("data", [
    codec.encode(_FINDING),
    b'{"v":1,"type":"finding","id":"f","detector":"d","entity":"e","time":1,"score":2,"threshold":1,'
    b'"severity":"low","title":"t"}',
    b'{"v":1,"type":"finding","id":"f","detector":"d","entity":"e","time":1,"score":2,"threshold":1,'
    b'"severity":"low","title":"t","tags":"notalist","extra":{"a":1}}',
    b'{"v":1,"type":"finding","id":"f","detector":"d","entity":"e","time":1,"score":2}',
    b'{"v":2,"type":"finding","id":"f"}', b'{"v":1,"type":"event"}', b'[]',
])
def test_finding_fast_path_decodes_exactly_like_the_generic_path(data):
    try:
        want = codec.from_dict(codec.loads(data), "finding")
    except DecodeError as e:
        want = e
    try:
        got = codec.decode(data, "finding")
    except DecodeError as e:
        got = e
    if isinstance(want, DecodeError):
        assert isinstance(got, DecodeError) and str(got) == str(want)
    else:
        assert got == want and type(got) is Finding
        assert [type(getattr(got, f)) for f in Finding.__slots__] == [type(getattr(want, f)) for f in Finding.__slots__]
