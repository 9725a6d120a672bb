"""The request-head guard on a real server and real sockets, under both HTTP parsers (the `serve`
fixture runs each test with h11 + asyncio and httptools + uvloop): heads over the cap are answered
431 and counted whether they arrive whole, in pieces or as many small headers; a head that does not
finish in time is closed and counted; ordinary, keep-alive and pipelined requests are answered."""
from __future__ import annotations

import socket
import time

import pytest

from agent.http.server import HttpServer, resolve
from core.counters import Counters
from core.http import Request, Response

TOKEN = "head-guard-token-0123456789"


def hello(req: Request) -> Response:
    """Says hello."""
    return Response.json({"hello": req.path_params.get("who", "")})


@pytest.fixture
def guarded(serve):
    def make(**kw):
        c = Counters()
        return serve({("GET", "/hi/{who}"): hello}, token=TOKEN, counters=c, **kw), c
    return make


def _connect(s: HttpServer) -> socket.socket:
    sock = socket.create_connection(s.address, timeout=5)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def _read_response(sock: socket.socket, who: str) -> bytes:
    """One whole response (it may come in more than one read)."""
    out = b""
    while not out.endswith(b'"%s"}' % who.encode()):
        chunk = sock.recv(65536)
        assert chunk, out
        out += chunk
    return out


def _get(who: str, extra: bytes = b"") -> bytes:
    return f"GET /hi/{who} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n".encode() + extra + b"\r\n"


@pytest.mark.parametrize("head", [
    _get("a", b"X-Big: " + b"a" * 10_000 + b"\r\n"),                          # one large header
    _get("a", b"".join(b"X-%d: %s\r\n" % (i, b"v" * 40) for i in range(300))),  # many small ones
    b"GET /hi/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",             # a long URL
], ids=["large-header", "many-headers", "long-url"])
def test_a_head_over_the_cap_is_431_and_counted(guarded, head):
    s, c = guarded(max_header_bytes=4096)
    with _connect(s) as sock:
        sock.sendall(head)
        got = _read_all(sock)
    assert got.startswith(b"HTTP/1.1 431 ")
    # refused by the protocol (counted as such) or, a whole head that h11 parsed, by the app (counted by code)
    assert c.get("http.head_too_large") + c.get("http.status_431") == 1


def test_a_head_that_never_ends_is_refused_once_over_the_cap(guarded):
    s, c = guarded(max_header_bytes=4096)
    with _connect(s) as sock:
        sock.sendall(b"GET /hi/a HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        for _ in range(20):                      # 20 kB of one header value, sent in pieces, never ended
            try:
                sock.sendall(b"b" * 1024)
            except OSError:
                break
            time.sleep(0.01)
        got = _read_all(sock)
    assert got.startswith(b"HTTP/1.1 431 ")
    assert c.get("http.head_too_large") == 1


def test_a_head_under_the_cap_is_answered(guarded):
    s, c = guarded(max_header_bytes=4096)
    with _connect(s) as sock:
        sock.sendall(_get("a", b"X-Fits: " + b"a" * 3000 + b"\r\nConnection: close\r\n"))
        got = _read_all(sock)
    assert got.startswith(b"HTTP/1.1 200 ") and got.endswith(b'{"hello":"a"}')
    assert c.get("http.head_too_large") == 0


def test_a_slow_head_is_closed_and_counted_and_a_slow_second_head_too(guarded):
    s, c = guarded(head_timeout_s=0.5)
    with _connect(s) as sock:
        sock.sendall(b"GET /hi/a HTTP/1.1\r\nHost: x\r\n")        # never finished
        t = time.monotonic()
        assert _read_all(sock) == b""
        assert time.monotonic() - t < 4
    with _connect(s) as sock:                                     # one answered request, then a stalled head
        sock.sendall(_get("b"))
        assert _read_response(sock, "b").startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /hi/c HTTP/1.1\r\n")
        assert _read_all(sock) == b""
    assert c.get("http.head_timeouts") == 2


def test_keep_alive_and_pipelined_requests_are_answered_in_order(guarded):
    s, c = guarded(head_timeout_s=0.5)
    with _connect(s) as sock:
        sock.sendall(_get("one"))
        assert _read_response(sock, "one").startswith(b"HTTP/1.1 200 ")
        time.sleep(0.3)                                           # within the deadline: the connection stays
        sock.sendall(_get("two") + _get("three") + _get("four", b"Connection: close\r\n"))
        got = _read_all(sock)
    assert got.count(b"HTTP/1.1 200 ") == 3
    assert got.index(b'"two"') < got.index(b'"three"') < got.index(b'"four"')
    assert c.get("http.head_timeouts") == 0


def test_auto_falls_back_when_the_fast_package_is_missing():
    assert resolve("auto", "no_such_package_for_warden", "h11") == "h11"
    assert resolve("auto", "httptools", "h11") == "httptools"
    assert resolve("h11", "httptools", "h11") == "h11"


def test_an_unknown_parser_or_loop_is_refused():
    with pytest.raises(ValueError):
        HttpServer(parser="picohttp")
    with pytest.raises(ValueError):
        HttpServer(loop="trio")
