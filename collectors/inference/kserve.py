"""KServe inference records: the Open Inference Protocol v2 (`kserve-v2`, alias `oip-v2`) and the
v1 protocol (`kserve-v1`: `{"instances": [...]}` requests, `{"predictions": [...]}` answers).

Both give one `Event(kind="inference")` per row of the batch, with the attributes of
collectors/inference/records.py. v2 tensors: the first dimension is the batch (a 1-D `[N]` tensor
is N rows of one value, as KServe's sklearn, xgboost and lightgbm servers answer); nulls where
KServe writes them (`model_version`, `parameters`) mean absent.
"""
from __future__ import annotations

import math
from typing import Any

from core.event import Event, stable_id
from core.names import (FEATURE_PREFIX, LATENCY_MS, MODEL_NAME, MODEL_VERSION, PREDICTION, PROBABILITY, PROTOCOL,
                         REQUEST_MODEL)
from collectors.formats import FormatError, input_format
from collectors.inference.records import (MAX_ROWS, _client_attrs, _features, _float, _number, _prompt_attrs,
                                          _require_dict, _str_field, record_time)


_V2_TYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
             "FP16", "FP32", "FP64", "BYTES", "BF16"}
_TEXT_INPUTS = {"text", "prompt", "text_input", "input_text", "inputs", "input", "question"}


def _flatten(data: Any, out: list, depth: int = 0) -> None:
    if depth > 8:
        raise FormatError("kserve-v2: data nested too deeply")
    if isinstance(data, list):
        for d in data:
            _flatten(d, out, depth + 1)
    else:
        out.append(data)


def _v2_tensor(t: Any, where: str) -> tuple[str, list[int], str, list]:
    if not isinstance(t, dict):
        raise FormatError(f"kserve-v2: {where} must be an object")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise FormatError(f"kserve-v2: {where}.name missing")
    shape = t.get("shape")
    if not isinstance(shape, list) or not shape or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise FormatError(f"kserve-v2: {where} ({name}).shape must be a list of non-negative integers")
    dt = t.get("datatype")
    if dt not in _V2_TYPES:
        raise FormatError(f"kserve-v2: {where} ({name}).datatype {dt!r} not a v2 datatype")
    if "data" not in t:
        raise FormatError(f"kserve-v2: {where} ({name}).data missing")
    flat: list = []
    _flatten(t["data"], flat)
    n = math.prod(shape)
    if n != len(flat):
        raise FormatError(f"kserve-v2: {where} ({name}) has {len(flat)} values for shape {shape}")
    for v in flat:
        if dt == "BYTES":
            if not isinstance(v, str):
                raise FormatError(f"kserve-v2: {where} ({name}) BYTES values must be strings")
        elif dt == "BOOL":
            if not isinstance(v, bool):
                raise FormatError(f"kserve-v2: {where} ({name}) BOOL values must be true/false")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise FormatError(f"kserve-v2: {where} ({name}) {dt} values must be numbers, got {v!r}")
        elif isinstance(v, int) and abs(v) >= 1 << 64:
            raise FormatError(f"kserve-v2: {where} ({name}) value {v} out of range for {dt}")
    return name, shape, dt, flat


def _rows(shape: list[int]) -> tuple[int, int]:
    """(rows, values per row): the first dimension is the batch. A 1-D tensor [N] is N rows of one
    value each, as KServe's own servers answer (sklearn iris: outputs shape [2] for 2 rows)."""
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], math.prod(shape[1:])


def detect_kserve(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    for r in (record, record.get("request"), record.get("response")):
        if isinstance(r, dict) and (isinstance(r.get("inputs"), list) or isinstance(r.get("outputs"), list)):
            if isinstance(r.get("inputs"), list) and r["inputs"] and not isinstance(r["inputs"][0], dict):
                continue
            return True
    return False


@input_format("kserve-v2", detect=detect_kserve,
              description="KServe / Open Inference Protocol v2 request and/or response (inputs, outputs)")
def parse_kserve(record: Any, source: str) -> list[Event]:
    """KServe / Open Inference Protocol v2: one event per row of the batch.

    {"model_name", "model_version", "id", "inputs": [{name, shape, datatype, data}],
     "outputs": [...], "parameters": {"client_id", "feature_names": [...]}} or
    {"model_name", "request": {v2 request}, "response": {v2 response}, "client_id", "time"}.
    An input of shape [N] or [N, 1] is one feature per row (`feature.<name>`); [N, F] gives
    `feature.<name>_<j>` unless `parameters.feature_names` names the F columns. BYTES inputs named
    text / prompt / text_input / ... become `gen_ai.prompt`. Output [N, C] of floats: class
    probabilities (`inference.prediction` = argmax, `inference.probability` = max).
    """
    rec = _require_dict(record, "kserve-v2")
    if "request" in rec or "response" in rec:
        req, resp = rec.get("request") or {}, rec.get("response") or {}
    else:
        req = rec if "inputs" in rec else {}
        resp = rec if "outputs" in rec else {}
    if not isinstance(req, dict) or not isinstance(resp, dict):
        raise FormatError("kserve-v2: request and response must be objects")
    params = {}
    for p in (rec.get("parameters"), req.get("parameters")):
        if p is not None:
            if not isinstance(p, dict):
                raise FormatError("kserve-v2: parameters must be an object")
            params.update(p)
    model = (_str_field(rec, "model_name", "model", where="kserve-v2: ")
             or _str_field(resp, "model_name", where="kserve-v2: response.")
             or _str_field(params, "model_name", where="kserve-v2: parameters."))
    if model is None:
        raise FormatError("kserve-v2: missing model_name (record, response or parameters)")
    version = (_str_field(rec, "model_version", where="kserve-v2: ")
               or _str_field(resp, "model_version", where="kserve-v2: response."))
    inputs = req.get("inputs", [])
    outputs = resp.get("outputs", [])
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise FormatError("kserve-v2: inputs and outputs must be lists")
    if not inputs and not outputs:
        raise FormatError("kserve-v2: no inputs and no outputs")
    ins = [_v2_tensor(t, f"inputs[{i}]") for i, t in enumerate(inputs)]
    outs = [_v2_tensor(t, f"outputs[{i}]") for i, t in enumerate(outputs)]
    nrows = None
    for name, shape, _, _ in ins + outs:
        r, _ = _rows(shape)
        if nrows is None:
            nrows = r
        elif r != nrows:
            raise FormatError(f"kserve-v2: tensor {name} has batch size {r}, others {nrows}")
    nrows = nrows or 0
    if nrows == 0:
        raise FormatError("kserve-v2: empty batch")
    if nrows > MAX_ROWS:
        raise FormatError(f"kserve-v2: batch of {nrows} rows over {MAX_ROWS}")
    fnames = params.get("feature_names")
    if fnames is not None and (not isinstance(fnames, list) or not all(isinstance(f, str) for f in fnames)):
        raise FormatError("kserve-v2: parameters.feature_names must be a list of strings")
    base: dict[str, Any] = {MODEL_NAME: model, PROTOCOL: "v2"}
    if version is not None:
        base[MODEL_VERSION] = version
    client_src = {k: v for k, v in params.items() if k in ("client_id", "api_key_id", "api_key", "client_ip", "user")}
    client_src.update({k: v for k, v in rec.items() if k in ("client_id", "api_key_id", "api_key", "client_ip")})
    _client_attrs(client_src, base, llm=False, where="kserve-v2: ")
    rid = _str_field(req, "id", where="kserve-v2: request.") or _str_field(resp, "id", where="kserve-v2: response.")
    if rid is not None:
        base["request.id"] = rid
    if rec.get("latency_ms") is not None:
        base[LATENCY_MS] = _number(rec["latency_ms"], "latency_ms")
    t = record_time(rec.get("time", rec.get("timestamp", params.get("time"))))
    endpoint = _str_field(rec, "endpoint", where="kserve-v2: ") or model
    rec_hash = stable_id(rec)
    events = []
    for row in range(nrows):
        attrs = dict(base)
        value = None
        for name, shape, dt, flat in ins:
            _, per = _rows(shape)
            vals = flat[row * per:(row + 1) * per]
            if dt == "BYTES" and name.lower() in _TEXT_INPUTS:
                _prompt_attrs("\n".join(vals), attrs)
                attrs[REQUEST_MODEL] = model
                continue
            if per == 1:
                attrs[FEATURE_PREFIX + name] = vals[0]
            else:
                names = fnames if (fnames is not None and len(fnames) == per and len(ins) == 1) else \
                    [f"{name}_{j}" for j in range(per)]
                for fn, v in zip(names, vals):
                    attrs[FEATURE_PREFIX + fn] = v
        for name, shape, dt, flat in outs:
            _, per = _rows(shape)
            vals = flat[row * per:(row + 1) * per]
            if dt == "BYTES":
                if name.lower() in ("text_output", "output", "generated_text", "completion"):
                    _prompt_attrs("\n".join(vals), attrs, "gen_ai.completion")
                else:
                    attrs["output." + name] = vals[0] if per == 1 else list(vals)
            elif per == 1:
                attrs["output." + name] = vals[0]
                if value is None and not isinstance(vals[0], bool):
                    value = _float(vals[0]) if math.isfinite(_float(vals[0])) else None
                    attrs.setdefault(PREDICTION, vals[0])
            elif dt.startswith("FP") or dt == "BF16":
                j = max(range(per), key=lambda k: vals[k])
                attrs[PREDICTION] = j
                attrs[PROBABILITY] = _float(vals[j])
                attrs[f"output.{name}"] = [_float(v) for v in vals]
                value = _float(vals[j]) if math.isfinite(_float(vals[j])) else None
            else:
                attrs[f"output.{name}"] = list(vals)
        events.append(Event.create(source=source, kind="inference", entity=endpoint,
                                   name="inference.request", time=t, value=value, attributes=attrs,
                                   raw=f"{rec_hash}:{row}"))
    return events


@input_format("oip-v2", detect=None, description="alias of kserve-v2 (Open Inference Protocol v2)")
def parse_oip(record: Any, source: str) -> list[Event]:
    """Alias of kserve-v2."""
    return parse_kserve(record, source)


# ---------------------------------------------------------------------------------------------
# KServe v1 protocol: {"instances": [...]} -> {"predictions": [...]}

def _v1_parts(rec: dict) -> tuple[Any, Any]:
    req = rec.get("request") if isinstance(rec.get("request"), dict) else rec
    resp = rec.get("response") if isinstance(rec.get("response"), dict) else rec
    return req.get("instances"), resp.get("predictions")


def detect_kserve_v1(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    instances, predictions = _v1_parts(record)
    return isinstance(instances, list) or isinstance(predictions, list)


def _v1_instance(inst: Any, fnames: list | None, attrs: dict) -> None:
    if isinstance(inst, dict):
        _features(inst, attrs)
    elif isinstance(inst, list):
        if fnames is not None and len(fnames) == len(inst):
            _features(dict(zip(fnames, inst)), attrs)
        else:
            _features(inst, attrs)
    else:
        _features({"x": inst}, attrs)


def _v1_prediction(pred: Any, attrs: dict) -> float | None:
    """Sets the prediction attributes of one row; returns the event's value."""
    if isinstance(pred, bool) or isinstance(pred, str):
        attrs[PREDICTION] = pred
        return None
    if isinstance(pred, (int, float)):
        attrs[PREDICTION] = pred
        f = _float(pred)
        return f if math.isfinite(f) else None
    if isinstance(pred, list) and pred and all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pred):
        probs = [_float(p) for p in pred]
        j = max(range(len(probs)), key=lambda k: probs[k])
        attrs[PREDICTION], attrs[PROBABILITY] = j, probs[j]
        attrs["output.predictions"] = probs
        return probs[j] if math.isfinite(probs[j]) else None
    if isinstance(pred, dict):
        _features(pred, scratch := {})
        attrs.update({"output." + k[len(FEATURE_PREFIX):]: v for k, v in scratch.items()})
        return None
    raise FormatError(f"kserve-v1: a prediction must be a number, string, list of numbers or object, "
                      f"got {type(pred).__name__}")


@input_format("kserve-v1", detect=detect_kserve_v1,
              description="KServe v1 protocol request and/or response (instances, predictions)")
def parse_kserve_v1(record: Any, source: str) -> list[Event]:
    """KServe v1: `{"instances": [...]}` and/or `{"predictions": [...]}` (flat, or under `request` /
    `response`), with `model_name` (or `model`), `time`, `client_id`, `parameters.feature_names`.
    One event per row; a bare answer without a model name is attributed to model `unknown`."""
    rec = _require_dict(record, "kserve-v1")
    instances, predictions = _v1_parts(rec)
    for name, v in (("instances", instances), ("predictions", predictions)):
        if v is not None and not isinstance(v, list):
            raise FormatError(f"kserve-v1: {name} must be a list, got {type(v).__name__}")
    if not instances and not predictions:
        raise FormatError("kserve-v1: no instances and no predictions")
    if instances and predictions and len(instances) != len(predictions):
        raise FormatError(f"kserve-v1: {len(instances)} instances but {len(predictions)} predictions")
    nrows = len(instances or predictions)
    if nrows > MAX_ROWS:
        raise FormatError(f"kserve-v1: batch of {nrows} rows over {MAX_ROWS}")
    params = rec.get("parameters") or {}
    if not isinstance(params, dict):
        raise FormatError("kserve-v1: parameters must be an object")
    fnames = params.get("feature_names")
    if fnames is not None and (not isinstance(fnames, list) or not all(isinstance(f, str) for f in fnames)):
        raise FormatError("kserve-v1: parameters.feature_names must be a list of strings")
    model = _str_field(rec, "model_name", "model", where="kserve-v1: ")
    base: dict[str, Any] = {MODEL_NAME: model or "unknown", PROTOCOL: "v1"}
    if model is None:
        base["warden.model_source"] = "missing"
    version = _str_field(rec, "model_version", where="kserve-v1: ")
    if version is not None:
        base[MODEL_VERSION] = version
    _client_attrs(rec, base, llm=False, where="kserve-v1: ")
    if rec.get("latency_ms") is not None:
        base[LATENCY_MS] = _number(rec["latency_ms"], "latency_ms")
    t = record_time(rec.get("time", rec.get("timestamp")))
    endpoint = _str_field(rec, "endpoint", where="kserve-v1: ") or base[MODEL_NAME]
    rec_hash = stable_id(rec)
    events = []
    for row in range(nrows):
        attrs = dict(base)
        if instances:
            _v1_instance(instances[row], fnames, attrs)
        value = _v1_prediction(predictions[row], attrs) if predictions else None
        events.append(Event.create(source=source, kind="inference", entity=endpoint,
                                   name="inference.request", time=t, value=value, attributes=attrs,
                                   raw=f"{rec_hash}:{row}"))
    return events
