"""All clients' client errors draw on one budget: load spread over many erring clients is held
while a client whose requests succeed is never refused by it (agent/http/error_budget.py)."""
from __future__ import annotations

import pytest
import requests

from agent.http.error_budget import ErrorBudget
from core.counters import Counters
from core.http import Request, Response


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_spent_budget_refuses_erring_clients_only_and_refills():
    clock = Clock()
    b = ErrorBudget(rate=10, burst=20, memory_s=10, clock=clock)
    for i in range(20):
        b.spend(f"fuzzer-{i % 4}")
    assert b.spent()
    assert b.admits("fuzzer-1")[0] is False and b.admits("fuzzer-1")[1] == pytest.approx(0.1)
    assert b.admits("good") == (True, 0.0)                  # never erred: never refused by the budget
    clock.t += 0.1                                          # one token back
    assert b.admits("fuzzer-1")[0] is True


def test_an_erring_client_is_forgotten_after_memory_s():
    clock = Clock()
    b = ErrorBudget(rate=1, burst=1, memory_s=5, clock=clock)
    b.spend("x")
    b.spend("y")                                            # budget in debt
    clock.t += 0.5
    assert b.admits("x")[0] is False
    b._erred["x"] -= 10                                     # its last error long ago
    assert b.admits("x")[0] is True


def test_rate_zero_is_off_and_memory_is_bounded():
    off = ErrorBudget(rate=0)
    for _ in range(1000):
        off.spend("x")
    assert off.admits("x") == (True, 0.0) and not off.spent()
    b = ErrorBudget(rate=1)
    b.MAX_CLIENTS = 50
    for i in range(200):
        b.spend(f"c{i}")
    assert len(b._erred) == 50 and "c199" in b._erred and "c0" not in b._erred
    with pytest.raises(ValueError):
        ErrorBudget(rate=-1)


TOKEN = "good-client-token-0123456789"
FUZZER = "fuzzer-token-0123456789abcd"


def ingest(req: Request) -> Response:
    """400 for a body that is not JSON, 200 otherwise."""
    req.json()
    return Response.json({"ok": True})


def _post(s, token: str, body: bytes, source: str) -> int:
    from requests.adapters import HTTPAdapter

    class Bound(HTTPAdapter):
        def init_poolmanager(self, *a, **kw):
            kw["source_address"] = (source, 0)
            super().init_poolmanager(*a, **kw)
    with requests.Session() as sess:
        sess.mount("http://", Bound())
        host, port = s.address
        return sess.post(f"http://{host}:{port}/v1/ingest", data=body, timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code


def test_many_erring_addresses_are_held_while_a_good_client_is_served(serve):
    c = Counters()
    s = serve({("POST", "/v1/ingest"): ingest}, token=TOKEN, counters=c, error_budget_rps=5, error_memory_s=30,
              tarpit_s=0, rate_limit_rps=1000, rate_limit_burst=1000, rate_limit_error_cost=1,
              tokens={"fuzzer": {"token": FUZZER, "scopes": ["ingest"]}})
    codes = [_post(s, FUZZER, b"{broken", f"127.0.0.{2 + i % 8}") for i in range(40)]
    assert codes[:10] == [400] * 10                          # the burst: 10 errors
    assert codes.count(429) >= 25                            # then each erring address is refused
    assert c.get("http.error_budget_refused") == codes.count(429)
    assert [_post(s, TOKEN, b"{}", "127.0.0.1") for _ in range(10)] == [200] * 10   # the good client: never
