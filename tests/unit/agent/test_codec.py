import pytest

from agent import codec
from agent.codec import DecodeError
from agent.event import Action, Alert, Event, Finding


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
