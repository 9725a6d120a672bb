"""Per-client fairness through the real server: one client (address + token) with
`max_inflight_per_client` requests in the handlers gets 429 + Retry-After for the next one, while
another client is still served; its slots come back when its requests finish; slow clients whose
bodies never arrive hold no slot."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from core.http import Request, Response

ONE = "first-client-token-0123456789"
TWO = "second-client-token-0123456789"
LIMIT = 3


@pytest.fixture
def blocked(serve):
    release = threading.Event()
    entered = threading.Semaphore(0)

    def hold(req: Request) -> Response:
        """Wait until the test releases every held request."""
        entered.release()
        release.wait(30)
        return Response.json({"held": True})

    s = serve({("POST", "/v1/hold"): hold, ("POST", "/v1/quick"): lambda r: Response.json({"quick": True})},
              tokens={"one": {"token": ONE, "scopes": ["ingest", "admin"]}, "two": {"token": TWO, "scopes": ["ingest", "admin"]}}, max_inflight_per_client=LIMIT)
    host, port = s.address
    yield s, f"http://{host}:{port}", release, entered
    release.set()


def post(base, path, token):
    return requests.post(base + path, data=b"{}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_client_beyond_its_share_waits_and_others_are_served(blocked):
    s, base, release, entered = blocked
    with ThreadPoolExecutor(LIMIT) as ex:
        held = [ex.submit(post, base, "/v1/hold", ONE) for _ in range(LIMIT)]
        for _ in range(LIMIT):
            assert entered.acquire(timeout=30)           # all LIMIT requests are in the handler
        over = post(base, "/v1/quick", ONE)
        assert over.status_code == 429 and over.headers["Retry-After"] == "1"
        assert "in progress" in over.json()["error"]
        assert post(base, "/v1/quick", TWO).status_code == 200     # another client keeps its share
        release.set()
        assert [f.result().status_code for f in held] == [200] * LIMIT
    assert post(base, "/v1/quick", ONE).status_code == 200         # slots returned
    assert s.counters.get("http.status_429") == 1


def test_half_sent_bodies_hold_no_slot(blocked):
    s, base, release, entered = blocked
    host, port = s.address
    socks = []
    try:
        for _ in range(LIMIT * 4):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(f"POST /v1/quick HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ONE}\r\n"
                         "Content-Length: 1000\r\n\r\n{\"partial\":".encode())
            socks.append(sock)
        assert post(base, "/v1/quick", ONE).status_code == 200
    finally:
        for sock in socks:
            sock.close()


def test_one_address_holds_at_most_its_share_of_connections(serve):
    """Idle connections from 127.0.0.2 up to `max_connections_per_address`; the next one from there
    gets 429 + Retry-After and is closed, while 127.0.0.1 is still served; a closed connection
    gives its place back."""
    s = serve({("POST", "/v1/quick"): lambda r: Response.json({"quick": True})}, token=ONE,
              max_connections_per_address=LIMIT, head_timeout_s=60)
    host, port = s.address
    held = [socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0)) for _ in range(LIMIT)]
    try:
        with socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0)) as extra:
            answer = extra.recv(4096)
            assert answer.startswith(b"HTTP/1.1 429") and b"retry-after: 1" in answer
            assert extra.recv(4096) == b""                               # and closed
        assert post(f"http://{host}:{port}", "/v1/quick", ONE).status_code == 200
        assert s.counters.get("http.address_connections_refused") == 1
        held.pop().close()
        for _ in range(200):                                             # until the server saw the close
            with socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0)) as again:
                again.sendall(f"POST /v1/quick HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ONE}\r\n"
                              "Content-Length: 2\r\nConnection: close\r\n\r\n{}".encode())
                if again.recv(4096).startswith(b"HTTP/1.1 200"):
                    break
        else:
            raise AssertionError("a closed connection never gave its place back")
    finally:
        for sock in held:
            sock.close()
