"""Shared HTTP delivery for the notifiers (webhook, Slack): one POST, a verdict on failure.

- `post()` sends a body and classifies the answer the way Alertmanager's notifiers do: connection
  errors, timeouts, 429 and 5xx are worth a retry (`DeliveryError.retryable`), with the receiver's
  `Retry-After` (seconds or an HTTP date) kept in `DeliveryError.retry_after`; any other 4xx is not
  (the request itself is wrong: retrying cannot help).
- `idempotency_key()` names what a notification says — its alerts' ids and states — so a replay
  after a crash, a redelivered alert or a retry of a request whose answer was lost carries the same
  `Idempotency-Key` header and a receiver that honours the header never shows it twice.

The act stage owns retries, the bounded buffer and backpressure (agent.stages.act.delivery).
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from responders.base import ResponderError

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_RETRY_AFTER_S = 3600.0


class DeliveryError(ResponderError):
    """A failed delivery: `retryable`, the HTTP status (0 when nothing answered) and the receiver's
    Retry-After in seconds (None when it sent none)."""

    def __init__(self, message: str, *, retryable: bool, status: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable.
    Capped at an hour (a receiver asking for days is treated as asking for an hour)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if dt is None:
            return None
        secs = dt.timestamp() - (time.time() if now is None else now)
    if secs != secs:    # NaN
        return None
    return min(max(0.0, secs), MAX_RETRY_AFTER_S)


def classify(status: int, headers: Any, what: str, text: str = "") -> None:
    """Raise DeliveryError for a failed answer (retryable: 429 and 5xx); return for 1xx-3xx."""
    if status < 400:
        return
    retryable = status == 429 or status >= 500
    detail = f": {text[:200]}" if text and not retryable else ""
    ra = parse_retry_after((headers or {}).get("Retry-After")) if retryable else None
    raise DeliveryError(f"{what} answered {status}{detail}", retryable=retryable, status=status, retry_after=ra)


def post(session, url: str, body: bytes, headers: dict[str, str], timeout: float, what: str) -> int:
    """POST body; the status code on success, DeliveryError otherwise."""
    try:
        r = session.post(url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as e:
        raise DeliveryError(f"{what} unreachable: {type(e).__name__}", retryable=True) from None
    classify(r.status_code, r.headers, what, r.text if r.status_code >= 400 else "")
    return r.status_code


def alert_state(alert) -> str:
    return "resolved" if alert.status == "resolved" else "firing"


def idempotency_key(alerts) -> str:
    """`<alert id>:<state>` for one alert; for a group, a hash of its sorted `<id>:<state>` pairs."""
    pairs = sorted(f"{a.id}:{alert_state(a)}" for a in alerts)
    if len(pairs) == 1:
        return pairs[0]
    return "g-" + hashlib.sha256("\n".join(pairs).encode()).hexdigest()[:40]


@dataclass
class DeliveryConfigMixin:
    """Per-notifier delivery settings, mixed into a notifier's Config (defaults Alertmanager-like)."""
    #: undelivered notifications kept for retry; when full the act stage stops consuming
    max_buffer: int = 1000
    #: first retry after this, doubling per attempt up to retry_max_s (Retry-After wins when longer)
    retry_initial_s: float = 1.0
    retry_max_s: float = 300.0
    #: a notification still undelivered this long after its first attempt is given up (counted)
    give_up_after_s: float = 86400.0

    def validate_delivery(self) -> None:
        if self.max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        if self.retry_initial_s <= 0 or self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_initial_s must be > 0 and retry_max_s >= retry_initial_s")
        if self.give_up_after_s <= 0:
            raise ValueError("give_up_after_s must be > 0")
