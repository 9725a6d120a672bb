"""Inference-traffic record formats: warden's generic record, OpenAI-style chat, KServe / OIP v2.

Every record becomes `Event(kind="inference")` whose entity is the endpoint (the model name), with:

- `model.name`, `model.version` (and `gen_ai.request.model` / `gen_ai.response.model` for LLMs)
- `client.id` (and `gen_ai.request.user` for LLM traffic), `api_key.id` (a hash of the API key
  unless the record gives a key id: raw keys never enter events), `client.ip`, `request.id`
- `feature.<name>` for tabular features (numbers, strings, booleans)
- `gen_ai.prompt` (text screened by the guard), `gen_ai.prompt.length` (characters before any
  clipping), `gen_ai.prompt.truncated`, `gen_ai.completion`,
  `gen_ai.usage.input_tokens` / `gen_ai.usage.output_tokens`, `gen_ai.response.finish_reasons`
- `inference.prediction`, `inference.probability`, `inference.latency_ms`, `output.<name>`

Ids are stable: `Event.create(raw=...)` over the record (plus the row number for batched KServe
requests). Bad records raise FormatError with the reason.

Formats: `warden-inference`, `openai-chat`, `kserve-v2` (alias `oip-v2`).
"""
from __future__ import annotations

import hashlib
import math
import time as _time
from typing import Any, Iterable

from agent.event import Event, stable_id
from collectors.formats import FormatError, input_format, iso_to_epoch

#: prompts longer than this are clipped in the event (head and tail kept); the length is recorded
MAX_PROMPT_CHARS = 256 * 1024
MAX_FEATURES = 4096
MAX_ROWS = 100_000


# ---------------------------------------------------------------------------------------------
# shared helpers

def parse_time(value: Any, default: float | None = None) -> float:
    """Epoch seconds (or ms / µs / ns, by magnitude) or an ISO-8601 string -> float seconds."""
    if value is None or value == "":
        return _time.time() if default is None else default
    if isinstance(value, bool):
        raise FormatError(f"invalid time {value!r}")
    if isinstance(value, (int, float)):
        v = _float(value)
        if not math.isfinite(v) or v < 0:
            raise FormatError(f"invalid time {value!r}")
        while v > 1e11:  # ms, µs, ns
            v /= 1000.0
        return v
    if isinstance(value, str):
        s = value.strip()
        try:
            return parse_time(float(s))
        except ValueError:
            pass
        try:
            return iso_to_epoch(s)
        except ValueError:
            raise FormatError(f"invalid time {value!r}: expected epoch seconds or ISO-8601") from None
    raise FormatError(f"invalid time {value!r}: expected epoch seconds or ISO-8601")


def _float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def key_id(api_key: str) -> str:
    """The id under which an API key appears in events (a short hash: raw keys never do)."""
    return "k-" + hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _str_field(rec: dict, *names: str, where: str = "") -> str | None:
    for n in names:
        v = rec.get(n)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise FormatError(f"{where}{n} must be a string, got {type(v).__name__}")
        v = str(v)
        if v:
            return v
    return None


def _number(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise FormatError(f"{name} must be a number, got {type(v).__name__}")
    f = _float(v)
    if not math.isfinite(f):
        raise FormatError(f"{name} must be finite, got {v!r}")
    return f


def _count(v: Any, name: str) -> int:
    f = _number(v, name)
    if f < 0 or f != int(f):
        raise FormatError(f"{name} must be a non-negative integer, got {v!r}")
    return int(f)


def _prompt_attrs(text: Any, attrs: dict, name: str = "gen_ai.prompt") -> None:
    if text is None:
        return
    if not isinstance(text, str):
        raise FormatError(f"{name} must be a string, got {type(text).__name__}")
    attrs[name + ".length"] = len(text)
    if len(text) > MAX_PROMPT_CHARS:
        half = MAX_PROMPT_CHARS // 2
        text = text[:half] + "\n…\n" + text[-half:]
        attrs[name + ".truncated"] = True
    attrs[name] = text


def _client_attrs(rec: dict, attrs: dict, *, llm: bool, where: str = "") -> None:
    cid = _str_field(rec, "client_id", "client", "user", where=where)
    if cid is not None:
        attrs["client.id"] = cid
        if llm:
            attrs["gen_ai.request.user"] = cid
    end_user = _str_field(rec, "end_user", "enduser.id", where=where)
    if end_user is not None:   # the product's user (OpenTelemetry enduser.id), not the calling client
        attrs["enduser.id"] = end_user
    kid = _str_field(rec, "api_key_id", where=where)
    if kid is None:
        raw_key = _str_field(rec, "api_key", where=where)
        if raw_key is not None:
            kid = key_id(raw_key)
    if kid is not None:
        attrs["api_key.id"] = kid
    ip = _str_field(rec, "client_ip", "ip", where=where)
    if ip is not None:
        attrs["client.ip"] = ip


def _features(feats: Any, attrs: dict) -> None:
    if feats is None:
        return
    if isinstance(feats, dict):
        items: Iterable = feats.items()
        if len(feats) > MAX_FEATURES:
            raise FormatError(f"too many features ({len(feats)} > {MAX_FEATURES})")
    elif isinstance(feats, list):
        if len(feats) > MAX_FEATURES:
            raise FormatError(f"too many features ({len(feats)} > {MAX_FEATURES})")
        items = ((f"f{i}", v) for i, v in enumerate(feats))
    else:
        raise FormatError(f"features must be a mapping of name -> value or a list, got {type(feats).__name__}")
    for k, v in items:
        if not isinstance(k, str) or not k:
            raise FormatError(f"feature names must be non-empty strings, got {k!r}")
        if v is None or isinstance(v, (bool, str)):
            attrs["feature." + k] = v
        elif isinstance(v, (int, float)):
            f = _float(v)
            attrs["feature." + k] = f if math.isfinite(f) else None
        else:
            raise FormatError(f"feature {k!r} must be a number, string, boolean or null, got {type(v).__name__}")


def _require_dict(record: Any, fmt: str) -> dict:
    if not isinstance(record, dict):
        raise FormatError(f"{fmt}: record must be a JSON object, got {type(record).__name__}")
    return record


# ---------------------------------------------------------------------------------------------
# warden generic inference record

def detect_warden(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if record.get("schema") == "warden.inference":
        return True
    if "messages" in record or "inputs" in record or "outputs" in record or "choices" in record:
        return False
    return "model" in record and any(k in record for k in ("features", "prompt", "prediction", "output"))


@input_format("warden-inference", detect=detect_warden,
              description="warden generic inference record (model, client, features or prompt, output)")
def parse_warden(record: Any, source: str) -> list[Event]:
    """warden generic inference record.

    {"schema": "warden.inference", "time": ..., "model": "fraud", "model_version": "3",
     "endpoint": "optional, defaults to model", "client_id": "...", "api_key" | "api_key_id": "...",
     "features": {"amount": 12.5, "country": "FR"} | "prompt": "text",
     "prediction": "fraud" | 0.7, "probability": 0.93, "output": "text or number",
     "latency_ms": 12.0, "input_tokens": 10, "output_tokens": 3, "request_id": "..."}
    """
    rec = _require_dict(record, "warden-inference")
    model = rec.get("model")
    if isinstance(model, dict):  # {"name": ..., "version": ...}
        version = model.get("version")
        model = model.get("name")
    else:
        version = rec.get("model_version", rec.get("version"))
    if not isinstance(model, str) or not model:
        raise FormatError("warden-inference: missing model name ('model')")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (str, int, float))):
        raise FormatError("warden-inference: model_version must be a string or number")
    if not any(k in rec for k in ("features", "prompt", "prediction", "output")):
        raise FormatError("warden-inference: record has none of features, prompt, prediction, output")
    endpoint = _str_field(rec, "endpoint", where="warden-inference: ") or model
    attrs: dict[str, Any] = {"model.name": model}
    if version is not None:
        attrs["model.version"] = str(version)
    llm = "prompt" in rec
    if llm:
        attrs["gen_ai.request.model"] = model
    _client_attrs(rec, attrs, llm=llm, where="warden-inference: ")
    rid = _str_field(rec, "request_id", "id", where="warden-inference: ")
    if rid is not None:
        attrs["request.id"] = rid
    _features(rec.get("features"), attrs)
    _prompt_attrs(rec.get("prompt"), attrs)
    value = None
    if "prediction" in rec and rec["prediction"] is not None:
        p = rec["prediction"]
        if isinstance(p, (dict, list)):
            raise FormatError("warden-inference: prediction must be a class label or a number")
        attrs["inference.prediction"] = p
        if isinstance(p, (int, float)) and not isinstance(p, bool):
            value = _number(p, "prediction")
    if rec.get("probability") is not None:
        pr = _number(rec["probability"], "probability")
        if not 0.0 <= pr <= 1.0:
            raise FormatError(f"warden-inference: probability must be in [0, 1], got {pr}")
        attrs["inference.probability"] = pr
        if value is None:
            value = pr
    out = rec.get("output")
    if out is not None:
        if isinstance(out, str):
            _prompt_attrs(out, attrs, "gen_ai.completion")
        elif isinstance(out, (int, float)) and not isinstance(out, bool):
            attrs["output.value"] = _number(out, "output")
            if value is None:
                value = attrs["output.value"]
        elif isinstance(out, dict):
            for k, v in out.items():
                if isinstance(v, (int, float, str, bool)) or v is None:
                    attrs[f"output.{k}"] = v
                else:
                    raise FormatError(f"warden-inference: output.{k} must be a scalar")
        else:
            raise FormatError("warden-inference: output must be text, a number or a mapping of scalars")
    if rec.get("latency_ms") is not None:
        attrs["inference.latency_ms"] = _number(rec["latency_ms"], "latency_ms")
    tokens = rec.get("tokens")
    if isinstance(tokens, dict):
        itok, otok = tokens.get("input"), tokens.get("output")
    elif tokens is None:
        itok, otok = rec.get("input_tokens"), rec.get("output_tokens")
    else:
        raise FormatError("warden-inference: tokens must be {input, output}")
    if itok is not None:
        attrs["gen_ai.usage.input_tokens"] = _count(itok, "input_tokens")
    if otok is not None:
        attrs["gen_ai.usage.output_tokens"] = _count(otok, "output_tokens")
    t = parse_time(rec.get("time", rec.get("timestamp")))
    return [Event.create(source=source, kind="inference", entity=endpoint, name="inference.request",
                         time=t, value=value, attributes=attrs, raw=rec)]


# ---------------------------------------------------------------------------------------------
# OpenAI-style chat completions

def _content_text(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict):
                if p.get("type", "text") in ("text", "input_text"):
                    t = p.get("text", "")
                    if not isinstance(t, str):
                        raise FormatError(f"{where}: text part must be a string")
                    parts.append(t)
            else:
                raise FormatError(f"{where}: content parts must be objects")
        return "\n".join(parts)
    raise FormatError(f"{where}: content must be a string or a list of parts, got {type(content).__name__}")


def detect_openai(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    req, resp = record.get("request"), record.get("response")
    if isinstance(req, dict) and isinstance(req.get("messages"), list):
        return True
    if isinstance(resp, dict) and isinstance(resp.get("choices"), list):
        return True
    return isinstance(record.get("messages"), list) or (
        isinstance(record.get("choices"), list) and "inputs" not in record)


@input_format("openai-chat", detect=detect_openai,
              description="OpenAI-style chat completion: request messages, response choices, usage")
def parse_openai(record: Any, source: str) -> list[Event]:
    """OpenAI-style chat completion request and/or response.

    Either {"request": {model, messages, user, ...}, "response": {id, model, created, choices, usage},
    "client_id", "api_key_id", "time", "latency_ms", "endpoint"} or a bare request or a bare response.
    """
    rec = _require_dict(record, "openai-chat")
    if "request" in rec or "response" in rec:
        req, resp = rec.get("request") or {}, rec.get("response") or {}
    elif "messages" in rec:
        req, resp = rec, {}
    elif "choices" in rec:
        req, resp = {}, rec
    else:
        raise FormatError("openai-chat: no request messages and no response choices")
    if not isinstance(req, dict) or not isinstance(resp, dict):
        raise FormatError("openai-chat: request and response must be objects")
    if not req and not resp:
        raise FormatError("openai-chat: empty request and response")
    attrs: dict[str, Any] = {"gen_ai.system": "openai", "gen_ai.operation.name": "chat"}
    model = _str_field(req, "model", where="openai-chat: request.") or _str_field(
        resp, "model", where="openai-chat: response.")
    if model is None:
        model = _str_field(rec, "model", where="openai-chat: ")
    if model is None:
        raise FormatError("openai-chat: missing model (request.model or response.model)")
    attrs["gen_ai.request.model"] = _str_field(req, "model") or model
    attrs["model.name"] = model
    if resp.get("model") is not None:
        attrs["gen_ai.response.model"] = _str_field(resp, "model", where="openai-chat: response.")
    if rec.get("model_version") is not None:
        attrs["model.version"] = str(rec["model_version"])
    if req:
        msgs = req.get("messages")
        if not isinstance(msgs, list):
            raise FormatError("openai-chat: request.messages must be a list")
        user_parts, system_parts = [], []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise FormatError(f"openai-chat: messages[{i}] must be an object")
            role = m.get("role")
            if not isinstance(role, str):
                raise FormatError(f"openai-chat: messages[{i}].role missing")
            text = _content_text(m.get("content"), f"openai-chat: messages[{i}]")
            if role in ("user", "tool", "function"):
                user_parts.append(text)
            elif role in ("system", "developer"):
                system_parts.append(text)
        attrs["gen_ai.request.message_count"] = len(msgs)
        _prompt_attrs("\n".join(user_parts), attrs)
        if system_parts:
            attrs["gen_ai.system_prompt.length"] = sum(len(s) for s in system_parts)
        for k in ("temperature", "top_p", "max_tokens", "max_completion_tokens"):
            if req.get(k) is not None:
                attrs[f"gen_ai.request.{k}"] = _number(req[k], k)
    # client: record-level fields first, then the request's `user`
    _client_attrs(rec, attrs, llm=True, where="openai-chat: ")
    if "client.id" not in attrs and req.get("user") is not None:
        _client_attrs({"user": req["user"]}, attrs, llm=True, where="openai-chat: request.")
    if resp:
        choices = resp.get("choices", [])
        if not isinstance(choices, list):
            raise FormatError("openai-chat: response.choices must be a list")
        reasons, first = [], None
        for i, c in enumerate(choices):
            if not isinstance(c, dict):
                raise FormatError(f"openai-chat: choices[{i}] must be an object")
            fr = c.get("finish_reason")
            if fr is not None:
                reasons.append(str(fr))
            msg = c.get("message") or c.get("delta") or {}
            if not isinstance(msg, dict):
                raise FormatError(f"openai-chat: choices[{i}].message must be an object")
            if first is None:
                first = _content_text(msg.get("content"), f"openai-chat: choices[{i}]")
        attrs["gen_ai.response.finish_reasons"] = reasons
        if first is not None:
            _prompt_attrs(first, attrs, "gen_ai.completion")
        if resp.get("id") is not None:
            attrs["gen_ai.response.id"] = str(resp["id"])
        usage = resp.get("usage")
        if usage is not None:
            if not isinstance(usage, dict):
                raise FormatError("openai-chat: usage must be an object")
            itok = usage.get("prompt_tokens", usage.get("input_tokens"))
            otok = usage.get("completion_tokens", usage.get("output_tokens"))
            if itok is not None:
                attrs["gen_ai.usage.input_tokens"] = _count(itok, "usage.prompt_tokens")
            if otok is not None:
                attrs["gen_ai.usage.output_tokens"] = _count(otok, "usage.completion_tokens")
    if rec.get("latency_ms") is not None:
        attrs["inference.latency_ms"] = _number(rec["latency_ms"], "latency_ms")
    rid = _str_field(rec, "request_id", where="openai-chat: ")
    if rid is not None:
        attrs["request.id"] = rid
    t = parse_time(rec.get("time", rec.get("timestamp", resp.get("created"))))
    endpoint = _str_field(rec, "endpoint", where="openai-chat: ") or model
    return [Event.create(source=source, kind="inference", entity=endpoint, name="gen_ai.chat",
                         time=t, attributes=attrs, raw=rec)]


# ---------------------------------------------------------------------------------------------
# KServe / Open Inference Protocol v2

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
    """(rows, values per row): the first dimension is the batch when there are >= 2 dims."""
    if len(shape) == 1:
        return 1, shape[0]
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
    base: dict[str, Any] = {"model.name": model, "inference.protocol": "v2"}
    if version is not None:
        base["model.version"] = version
    client_src = {k: v for k, v in params.items() if k in ("client_id", "api_key_id", "api_key", "client_ip", "user")}
    client_src.update({k: v for k, v in rec.items() if k in ("client_id", "api_key_id", "api_key", "client_ip")})
    _client_attrs(client_src, base, llm=False, where="kserve-v2: ")
    rid = _str_field(req, "id", where="kserve-v2: request.") or _str_field(resp, "id", where="kserve-v2: response.")
    if rid is not None:
        base["request.id"] = rid
    if rec.get("latency_ms") is not None:
        base["inference.latency_ms"] = _number(rec["latency_ms"], "latency_ms")
    t = parse_time(rec.get("time", rec.get("timestamp", params.get("time"))))
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
                attrs["gen_ai.request.model"] = model
                continue
            if per == 1:
                attrs["feature." + name] = vals[0]
            else:
                names = fnames if (fnames is not None and len(fnames) == per and len(ins) == 1) else \
                    [f"{name}_{j}" for j in range(per)]
                for fn, v in zip(names, vals):
                    attrs["feature." + fn] = v
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
                    attrs.setdefault("inference.prediction", vals[0])
            elif dt.startswith("FP") or dt == "BF16":
                j = max(range(per), key=lambda k: vals[k])
                attrs["inference.prediction"] = j
                attrs["inference.probability"] = _float(vals[j])
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
