"""The ASGI stack's surface: HEAD, WWW-Authenticate, scopes, gzip bodies and bombs, body limits
checked while reading, deadlines for slow heads and bodies, OpenAPI, liveness vs readiness, the
secure default, and 200 half-sent requests plus a flood from other addresses that do not stop a
good client."""
from __future__ import annotations

import gzip
import socket
import threading

import pytest
import requests

from core.counters import Counters
from core.errors import ConfigError
from agent.http.server import HttpServer
from core.http import Request, Response

TOKEN = "all-scopes-token-0123456789"
INGEST = "ingest-only-token-0123456789"


def echo(req: Request) -> Response:
    """Echo the body's size."""
    return Response.json({"n": len(req.body), "enc": req.headers.get("content-encoding")})


@pytest.fixture
def server(serve):
    return lambda **kw: serve({("POST", "/v1/ingest"): echo, ("POST", "/v1/guard"): echo,
                               ("GET", "/api/things/{id}"): lambda r: Response.json(r.path_params),
                               ("DELETE", "/api/things/{id}"): lambda r: Response.json({})}, **kw)


def url(s, path):
    host, port = s.address
    return f"http://{host}:{port}{path}"


def auth(t=TOKEN):
    return {"Authorization": f"Bearer {t}"}


def test_requests_are_counted_by_route_template_and_code(server):
    s = server(token=TOKEN)
    requests.get(url(s, "/api/things/42"), headers=auth())
    requests.get(url(s, "/no/such/thing"), headers=auth())
    text = requests.get(url(s, "/metrics"), headers=auth()).text
    assert 'warden_http_requests_total{code="200",method="GET",route="/api/things/{id}"}' in text
    assert 'route="unmatched"' in text and "/no/such/thing" not in text       # no path-cardinality explosion
    assert 'warden_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/things/{id}"}' in text


def test_head_answers_headers_without_a_body(server):
    s = server(token=TOKEN)
    g = requests.get(url(s, "/api/things/7"), headers=auth())
    h = requests.head(url(s, "/api/things/7"), headers=auth())
    assert h.status_code == 200 and h.content == b""
    assert h.headers["Content-Length"] == g.headers["Content-Length"] == str(len(g.content))


@pytest.mark.parametrize("headers,challenge", [
    ({}, 'Bearer realm="warden"'),
    ({"Authorization": "Bearer wrong"}, 'Bearer realm="warden", error="invalid_token"'),
])
def test_401_carries_a_bearer_challenge(server, headers, challenge):
    s = server(token=TOKEN)
    r = requests.get(url(s, "/metrics"), headers=headers)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == challenge


@pytest.mark.parametrize("method,path,code", [
    ("POST", "/v1/ingest", 200), ("POST", "/v1/guard", 403), ("GET", "/metrics", 403),
    ("DELETE", "/api/things/1", 403)])
def test_scoped_token_reaches_only_its_routes(server, method, path, code):
    s = server(token=TOKEN, tokens={"collector": {"token": INGEST, "scopes": ["ingest"]}})
    r = requests.request(method, url(s, path), data=b"{}", headers=auth(INGEST))
    assert r.status_code == code
    if code == 403:
        assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert requests.request(method, url(s, path), data=b"{}", headers=auth()).status_code == 200


def test_method_not_allowed_names_the_allowed_ones(server):
    s = server(token=TOKEN)
    r = requests.put(url(s, "/api/things/1"), headers=auth())
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET, HEAD"
    assert requests.get(url(s, "/nope"), headers=auth()).status_code == 404


NDJSON_2MIB = b"".join(b'{"seq": %d, "host": "node-%d", "value": %f}\n' % (i, i % 97, i / 7) for i in range(45_000))


@pytest.mark.parametrize("raw,code,n", [
    (gzip.compress(b"x" * 5000), 200, 5000),                    # gzip decoded before the handler
    (gzip.compress(b"a" * 3000) + gzip.compress(b"b" * 10), 200, 3010),   # multi-member
    (gzip.compress(b"\0" * (50 << 20)), 413, None),              # bomb: 50 MB from ~50 kB
    (gzip.compress(b"\0" * (4 << 20)), 413, None),               # under the size cap, over the ratio cap
    (gzip.compress(b"\0" * (900 << 10)), 200, 900 << 10),         # ratio ~1000x, but under 1 MiB decoded
    (gzip.compress(NDJSON_2MIB), 200, len(NDJSON_2MIB)),         # ~2 MiB of records, ~8x: decoded in steps
    (b"not gzip at all", 400, None),
    (gzip.compress(b"x" * 5000)[:-12], 400, None),               # truncated
])
def test_gzip_bodies(server, raw, code, n):
    s = server(token=TOKEN, max_body_bytes=1 << 20, max_decompressed_bytes=8 << 20)
    r = requests.post(url(s, "/v1/ingest"), data=raw, headers={**auth(), "Content-Encoding": "gzip"})
    assert r.status_code == code
    if n is not None:
        assert r.json() == {"n": n, "enc": None}


def test_a_gzip_bomb_is_refused_for_its_ratio_after_its_first_mib(server):
    s = server(token=TOKEN, max_body_bytes=1 << 20, max_decompressed_bytes=8 << 20)
    r = requests.post(url(s, "/v1/ingest"), data=gzip.compress(b"\0" * (4 << 20)),
                      headers={**auth(), "Content-Encoding": "gzip"})
    assert r.status_code == 413 and "100 times its compressed size" in r.json()["error"]
    off = server(token=TOKEN, max_body_bytes=1 << 20, max_decompressed_bytes=8 << 20, max_gzip_ratio=0)
    r = requests.post(url(off, "/v1/ingest"), data=gzip.compress(b"\0" * (4 << 20)),
                      headers={**auth(), "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["n"] == 4 << 20


def test_metrics_is_rendered_at_most_once_per_max_age(server):
    cached = server(token=TOKEN)                                   # the default: 1 s
    first = requests.get(url(cached, "/metrics"), headers=auth()).text
    requests.get(url(cached, "/api/things/1"), headers=auth())
    assert requests.get(url(cached, "/metrics"), headers=auth()).text == first     # within a second: the same render
    fresh = server(token=TOKEN, metrics_max_age_s=0)
    requests.get(url(fresh, "/api/things/1"), headers=auth())
    before = requests.get(url(fresh, "/metrics"), headers=auth()).text
    requests.get(url(fresh, "/api/things/1"), headers=auth())
    assert requests.get(url(fresh, "/metrics"), headers=auth()).text != before


def test_body_limit_is_checked_while_reading_a_chunked_body(server):
    c = Counters()
    s = server(token=TOKEN, max_body_bytes=10_000, counters=c)

    def chunks():
        for _ in range(100):
            yield b"y" * 1000
    r = requests.post(url(s, "/v1/ingest"), data=chunks(), headers=auth())
    assert r.status_code == 413 and c.get("http.status_413") == 1


def _raw(s, payload: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(s.address, timeout=wait) as sock:
        sock.sendall(payload)
        out = b""
        try:
            while chunk := sock.recv(4096):
                out += chunk
        except OSError:
            pass
        return out


def test_slow_body_gets_408_and_slow_head_is_closed(server):
    c = Counters()
    s = server(token=TOKEN, body_timeout_s=0.5, head_timeout_s=0.5, counters=c)
    got = _raw(s, f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Content-Length: 100\r\n\r\nonly-part".encode())
    assert got.startswith(b"HTTP/1.1 408")
    assert _raw(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n") == b""     # head never finished: closed
    assert c.get("http.head_timeouts") == 1


def test_oversized_head_is_refused(server):
    s = server(token=TOKEN, max_header_bytes=4096)
    got = _raw(s, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 431 ")


def test_openapi_describes_every_route(server):
    s = server(token=TOKEN)
    doc = requests.get(url(s, "/openapi.json"), headers=auth()).json()
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert ops == set(s.routes)
    thing = doc["paths"]["/api/things/{id}"]
    assert thing["get"]["parameters"][0]["name"] == "id" and thing["delete"]["x-warden-scope"] == "admin"
    assert doc["paths"]["/v1/ingest"]["post"]["x-warden-scope"] == "ingest"
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_liveness_and_readiness_are_distinct(server):
    s = server(token=TOKEN)
    state = {"ok": True}
    s.add_readiness_check("detect", lambda: (state["ok"], "heartbeat 0.2 s ago"))
    assert requests.get(url(s, "/readyz")).status_code == 200
    state["ok"] = False
    r = requests.get(url(s, "/readyz"))
    assert r.status_code == 503 and r.json()["checks"]["detect"]["ok"] is False
    assert requests.get(url(s, "/healthz")).status_code == 200


@pytest.mark.parametrize("http,ok", [
    ({"host": "0.0.0.0"}, False),
    ({"host": "0.0.0.0", "allow_unauthenticated": True}, False),      # honoured on loopback only
    ({"host": "127.0.0.1"}, False),
    ({"host": "127.0.0.1", "allow_unauthenticated": True}, True),
    ({"host": "0.0.0.0", "token": TOKEN}, True),
    ({"host": "0.0.0.0", "tokens": {"p": {"token": INGEST, "scopes": ["read"]}}}, True),
])
def test_secure_default(http, ok):
    from agent.config import parse
    hc = parse({"http": {"port": 0, **http}}).http
    if ok:
        HttpServer.from_config(hc, counters=Counters())
    else:
        with pytest.raises(ConfigError, match="refusing"):
            HttpServer.from_config(hc, counters=Counters())


@pytest.mark.parametrize("tokens", [
    {"a": {"token": "short", "scopes": ["read"]}},
    {"a": {"token": INGEST, "scopes": ["root"]}},
    {"a": {"token": INGEST}},
    {"a": {"token": INGEST, "token_env": "X", "scopes": ["read"]}},
])
def test_bad_token_config_is_an_error(tokens):
    from agent.config import parse
    with pytest.raises(ConfigError):
        parse({"http": {"tokens": tokens}})


def flood(s, token: str, source: str, stop: threading.Event, answers: list) -> None:
    """POST as fast as one connection at a time allows, from `source`, until `stop`."""
    while not stop.is_set():
        data = b""
        try:
            with socket.create_connection(s.address, timeout=30, source_address=(source, 0)) as sock:
                sock.sendall(f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                             "Content-Length: 9\r\nConnection: close\r\n\r\n{\"ok\": 1}".encode())
                while chunk := sock.recv(65536):
                    data += chunk
        except OSError as e:
            data = repr(e).encode()
        answers.append(int(data[9:12]) if data[9:12].isdigit() else data[:40])


def test_200_slow_clients_and_a_flood_from_other_addresses_do_not_stop_a_good_client(server):
    """Half-sent requests from 127.0.0.2 and a client flooding from 127.0.0.3 with its own token
    (the shipped rate limit answers it 429 beyond its share): the good client on 127.0.0.1 is
    answered every time."""
    s = server(token=TOKEN, tokens={"flood": {"token": INGEST, "scopes": ["ingest"]}}, head_timeout_s=60,
               body_timeout_s=60, rate_limit_rps=200, rate_limit_burst=400)
    socks = []
    stop = threading.Event()
    flooded: list = []
    flooders = [threading.Thread(target=flood, args=(s, INGEST, "127.0.0.3", stop, flooded)) for _ in range(4)]
    try:
        for i in range(200):                       # half-sent: half a head, or a head and part of a body
            sock = socket.create_connection(s.address, timeout=10, source_address=("127.0.0.2", 0))
            sock.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                         f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {INGEST}\r\n"
                         "Content-Length: 1000\r\n\r\n{\"partial\":".encode())
            socks.append(sock)
        for t in flooders:
            t.start()
        while len(flooded) < 50 and all(t.is_alive() for t in flooders):     # the flood is under way
            threading.Event().wait(0.01)
        good = [requests.post(url(s, "/v1/ingest"), data=b'{"ok": 1}', headers=auth(), timeout=30) for _ in range(20)]
        assert [(r.status_code, r.json()["n"]) for r in good] == [(200, 9)] * 20
    finally:
        stop.set()
        for t in flooders:
            t.join(30)
        for sock in socks:
            sock.close()
    assert flooded and set(flooded) <= {200, 429}, set(flooded)     # served or told to slow down, never a 5xx


@pytest.mark.parametrize("http,code", [
    ("{enabled: true, host: 0.0.0.0, port: 0}", 2),
    ("{enabled: true, host: 127.0.0.1, port: 0, allow_unauthenticated: true}", 0),
])
def test_config_check_applies_the_secure_default(tmp_path, http, code):
    from tests.unit.agent.lifecycle.cli_fixture import invoke
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\nhttp: {http}\n")
    r = invoke(conf, "config", "check")
    assert r.exit_code == code and (("refusing" in r.output) == (code == 2))
