"""Big JSON bodies are parsed in slices (core/json_slices.py): the same value or the same refusal
as one orjson call, with no call on more than a slice of the document."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import json_slices

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(alphabet=st.sampled_from('ab,:[]{}"\\ \n\u00e9'), max_size=8))
values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=12),
                                                        st.dictionaries(st.text(alphabet="ab,:]}\"\\", max_size=4),
                                                                        kids, max_size=8)), max_leaves=200)


@pytest.fixture
def small_slices(monkeypatch):
    """Slices of 4 structural chars and slicing from 8 on, so that small documents are split (the
    same for every generated input: hypothesis may share it)."""
    monkeypatch.setattr(json_slices, "SLICE_VALUES", 4)
    monkeypatch.setattr(json_slices, "ONE_CALL", 8)


def _outcome(f, data: bytes):
    try:
        return "ok", f(data)
    except orjson.JSONDecodeError:
        return "error", None


@given(values, st.sampled_from([b"", b" ", b"\n\t"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_sliced_document_is_the_value_orjson_gives(small_slices, value, ws):
    data = ws + orjson.dumps(value) + ws
    assert json_slices.loads(data) == orjson.loads(data)


@given(values, st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_broken_document_is_refused_as_orjson_refuses_it(small_slices, value, data):
    doc = bytearray(orjson.dumps([value, value]))
    for _ in range(data.draw(st.integers(1, 3))):               # delete, insert or replace a byte
        at = data.draw(st.integers(0, len(doc)))
        op = data.draw(st.sampled_from(["del", "ins", "set"]))
        byte = data.draw(st.sampled_from(list(b',:[]{}"\\ 1ax')))
        if op == "del" and at < len(doc):
            del doc[at]
        elif op == "ins":
            doc.insert(at, byte)
        elif at < len(doc):
            doc[at] = byte
    assert _outcome(json_slices.loads, bytes(doc)) == _outcome(orjson.loads, bytes(doc))


@pytest.mark.parametrize("doc", [
    b"[" + b"1," * 9 + b"]",                    # trailing comma
    b"[" + b"1," * 9 + b",2]",                  # empty item
    b"[" + b"1," * 9 + b"2}",                   # wrong closer
    b"{" + b'"a":1,' * 9 + b'"b" 2}',           # member without a colon
    b"[" + b"1," * 9 + b"2] x",                 # text after the document
    b'{"a": [' + b"1," * 9 + b'1] x, "b": 1}',  # text after a big member's value
    b'{1: [' + b"1," * 9 + b'1]}',              # a key that is not a string
    b"[" * 1100 + b"]" * 1100,                  # deeper than orjson's limit
    b"[" * 1100 + b"1," * 20 + b"1" + b"]" * 1100,
])
def test_documents_orjson_refuses_are_refused(small_slices, doc):
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(doc)
    with pytest.raises(orjson.JSONDecodeError):
        json_slices.loads(doc)


def test_no_call_parses_more_than_a_slice_of_a_big_body(monkeypatch):
    """300,000 empty objects (the robustness bench's 'huge array') and a big object of arrays:
    every orjson call gets a part of the document, none more than SLICE_VALUES items' worth."""
    calls: list[bytes] = []
    real = orjson.loads

    def spy(data):
        calls.append(bytes(data))
        return real(data)
    monkeypatch.setattr(json_slices.orjson, "loads", spy)
    for doc in (b"[" + b"{}," * 300_000 + b"{}]",
                orjson.dumps({"points": [{"v": i, "s": "x,]}"} for i in range(30_000)], "n": list(range(20_000))})):
        calls.clear()
        assert json_slices.loads(doc) == real(doc)
        assert len(calls) > 10
        assert max(c.count(b",") for c in calls) <= json_slices.SLICE_VALUES


def test_a_big_document_nested_deep_is_its_value_not_a_recursion_error(small_slices):
    """Each level holds more than a slice (the levels below it): split down to SPLIT_DEPTH only."""
    doc = b"[" * 1000 + b"1," * 20 + b"1" + b"]" * 1000
    v = json_slices.loads(doc)
    for _ in range(999):                                    # unwrapped without recursion (== would recurse)
        assert isinstance(v, list) and len(v) == 1
        v = v[0]
    assert v == [1] * 21


def test_small_documents_take_one_call(monkeypatch):
    calls = []
    real = orjson.loads
    monkeypatch.setattr(json_slices.orjson, "loads", lambda d: calls.append(d) or real(d))
    assert json_slices.loads(b'[{"a": 1}, 2]') == [{"a": 1}, 2]
    assert len(calls) == 1
