"""KServe's real answers are accepted (issue #14): v2 as its sklearn / xgboost servers write it
(1-D `[N]` outputs, null `model_version` and `parameters`) and the v1 protocol's
`instances` / `predictions`; one event per row either way."""
from __future__ import annotations

import pytest

from collectors.formats import FormatError, parse_record

IRIS_V2_REQUEST = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32",
                               "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}]}
# the answer of the KServe docs' sklearn-v2-iris example, as the server writes it
IRIS_V2_RESPONSE = {"model_name": "sklearn-v2-iris", "model_version": None,
                    "id": "823248cc-d770-4a51-9606-16803395569c", "parameters": None,
                    "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT32", "parameters": None,
                                 "data": [1, 1]}]}

SHAPES = [
    ("v2 response alone", IRIS_V2_RESPONSE, "sklearn-v2-iris", [1, 1], False),
    ("v2 request and response", {"model_name": "sklearn-v2-iris", "request": IRIS_V2_REQUEST,
                                 "response": IRIS_V2_RESPONSE}, "sklearn-v2-iris", [1, 1], True),
    ("v2 1-D input and output", {"model_name": "m", "inputs": [{"name": "x", "shape": [3], "datatype": "FP64",
                                                                "data": [1.0, 2.0, 3.0]}],
                                 "outputs": [{"name": "y", "shape": [3], "datatype": "INT64", "data": [0, 1, 0]}]},
     "m", [0, 1, 0], True),
    ("v1 predictions alone", {"predictions": [1, 1]}, "unknown", [1, 1], False),
    ("v1 instances and predictions", {"model_name": "sklearn-iris",
                                      "instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]],
                                      "predictions": [1, 1]}, "sklearn-iris", [1, 1], True),
    ("v1 request and response", {"model_name": "iris", "request": {"instances": [[6.8, 2.8, 4.8, 1.4]]},
                                 "response": {"predictions": [[0.1, 0.7, 0.2]]}}, "iris", [1], True),
]


@pytest.mark.parametrize("record, model, predictions, features", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_kserve_answers_become_one_event_per_row(record, model, predictions, features):
    events = parse_record(record, "auto", "t")
    assert [e.entity for e in events] == [model] * len(predictions)
    assert [e.attributes["inference.prediction"] for e in events] == predictions
    assert all(any(k.startswith("feature.") for k in e.attributes) == features for e in events)
    assert len({e.id for e in events}) == len(events)


@pytest.mark.parametrize("record, reason", [
    ({"instances": [[1], [2]], "predictions": [1]}, "2 instances but 1 predictions"),
    ({"predictions": "1"}, "predictions must be a list"),
    ({"predictions": [None]}, "a prediction must be"),
    ({"model_name": "m", "outputs": [{"name": "y", "shape": [2], "datatype": "INT32", "data": [1]}]}, "values for shape"),
])
def test_bad_kserve_records_say_why(record, reason):
    fmt = "kserve-v1" if ("predictions" in record or "instances" in record) else "kserve-v2"
    with pytest.raises(FormatError, match=reason):
        parse_record(record, fmt, "t")
