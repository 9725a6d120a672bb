"""The head deadline and the head size cap on uvicorn's httptools protocol (llhttp, a C parser).

httptools parses a request in C where h11 does it in Python, which leaves the event loop more time
for good requests while the server is under attack (README, "Robustness"). It has no cap on the
size of a request head, so `HeadGuardedHttpTools` counts one: the bytes received while a head is
incomplete (a head that never ends cannot grow without bound) and the URL and header bytes of a
complete one (a large head that arrives in one read); beyond `max_header_bytes` it answers 431 and
closes, and counts it. Like the h11 protocol (agent.http.transport), a connection whose request
head is not complete `head_timeout_s` after it opened or after its last response is closed and
counted. Imported only when `http.parser` selects httptools, so a platform without its wheel runs
on h11.
"""
from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from agent.http.transport import HeadGuard, HeadTimer


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap."""


def head_guarded_httptools(guard: HeadGuard) -> type[HttpToolsProtocol]:
    class HeadGuardedHttpTools(HeadTimer, HttpToolsProtocol):
        _head_open = True            # between a message's end (or the connection's start) and the next head's end
        _head_received = 0           # bytes received while the head was open
        _head_parsed = 0             # URL and header bytes of the head being parsed
        _too_large = False

        def _busy(self) -> bool:
            return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

        def _head_expired(self) -> None:
            self._head_timer = None
            if self._head_open and not self._busy() and not self.transport.is_closing():
                guard.on_timeout()
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self._head_open:
                self._head_received += len(data)
            super().data_received(data)
            if self._head_open and self._head_received > guard.max_bytes and not self.transport.is_closing():
                self._too_large = True
                self.send_400_response("")

        def send_400_response(self, msg: str) -> None:
            if not self._too_large:
                super().send_400_response(msg)
                return
            self._refuse_too_large()

        def _count(self, n: int) -> None:
            self._head_parsed += n
            if self._head_parsed > guard.max_bytes:
                self._too_large = True
                raise HeadTooLarge

        def on_message_begin(self) -> None:
            self._head_parsed = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head_open, self._head_received = False, 0
            self._disarm()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._head_open = True
            super().on_message_complete()

    HeadGuardedHttpTools.guard = guard
    return HeadGuardedHttpTools
