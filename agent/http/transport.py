"""Connection-level defences under uvicorn: a deadline for the request head, a counted 431 for a
head over the cap, and counted TLS handshake failures.

uvicorn's h11 protocol closes idle keep-alive connections (`timeout_keep_alive`) and caps the size
of an incomplete request head (`h11_max_incomplete_event_size`, answered 400 by uvicorn: here 431
and counted), but a client that sends its head one byte a minute keeps its connection for ever.
`HeadDeadlineProtocol` closes a connection whose request head is not complete `head_timeout_s`
after the connection opened or after the last response. A connection costs a coroutine and a
socket, not a thread, so slow clients cannot starve the handlers. The same guard on the httptools
protocol is in agent.http.httptools_transport.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from agent.http.fairness import REFUSED, AddressConnections

log = logging.getLogger("warden.http")


@dataclass(frozen=True)
class HeadGuard:
    """What a protocol enforces on request heads: the deadline, the size cap, what each counts."""
    timeout_s: float
    max_bytes: int
    on_timeout: Callable[[], None]
    on_too_large: Callable[[], None]
    #: open connections per client address (agent.http.fairness); None: not counted
    connections: AddressConnections | None = None


def too_large_response() -> bytes:
    body = b"Request Header Fields Too Large"
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))


class HeadTimer:
    """The deadline and the 431 shared by both guarded protocols (a mixin before uvicorn's protocol
    class): armed when a connection opens and after each response, disarmed by the protocol once a
    head is complete; `guard` is set by their factory, `_head_expired` is theirs (whether a head is
    still awaited depends on the parser)."""
    guard: HeadGuard
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    _head_timer: asyncio.TimerHandle | None = None
    _address: str | None = None          # the client address this connection is counted under
    client: tuple[str, int] | None

    def _head_expired(self) -> None:
        raise NotImplementedError

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.guard.timeout_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        conns = self.guard.connections
        if conns is not None:
            address = self.client[0] if self.client else "?"
            if not conns.open(address):
                transport.write(REFUSED)
                transport.close()
                return
            self._address = address
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        if self._address is not None and self.guard.connections is not None:
            self.guard.connections.close(self._address)
            self._address = None
        super().connection_lost(exc)  # type: ignore[misc]

    def _refuse_too_large(self) -> None:
        self.guard.on_too_large()
        self.transport.write(too_large_response())
        self.transport.close()


def head_deadline_protocol(guard: HeadGuard) -> type[H11Protocol]:
    class HeadDeadlineProtocol(HeadTimer, H11Protocol):
        def _head_expired(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                guard.on_timeout()
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            # h11 refused the head: over the cap when its unparsed buffer is (h11_max_incomplete_event_size)
            if self.conn.their_state is h11.ERROR and len(self.conn.trailing_data[0]) > guard.max_bytes:
                self._refuse_too_large()
                return
            super().send_400_response(msg)

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

    HeadDeadlineProtocol.guard = guard
    return HeadDeadlineProtocol


def counting_ssl_context(ctx: ssl.SSLContext, on_failure: Callable[[str], None]) -> ssl.SSLContext:
    """`ctx` whose server-side handshakes report failures (no client certificate, one from another
    CA, plain HTTP on the TLS port) to `on_failure` before asyncio drops the connection silently."""

    class CountingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as e:
                on_failure(type(e).__name__)
                raise

    ctx.sslobject_class = CountingSSLObject
    return ctx
