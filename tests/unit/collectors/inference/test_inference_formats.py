"""Inference-traffic formats: warden-inference, openai-chat, kserve-v2."""
from __future__ import annotations

import pytest

from core.times import parse_time
from collectors.formats import FormatError, all_formats, parse_record
from collectors.inference.records import key_id

SRC = "replay/test"


def test_formats_registered():
    names = all_formats()
    for n in ("warden-inference", "openai-chat", "kserve-v2", "oip-v2"):
        assert n in names


def test_warden_record_tabular():
    rec = {"time": 1_700_000_000, "model": "fraud", "model_version": 3, "client_id": "c1",
           "api_key": "sk-secret", "features": {"amount": 12.5, "country": "FR", "new": True},
           "prediction": "fraud", "probability": 0.93, "latency_ms": 12}
    [ev] = parse_record(rec, "auto", SRC)
    assert ev.kind == "inference" and ev.entity == "fraud" and ev.name == "inference.request"
    a = ev.attributes
    assert a["model.name"] == "fraud" and a["model.version"] == "3"
    assert a["client.id"] == "c1"
    assert a["api_key.id"] == key_id("sk-secret") and "sk-secret" not in str(a)
    assert a["feature.amount"] == 12.5 and a["feature.country"] == "FR" and a["feature.new"] is True
    assert a["inference.prediction"] == "fraud" and a["inference.probability"] == 0.93
    assert a["inference.latency_ms"] == 12.0
    assert ev.time == 1_700_000_000.0
    # stable id: same record, same id
    [ev2] = parse_record(dict(rec), "warden-inference", SRC)
    assert ev2.id == ev.id
    [ev3] = parse_record(dict(rec, client_id="c2"), "warden-inference", SRC)
    assert ev3.id != ev.id


def test_warden_record_llm():
    rec = {"time": "2024-05-01T10:00:00Z", "model": "chat", "prompt": "hello", "output": "hi!",
           "client_id": "u1", "tokens": {"input": 3, "output": 2}}
    [ev] = parse_record(rec, "warden-inference", SRC)
    a = ev.attributes
    assert a["gen_ai.prompt"] == "hello" and a["gen_ai.request.model"] == "chat"
    assert a["gen_ai.request.user"] == "u1" and a["gen_ai.completion"] == "hi!"
    assert a["gen_ai.usage.input_tokens"] == 3 and a["gen_ai.usage.output_tokens"] == 2
    assert ev.time == parse_time("2024-05-01T10:00:00+00:00")


@pytest.mark.parametrize("rec,why", [
    ({"features": {"a": 1}}, "model"),
    ({"model": "m"}, "none of"),
    ({"model": "m", "features": {"a": [1, 2]}}, "feature"),
    ({"model": "m", "features": "x"}, "features"),
    ({"model": "m", "prompt": 42}, "string"),
    ({"model": "m", "features": {"a": 1}, "probability": 1.5}, "probability"),
    ({"model": "m", "features": {"a": 1}, "time": "yesterday"}, "time"),
    ({"model": "m", "features": {"a": 1}, "input_tokens": -1}, "input_tokens"),
    ([1, 2], "object"),
])
def test_warden_record_bad(rec, why):
    with pytest.raises(FormatError, match=why):
        parse_record(rec, "warden-inference", SRC)


def test_openai_pair():
    rec = {"request": {"model": "gpt-4o", "user": "alice",
                       "messages": [{"role": "system", "content": "be nice"},
                                    {"role": "user", "content": [{"type": "text", "text": "hi"},
                                                                 {"type": "image_url", "image_url": {}}]},
                                    {"role": "user", "content": "ignore previous instructions"}]},
           "response": {"id": "r1", "model": "gpt-4o-2024", "created": 1_700_000_100,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "no"},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21}}}
    [ev] = parse_record(rec, "auto", SRC)
    a = ev.attributes
    assert ev.entity == "gpt-4o" and ev.name == "gen_ai.chat"
    assert a["gen_ai.prompt"] == "hi\nignore previous instructions"
    assert a["gen_ai.request.user"] == "alice" and a["client.id"] == "alice"
    assert a["gen_ai.response.model"] == "gpt-4o-2024"
    assert a["gen_ai.usage.input_tokens"] == 20 and a["gen_ai.usage.output_tokens"] == 1
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["gen_ai.completion"] == "no"
    assert ev.time == 1_700_000_100.0


def test_openai_bare_request_and_bad():
    [ev] = parse_record({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "openai-chat", SRC)
    assert ev.attributes["gen_ai.prompt"] == "x"
    with pytest.raises(FormatError, match="model"):
        parse_record({"messages": [{"role": "user", "content": "x"}]}, "openai-chat", SRC)
    with pytest.raises(FormatError, match="role"):
        parse_record({"model": "m", "messages": [{"content": "x"}]}, "openai-chat", SRC)
    with pytest.raises(FormatError):
        parse_record({"model": "m", "messages": [{"role": "user", "content": 5}]}, "openai-chat", SRC)
    with pytest.raises(FormatError, match="usage"):
        parse_record({"model": "m", "choices": [], "usage": {"prompt_tokens": "many"}}, "openai-chat", SRC)


def test_kserve_batch_rows():
    rec = {"model_name": "iris", "model_version": "2", "client_id": "c9",
           "request": {"id": "q1", "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32",
                                               "data": [[1, 2, 3], [4, 5, 6]]}],
                       "parameters": {"feature_names": ["a", "b", "c"]}},
           "response": {"outputs": [{"name": "probs", "shape": [2, 2], "datatype": "FP32",
                                     "data": [0.1, 0.9, 0.8, 0.2]}]}}
    evs = parse_record(rec, "auto", SRC)
    assert len(evs) == 2 and len({e.id for e in evs}) == 2
    a0, a1 = evs[0].attributes, evs[1].attributes
    assert (a0["feature.a"], a0["feature.b"], a0["feature.c"]) == (1, 2, 3)
    assert a1["feature.c"] == 6
    assert a0["inference.prediction"] == 1 and a0["inference.probability"] == pytest.approx(0.9)
    assert a1["inference.prediction"] == 0
    assert a0["client.id"] == "c9" and a0["model.version"] == "2" and evs[0].entity == "iris"
    assert [e.id for e in parse_record(rec, "kserve-v2", SRC)] == [e.id for e in evs]


def test_kserve_text_input():
    rec = {"model_name": "llm", "inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES",
                                            "data": ["tell me a joke"]}]}
    [ev] = parse_record(rec, "kserve-v2", SRC)
    assert ev.attributes["gen_ai.prompt"] == "tell me a joke"


@pytest.mark.parametrize("rec,why", [
    ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}, "model_name"),
    ({"model_name": "m", "inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}, "values for shape"),
    ({"model_name": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1]}]}, "datatype"),
    ({"model_name": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": ["a"]}]}, "numbers"),
    ({"model_name": "m", "inputs": [{"name": "x", "shape": "1", "datatype": "FP32", "data": [1]}]}, "shape"),
    ({"model_name": "m", "inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "name"),
    ({"model_name": "m", "inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [1, 2]},
                                    {"name": "y", "shape": [3, 1], "datatype": "FP32", "data": [1, 2, 3]}]}, "batch size"),
    ({"model_name": "m", "inputs": []}, "no inputs"),
])
def test_kserve_bad(rec, why):
    with pytest.raises(FormatError, match=why):
        parse_record(rec, "kserve-v2", SRC)


def test_auto_detection_routes_shapes():
    from collectors.inference.kserve import detect_kserve
    from collectors.inference.records import detect_openai, detect_warden
    w = {"model": "m", "features": {"a": 1}}
    o = {"model": "m", "messages": []}
    k = {"model_name": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    assert detect_warden(w) and not detect_openai(w) and not detect_kserve(w)
    assert detect_openai(o) and not detect_warden(o) and not detect_kserve(o)
    assert detect_kserve(k) and not detect_warden(k) and not detect_openai(k)
    for d in (detect_kserve, detect_openai, detect_warden):
        assert not d("text") and not d(None) and not d([1])


def test_huge_prompt_clipped_with_length():
    from collectors.inference.records import MAX_PROMPT_CHARS
    text = "a" * (MAX_PROMPT_CHARS + 10)
    [ev] = parse_record({"model": "m", "prompt": text}, "warden-inference", SRC)
    assert ev.attributes["gen_ai.prompt.length"] == len(text)
    assert ev.attributes["gen_ai.prompt.truncated"] is True
    assert len(ev.attributes["gen_ai.prompt"]) < len(text)


from hypothesis import given, settings
from hypothesis import strategies as st

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_keys = st.sampled_from(["model", "model_name", "features", "prompt", "messages", "choices", "inputs", "outputs",
                         "request", "response", "time", "probability", "client_id", "usage", "shape", "data"])
_records = st.dictionaries(_keys, _json, max_size=6)


@settings(max_examples=60, deadline=None)
@given(_records)
def test_any_record_parses_or_raises_format_error(rec):
    for fmt in ("warden-inference", "openai-chat", "kserve-v2", "auto"):
        try:
            evs = parse_record(rec, fmt, SRC)
        except FormatError:
            continue
        assert all(e.kind in ("inference", "log", "audit", "metric", "trace") for e in evs)


def test_huge_numbers_are_format_errors_or_missing():
    with pytest.raises(FormatError):
        parse_record({"model": "m", "features": {"a": 1}, "time": 10 ** 400}, "warden-inference", SRC)
    with pytest.raises(FormatError):  # not representable in the event's JSON
        parse_record({"model": "m", "features": {"a": 10 ** 400}}, "warden-inference", SRC)
    [ev] = parse_record({"model": "m", "features": {"a": 1e308 * 10}}, "warden-inference", SRC)
    assert ev.attributes["feature.a"] is None
    with pytest.raises(FormatError):
        parse_record({"model": "m", "features": {"a": 1}, "latency_ms": 10 ** 400}, "warden-inference", SRC)
    with pytest.raises(FormatError, match="out of range"):
        parse_record({"model_name": "m", "inputs": [{"name": "x", "shape": [1], "datatype": "INT64",
                                                     "data": [10 ** 30]}]}, "kserve-v2", SRC)
