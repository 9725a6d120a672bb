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

Formats: `warden-inference`, `openai-chat`; KServe's v1 and v2 shapes: collectors/inference/kserve.py.
"""
from __future__ import annotations

import hashlib
import math
import time as _time
from typing import Any, Iterable

from core.chat import INPUT_ROLES, INSTRUCTION_ROLES, content_text, read_messages
from core.event import Event
from core.names import (API_KEY_ID, CLIENT_ID, CLIENT_IP, FEATURE_PREFIX, LATENCY_MS, MODEL_NAME, MODEL_VERSION,
                         PREDICTION, PROBABILITY, PROMPT, REQUEST_MODEL, REQUEST_USER)
from core.times import TimeFormatError, parse_time
from collectors.formats import FormatError, input_format

#: prompts longer than this are clipped in the event (head and tail kept); the length is recorded
MAX_PROMPT_CHARS = 256 * 1024
MAX_FEATURES = 4096
MAX_ROWS = 100_000


# ---------------------------------------------------------------------------------------------
# shared helpers

def record_time(value: Any, default: float | None = None) -> float:
    """A record's time (core.times.parse_time): absent → `default`, else the current time; a
    value that is no time raises FormatError."""
    if value is None or value == "":
        return _time.time() if default is None else default
    try:
        return parse_time(value)
    except TimeFormatError as e:
        raise FormatError(str(e)) from None


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


def _prompt_attrs(text: Any, attrs: dict, name: str = PROMPT) -> None:
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
        attrs[CLIENT_ID] = cid
        if llm:
            attrs[REQUEST_USER] = cid
    end_user = _str_field(rec, "end_user", "enduser.id", where=where)
    if end_user is not None:   # the product's user (OpenTelemetry enduser.id), not the calling client
        attrs["enduser.id"] = end_user
    kid = _str_field(rec, "api_key_id", where=where)
    if kid is None:
        raw_key = _str_field(rec, "api_key", where=where)
        if raw_key is not None:
            kid = key_id(raw_key)
    if kid is not None:
        attrs[API_KEY_ID] = kid
    ip = _str_field(rec, "client_ip", "ip", where=where)
    if ip is not None:
        attrs[CLIENT_IP] = ip


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
            attrs[FEATURE_PREFIX + k] = v
        elif isinstance(v, (int, float)):
            f = _float(v)
            attrs[FEATURE_PREFIX + k] = f if math.isfinite(f) else None
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
    attrs: dict[str, Any] = {MODEL_NAME: model}
    if version is not None:
        attrs[MODEL_VERSION] = str(version)
    llm = "prompt" in rec
    if llm:
        attrs[REQUEST_MODEL] = model
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
        attrs[PREDICTION] = p
        if isinstance(p, (int, float)) and not isinstance(p, bool):
            value = _number(p, "prediction")
    if rec.get("probability") is not None:
        pr = _number(rec["probability"], "probability")
        if not 0.0 <= pr <= 1.0:
            raise FormatError(f"warden-inference: probability must be in [0, 1], got {pr}")
        attrs[PROBABILITY] = pr
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
        attrs[LATENCY_MS] = _number(rec["latency_ms"], "latency_ms")
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
    t = record_time(rec.get("time", rec.get("timestamp")))
    return [Event.create(source=source, kind="inference", entity=endpoint, name="inference.request",
                         time=t, value=value, attributes=attrs, raw=rec)]


# ---------------------------------------------------------------------------------------------
# OpenAI-style chat completions

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
    attrs[REQUEST_MODEL] = _str_field(req, "model") or model
    attrs[MODEL_NAME] = model
    if resp.get("model") is not None:
        attrs["gen_ai.response.model"] = _str_field(resp, "model", where="openai-chat: response.")
    if rec.get("model_version") is not None:
        attrs[MODEL_VERSION] = str(rec["model_version"])
    if req:
        msgs = read_messages(req.get("messages"), "openai-chat: request.messages", FormatError)
        user_parts = [m.text for m in msgs if m.role in INPUT_ROLES]
        system_parts = [m.text for m in msgs if m.role in INSTRUCTION_ROLES]
        attrs["gen_ai.request.message_count"] = len(msgs)
        _prompt_attrs("\n".join(user_parts), attrs)
        if system_parts:
            attrs["gen_ai.system_prompt.length"] = sum(len(s) for s in system_parts)
        for k in ("temperature", "top_p", "max_tokens", "max_completion_tokens"):
            if req.get(k) is not None:
                attrs[f"gen_ai.request.{k}"] = _number(req[k], k)
    # client: record-level fields first, then the request's `user`
    _client_attrs(rec, attrs, llm=True, where="openai-chat: ")
    if CLIENT_ID not in attrs and req.get("user") is not None:
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
                first = content_text(msg.get("content"), f"openai-chat: choices[{i}]", FormatError)
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
        attrs[LATENCY_MS] = _number(rec["latency_ms"], "latency_ms")
    rid = _str_field(rec, "request_id", where="openai-chat: ")
    if rid is not None:
        attrs["request.id"] = rid
    t = record_time(rec.get("time", rec.get("timestamp", resp.get("created"))))
    endpoint = _str_field(rec, "endpoint", where="openai-chat: ") or model
    return [Event.create(source=source, kind="inference", entity=endpoint, name="gen_ai.chat",
                         time=t, attributes=attrs, raw=rec)]
