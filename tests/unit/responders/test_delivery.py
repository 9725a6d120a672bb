"""Notifier delivery helpers against a real local HTTP receiver: failure classification
(retryable 5xx / 429 / unreachable with Retry-After; 4xx not), idempotency keys and headers."""
from __future__ import annotations

import dataclasses
import socket
from email.utils import formatdate

import pytest

from core.event import Action, Alert, stable_id
from responders.delivery import DeliveryError, classify, idempotency_key, parse_retry_after
from responders.slack import SlackResponder
from responders.webhook import WebhookResponder
from tests.support.receiver import Receiver


def alert(aid="a" * 32, status="firing", entity="llm-chat"):
    return Alert(id=aid, rule="prompt-injection", title="prompt injection", severity="high", entity=entity,
                 group_key=entity, status=status, first_seen=1000.0, last_seen=1010.0, count=2,
                 detector="prompt_guard/default", labels={"alertname": "prompt-injection"})


def action_for(r, a):
    return Action(id=stable_id("t", a.id), alert_id=a.id, responder=r.name, action="notify", target="x",
                  dry_run=False, status="planned", time=0.0, params={"notification": "n1"})


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_parse_retry_after_seconds_date_and_garbage():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("999999") == 3600.0            # capped
    assert parse_retry_after(formatdate(1_000_060.0, usegmt=True), now=1_000_000.0) == pytest.approx(60.0)
    assert parse_retry_after("soon") is None and parse_retry_after("") is None and parse_retry_after(None) is None


def test_classify():
    classify(200, {}, "x")
    classify(302, {}, "x")
    for code in (500, 502, 503, 504, 429):
        with pytest.raises(DeliveryError) as e:
            classify(code, {"Retry-After": "4"}, "webhook")
        assert e.value.retryable and e.value.status == code and e.value.retry_after == 4.0
    for code in (400, 401, 403, 404, 413, 422):
        with pytest.raises(DeliveryError) as e:
            classify(code, {"Retry-After": "4"}, "webhook", "bad payload")
        assert not e.value.retryable and e.value.retry_after is None and "bad payload" in str(e.value)


def test_idempotency_key_is_alert_id_and_state():
    a = alert()
    assert idempotency_key([a]) == f"{a.id}:firing"
    assert idempotency_key([dataclasses.replace(a, status="resolved")]) == f"{a.id}:resolved"
    assert idempotency_key([dataclasses.replace(a, status="suppressed")]) == f"{a.id}:firing"
    b = alert(aid="b" * 32)
    k = idempotency_key([a, b])
    assert k == idempotency_key([b, a]) and k.startswith("g-")                    # order-free
    assert k != idempotency_key([a, dataclasses.replace(b, status="resolved")])   # state matters
    assert idempotency_key([dataclasses.replace(a, count=9, last_seen=2000.0)]) == idempotency_key([a])


def test_webhook_sends_the_idempotency_key_and_classifies(receiver):
    r = WebhookResponder("webhook/t", url=receiver.url)
    a = alert()
    res = r.notify([a], {"alertname": "prompt-injection"}, action_for(r, a))
    assert res == {"status_code": 200, "idempotency_key": f"{a.id}:firing"}
    assert receiver.requests[0][1]["Idempotency-Key"] == f"{a.id}:firing"
    receiver.status, receiver.retry_after = 503, "12"
    with pytest.raises(DeliveryError) as e:
        r.notify([a], {}, action_for(r, a))
    assert e.value.retryable and e.value.retry_after == 12.0
    receiver.status = 422
    with pytest.raises(DeliveryError) as e:
        r.execute(action_for(r, a), a)
    assert not e.value.retryable
    r.close()


def test_unreachable_receiver_is_retryable():
    with socket.socket() as s:           # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    a = alert()
    for r in (WebhookResponder("webhook/t", url=f"http://127.0.0.1:{port}/", timeout_s=1),
              SlackResponder("slack/t", url=f"http://127.0.0.1:{port}/", timeout_s=1)):
        with pytest.raises(DeliveryError) as e:
            r.notify([a], {}, action_for(r, a))
        assert e.value.retryable and e.value.status == 0 and "unreachable" in str(e.value)
        r.close()


def test_slack_sends_the_idempotency_key_and_429_is_retryable(receiver):
    r = SlackResponder("slack/t", url=receiver.url)
    a = alert(status="resolved")
    assert r.notify([a], {}, action_for(r, a))["idempotency_key"] == f"{a.id}:resolved"
    receiver.status, receiver.retry_after = 429, "3"
    with pytest.raises(DeliveryError) as e:
        r.notify([a], {}, action_for(r, a))
    assert e.value.retryable and e.value.retry_after == 3.0


def test_delivery_settings_are_validated():
    from core.errors import ConfigError
    from core.registry import create
    assert create("responder", "webhook/x", {"url": "http://h/", "max_buffer": 5}).config.max_buffer == 5
    for bad in ({"max_buffer": 0}, {"retry_initial_s": 0}, {"retry_initial_s": 10, "retry_max_s": 1},
                {"give_up_after_s": 0}):
        with pytest.raises(ConfigError):
            create("responder", "slack/x", {"url": "http://h/", **bad})
