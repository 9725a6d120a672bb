"""Hostile inputs: generated (hypothesis) and hand-picked classes.

Generated: JSON values of every shape (hypothesis `recursive`), raw bytes, and the scenario's real
records with one field replaced by a value of the wrong type or a hostile one (`mutants`).
Hand-picked: deep nesting, huge numbers, broken UTF-8, gzip bombs and broken gzip, NaN/Infinity,
huge strings and arrays, duplicate keys, protocol-level junk (bad Content-Length, chunked lies,
oversized heads, non-HTTP bytes), unknown routes and wrong methods.
"""
from __future__ import annotations

import functools
import gzip
import json
import zlib
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, settings, strategies as st


@dataclass
class Attack:
    kind: str                               # the input class (reported per class)
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    raw: bytes | None = None                # sent on a bare socket as is (protocol junk)


def draw(strategy, n: int, seed: int) -> list[Any]:
    """`n` examples of a hypothesis strategy, reproducibly (hypothesis drives, we collect)."""
    out: list[Any] = []

    @settings(max_examples=n, database=None, deadline=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy, st.just(seed))
    def collect(x, _seed):
        out.append(x)
    collect()
    return out[:n]


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10 ** 60), max_value=10 ** 60)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=60))
JSON = st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=6) | st.dictionaries(st.text(max_size=12), c, max_size=6),
                    max_leaves=40)


def dumps(v: Any) -> bytes:
    return json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")


HOSTILE_VALUES: list[Any] = [None, True, 0, -1, 2 ** 64, -(2 ** 63) - 1, 10 ** 400, 1e308, -0.0, "", "\u0000",
                             "\ud800", "a" * 100_000, [], {}, [[[[[]]]]], {"": {"": {}}}, ["x"] * 5000,
                             "2026-13-45T99:99:99Z", "../../etc/passwd", "<script>", "' OR 1=1 --", 3.14, "NaN"]


def _paths(v: Any, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v[:5]):
            out += _paths(x, prefix + (i,))
    return out


def mutate(rec: Any, rng: random.Random) -> Any:
    """A deep copy of `rec` with one field (or the whole) replaced by a hostile value, or deleted."""
    rec = json.loads(json.dumps(rec))
    path = rng.choice(_paths(rec))
    value = rng.choice(HOSTILE_VALUES)
    if not path:
        return value
    parent = rec
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return rec


def mutants(seeds: list[Any], n: int, seed: int) -> list[Any]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rec = rng.choice(seeds)
        for _ in range(rng.choice((1, 1, 2, 3))):
            rec = mutate(rec, rng)
        out.append(rec)
    return out


def deep(n: int, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * n + b"]" * n
    if kind == "dict":
        return b'{"a":' * n + b"1" + b"}" * n
    return b"[" * n                                           # never closed


@functools.lru_cache(maxsize=None)
def gzip_bomb(decoded_bytes: int, fill: bytes = b"\0") -> bytes:
    """gzip of `decoded_bytes` of `fill`, compressed in 1 MiB steps (never held decoded)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = fill * (1 << 20)
    out = [z.compress(chunk) for _ in range(decoded_bytes >> 20)]
    return b"".join(out) + z.flush()


HAND_BODIES: list[tuple[str, Callable[[], bytes], dict[str, str]]] = [
    ("deep nesting 1k", lambda: deep(1000), {}),
    ("deep nesting 100k", lambda: deep(100_000), {}),
    ("deep nesting dict 5k", lambda: deep(5000, "dict"), {}),
    ("deep nesting unclosed", lambda: deep(200_000, "open"), {}),
    ("huge number", lambda: b'{"value": ' + b"9" * 5000 + b"}", {}),
    ("huge exponent", lambda: b'{"value": 1e99999, "time": -1e400}', {}),
    ("NaN literal", lambda: b'{"value": NaN, "time": Infinity}', {}),
    ("broken UTF-8", lambda: b'{"prompt": "\xff\xfe\xc3\x28"}', {}),
    ("overlong UTF-8", lambda: b'{"prompt": "\xc0\xaf\xe0\x80\xaf"}', {}),
    ("lone surrogate escape", lambda: b'{"prompt": "\\ud800\\udc00\\udfff"}', {}),
    ("NUL bytes", lambda: b'{"prompt": "a\x00b"}\x00', {}),
    ("BOM", lambda: b"\xef\xbb\xbf{}", {}),
    ("duplicate keys", lambda: b'{"a": 1, "a": {"b": 2}, "a": [3]}', {}),
    ("huge string", lambda: b'{"prompt": "' + b"A" * 3_000_000 + b'"}', {}),
    ("huge array", lambda: b"[" + b"{}," * 300_000 + b"{}]", {}),
    ("empty body", lambda: b"", {}),
    ("whitespace body", lambda: b" \n\t\r\n", {}),
    ("ndjson broken lines", lambda: b'{"a":1}\n{broken\n\xff\n[]\n', {"Content-Type": "application/x-ndjson"}),
    ("gzip bomb 1 GB", lambda: gzip_bomb(1 << 30), {"Content-Encoding": "gzip"}),
    ("gzip bomb 64 MB", lambda: gzip_bomb(64 << 20), {"Content-Encoding": "gzip"}),
    ("nested gzip", lambda: gzip.compress(gzip.compress(b"{}" * 1000)), {"Content-Encoding": "gzip"}),
    ("broken gzip", lambda: b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
    ("truncated gzip", lambda: gzip.compress(b'{"a": 1}' * 100)[:-20], {"Content-Encoding": "gzip"}),
    ("gzip claimed, plain sent", lambda: b'{"a": 1}', {"Content-Encoding": "gzip"}),
    ("unknown encoding", lambda: b'{"a": 1}', {"Content-Encoding": "br"}),
    ("deflate junk", lambda: b"\x78\x9c junk", {"Content-Encoding": "deflate"}),
    ("wrong content type", lambda: b"<xml/>", {"Content-Type": "application/xml"}),
    ("protobuf junk", lambda: bytes(range(256)) * 8, {"Content-Type": "application/x-protobuf"}),
    ("content type junk", lambda: b"{}", {"Content-Type": "\x7f;;;charset=nope"}),
]


def protocol_junk(path: str, token: str) -> list[tuple[str, bytes]]:
    auth = f"Authorization: Bearer {token}\r\n".encode()
    p = path.encode()
    return [
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200)),
        ("bare CRLF", b"\r\n\r\n\r\n"),
        ("negative Content-Length", b"POST " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: -5\r\n\r\n"),
        ("huge Content-Length", b"POST " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 99999999999999999999\r\n\r\n"),
        ("two Content-Lengths", b"POST " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}"),
        ("chunked lie", b"POST " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\nfffffffff\r\nab\r\n"),
        ("chunked and length", b"POST " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth +
         b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        ("oversized head", b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"X-Pad: " + b"a" * 200_000 + b"\r\n\r\n"),
        ("many headers", b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"X-A: b\r\n" * 5000 + b"\r\n"),
        ("long URL", b"GET " + p + b"?" + b"a=b&" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"),
        ("bad percent-encoding", b"GET " + p + b"/%zz%ff%00 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"),
        ("non-ASCII target", b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"),
        ("HTTP/0.9", b"GET " + p + b"\r\n"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("bad method token", b"G\x00T " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header injection", b"GET " + p + b" HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n"),
        ("pipelined junk", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + b"\x00" * 100),
        ("upgrade websocket", b"GET " + p + b" HTTP/1.1\r\nHost: x\r\n" + auth +
         b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: x\r\n\r\n"),
    ]
