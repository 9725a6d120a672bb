"""Connection-level defences under uvicorn: a deadline for the request head and counted TLS
handshake failures.

uvicorn's h11 protocol closes idle keep-alive connections (`timeout_keep_alive`) and caps the size
of an incomplete request head (`h11_max_incomplete_event_size`), but a client that sends its
head one byte a minute keeps its connection for ever. `HeadDeadlineProtocol` closes a connection
whose request head is not complete `head_timeout_s` after the connection opened or after the last
response. A connection costs a coroutine and a socket, not a thread, so slow clients cannot starve
the handlers.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("warden.http")


def head_deadline_protocol(head_timeout_s: float, on_timeout: Callable[[], None]) -> type[H11Protocol]:
    class HeadDeadlineProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_expired(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                on_timeout()
                self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

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
