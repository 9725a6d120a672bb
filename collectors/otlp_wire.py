"""OTLP/HTTP on the wire: request bodies decoded (protobuf, or the OTLP JSON mapping with hex
trace / span ids), and the `google.rpc.Status` error body encoded (collectors.otlp)."""
from __future__ import annotations

import base64
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from core import json_slices

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class BadRequest(Exception):
    """A request the receiver answers with `status` and the reason (and dead-letters)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_request(body: bytes, cls, is_json: bool) -> Message:
    """An Export*ServiceRequest from a (decompressed) body; BadRequest (400) when undecodable."""
    msg = cls()
    try:
        if is_json:
            try:
                obj = json_slices.loads(body)
            except orjson.JSONDecodeError as e:
                raise BadRequest(400, f"invalid JSON: {e}") from None
            if not isinstance(obj, dict):
                raise BadRequest(400, f"invalid OTLP JSON: expected an object, got {type(obj).__name__}")
            json_format.ParseDict(hex_ids_to_base64(obj), msg, ignore_unknown_fields=True)
        else:
            msg.ParseFromString(body)
    except BadRequest:
        raise
    except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as e:
        what = "JSON" if is_json else "protobuf"
        raise BadRequest(400, f"undecodable OTLP {what} {cls.__name__}: {str(e)[:300] or type(e).__name__}") from None
    return msg


def hex_ids_to_base64(obj: Any) -> Any:
    """OTLP JSON encodes trace/span ids as hex; protobuf's JSON mapping expects base64 for bytes."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("traceId", "spanId", "trace_id", "span_id") and isinstance(v, str):
                try:
                    obj[k] = base64.b64encode(bytes.fromhex(v)).decode("ascii")
                except ValueError:
                    raise BadRequest(400, f"invalid {k} {v[:40]!r}: expected hex") from None
            else:
                hex_ids_to_base64(v)
    elif isinstance(obj, list):
        for v in obj:
            hex_ids_to_base64(v)
    return obj


def status_body(code: int, message: str, json: bool) -> tuple[bytes, str]:
    """google.rpc.Status {code, message}, hand-encoded (no googleapis-common-protos dependency)."""
    if json:
        return orjson.dumps({"code": code, "message": message}), JSON
    msg = message.encode("utf-8")
    out = bytearray(b"\x08")
    _varint(out, code)
    out += b"\x12"
    _varint(out, len(msg))
    out += msg
    return bytes(out), PROTOBUF


def _varint(out: bytearray, n: int) -> None:
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return
