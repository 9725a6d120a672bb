"""The tarpit through the real server: a request over its client's rate limit gets its 429 only
after the hold (counted `http.throttled`), while another client is served meanwhile; a client
within its limit is never held; at most `max_held` refusals of one client wait at once."""
from __future__ import annotations

import asyncio
import threading

import requests

from agent.http.tarpit import Tarpit
from core.http import Response

OVER = "over-the-limit-token-0123456789"
GOOD = "within-the-limit-token-012345678"
HOLD_S = 3.0


def post(base: str, token: str) -> requests.Response:
    return requests.post(base + "/v1/quick", data=b"{}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_a_client_over_its_limit_waits_for_its_refusal_while_another_is_served(serve):
    s = serve({("POST", "/v1/quick"): lambda r: Response.json({"quick": True})},
              tokens={"over": {"token": OVER, "scopes": ["ingest"]}, "good": {"token": GOOD, "scopes": ["ingest"]}},
              rate_limit_rps=0.01, rate_limit_burst=2, tarpit_s=HOLD_S)
    host, port = s.address
    base = f"http://{host}:{port}"
    assert [post(base, OVER).status_code for _ in range(2)] == [200, 200]     # its burst: never held
    assert s.counters.get("http.throttled") == 0
    refused: list[requests.Response] = []
    over = threading.Thread(target=lambda: refused.append(post(base, OVER)))
    over.start()
    while s.counters.get("http.throttled") < 1 and over.is_alive():
        threading.Event().wait(0.01)
    assert s.counters.get("http.throttled") == 1 and over.is_alive() and not refused   # held, not answered
    assert [post(base, GOOD).status_code for _ in range(2)] == [200] * 2       # another client is served meanwhile
    assert over.is_alive() and not refused
    over.join(30)
    assert refused[0].status_code == 429 and int(refused[0].headers["Retry-After"]) >= 1
    assert s.counters.get("http.status_429") == 1 and s.counters.get("http.throttled") == 1
    assert s.counters.get("http.rate_limited") == 1


def test_refusals_beyond_max_held_are_answered_at_once():
    counted: list[int] = []

    async def scenario() -> tuple[list[bool], int, int]:
        tarpit = Tarpit(hold_s=0.2, max_held=2, on_held=lambda: counted.append(1))
        first = [asyncio.ensure_future(tarpit.hold("a")) for _ in range(2)]
        await asyncio.sleep(0)                       # both are waiting now
        held_now = tarpit.held("a")
        third = await tarpit.hold("a")               # over max_held: not held
        other = asyncio.ensure_future(tarpit.hold("b"))
        results = [*(await asyncio.gather(*first)), third, await other]
        return results, held_now, tarpit.held("a")
    results, held_now, after = asyncio.run(scenario())
    assert results == [True, True, False, True] and held_now == 2 and after == 0
    assert len(counted) == 3


def test_no_hold_when_off():
    assert asyncio.run(Tarpit(hold_s=0).hold("a")) is False


def test_requests_answered_with_client_errors_cost_more_of_the_rate_limit(serve):
    """A client whose requests fail (here 404s) spends `rate_limit_error_cost` tokens on each and is
    refused once its burst is spent, while a client whose requests succeed gets its whole burst."""
    s = serve({("POST", "/v1/quick"): lambda r: Response.json({"quick": True})},
              tokens={"over": {"token": OVER, "scopes": ["ingest"]}, "good": {"token": GOOD, "scopes": ["ingest"]}},
              rate_limit_rps=0.01, rate_limit_burst=10, tarpit_s=0, rate_limit_error_cost=5)
    host, port = s.address
    base = f"http://{host}:{port}"
    failing = [requests.post(base + "/v1/nope", data=b"{}", headers={"Authorization": f"Bearer {OVER}"},
                             timeout=30).status_code for _ in range(3)]
    assert failing == [404, 404, 429]                       # 10 tokens: two failures of 5 each
    assert [post(base, GOOD).status_code for _ in range(10)] == [200] * 10
    assert s.counters.get("http.rate_limited") == 1


def test_a_charged_bucket_refills_from_its_debt():
    from agent.http.ratelimit import RateLimiter
    t = [0.0]
    rl = RateLimiter(10.0, 4, clock=lambda: t[0])
    assert rl.allow("a")[0]
    rl.charge("a", 100)                                     # debt bounded: at most one burst
    ok, wait = rl.allow("a")
    assert not ok and wait == (1.0 + 4) / 10.0
    t[0] += 0.5                                             # 5 tokens: from -4 to 1
    assert rl.allow("a")[0] and not rl.allow("a")[0]
    rl.charge("unknown", 3)                                 # a client never seen is not created
    assert rl.allow("unknown")[0]
