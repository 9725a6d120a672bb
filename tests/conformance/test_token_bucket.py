"""The token bucket's laws (agent/http/token_bucket.py), and the per-client rate limit and the
server-wide error budget both following them: one bucket type, one arithmetic."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.http.error_budget import ErrorBudget
from agent.http.ratelimit import RateLimiter
from agent.http.token_bucket import TokenBucket

# a step: (seconds passed, what happens: a request asking for a token, or a charge of n tokens)
steps = st.lists(st.tuples(st.floats(0, 2, allow_nan=False), st.one_of(st.just("take"), st.floats(0, 50))),
                 max_size=60)
rates = st.floats(0.5, 500)
bursts = st.integers(1, 400)


def test_a_full_bucket_grants_its_burst_at_once_then_waits_exactly_for_the_next_token():
    b = TokenBucket.full(rate=4, burst=3, now=10.0)
    assert [b.take(10.0) for _ in range(4)] == [True, True, True, False]
    assert b.wait_s() == pytest.approx(0.25)
    assert not b.take(10.2)                    # 0.8 of a token
    assert b.take(10.25)
    with pytest.raises(ValueError):
        TokenBucket.full(rate=0, burst=3, now=0.0)


@given(rates, bursts, steps)
@settings(max_examples=200, deadline=None)
def test_tokens_stay_between_minus_one_burst_and_one_burst_and_grants_keep_to_the_rate(rate, burst, seq):
    b = TokenBucket.full(rate, burst, now=0.0)
    now = granted = 0.0
    for dt, what in seq:
        now += dt
        if what == "take":
            granted += b.take(now)
        else:
            b.refill(now)
            b.charge(what)
        assert -burst - 1e-9 <= b.tokens <= burst + 1e-9
    assert granted <= burst + rate * now + 1e-6      # never more than the burst and the rate allow


@given(rates, bursts, st.floats(0.1, 30))
@settings(max_examples=100, deadline=None)
def test_a_client_asking_faster_than_the_rate_gets_the_rate(rate, burst, seconds):
    b = TokenBucket.full(rate, burst, now=0.0)
    ask = 1 / (4 * rate)                             # four requests per token
    asks = int(seconds / ask) + 1
    granted = sum(b.take(i * ask) for i in range(asks))
    # at least the burst and the rate, less what the cap at one burst wastes: with a burst of 1
    # a bucket refused just short of a token (floating point) is full before the next ask
    assert granted >= min(asks, burst + math.floor(rate * seconds * (1 if burst > 1 else 0.75)) - 1)


@given(rates, bursts, steps)
@settings(max_examples=200, deadline=None)
def test_the_rate_limiter_answers_as_its_bucket_does(rate, burst, seq):
    now = [0.0]
    rl = RateLimiter(rate, burst, clock=lambda: now[0])
    ref = TokenBucket.full(rate, burst, now=0.0)
    for dt, what in seq:
        now[0] += dt
        if what == "take":
            ok = ref.take(now[0])
            assert rl.allow("client") == (ok, 0.0 if ok else ref.wait_s())
        elif rl._b:                                  # a charge reaches only a client already seen
            rl.charge("client", what)
            ref.charge(what)


@given(rates, st.integers(1, 400), steps)
@settings(max_examples=200, deadline=None)
def test_the_error_budget_spends_and_refuses_as_its_bucket_does(rate, burst, seq):
    now = [0.0]
    budget = ErrorBudget(rate, burst, memory_s=1e9, clock=lambda: now[0])
    ref = TokenBucket.full(rate, burst, now=0.0)
    for dt, what in seq:
        now[0] += dt
        if what == "take":                           # a request of a client that erred before
            budget.spend("fuzzer")
            ref.refill(now[0])
            ref.charge(1.0)
        ok = ref.refill(now[0]) >= 1.0
        assert budget.spent() is not ok
        assert budget.admits("fuzzer") == (ok, 0.0 if ok else ref.wait_s())
        assert budget.admits("never-erred") == (True, 0.0)
