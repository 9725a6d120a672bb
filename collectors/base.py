"""Collector base and the Emitter a collector pushes into.

The collect stage calls `collector.bind(emitter)` and then `start()`. A collector calls
`emitter.emit(event)` for each event and `emitter.dead_letter(raw, reason)` for input it cannot
turn into events: nothing is dropped silently. Pull-style collectors (file replay) also implement
`run_once()`, which reads everything available and returns the number of records read.

A bounded collector (one input, read to its end: replay, scenario) reports its own completion:
it sets `finished` once its input is read (`first_run()` does it for those that read everything
in one call). The collect stage then calls its `run_once()` no more, and a drain can end.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol

from core.component import Component
from core.event import Event


class Emitter(Protocol):
    #: what an accepted record's hand-over guarantees (the bus's `Bus.durability`)
    durability: str

    def emit(self, event: Event) -> None: ...

    def dead_letter(self, raw: Any, reason: str, source: str = "", formats: tuple[str, ...] = ()) -> None:
        """`formats`: the input formats the record was read with (what `warden deadletters replay`
        re-submits it through); () where no format applies (OTLP, a file that could not be read)."""

    def flush(self) -> None:
        """Hand everything emitted so far to the bus (push collectors, before answering)."""

    def full(self) -> bool:
        """True while the bus holds as much as it may: push collectors refuse input (503)."""

    def never_waits(self) -> bool:
        """True when emitting and flushing wait on nothing outside the process (no broker
        acknowledgement): a push route may then be handled on the server's event loop."""


class Collector(Component):
    kind = "collector"
    #: True for collectors that read a bounded input (replay) and finish
    bounded: ClassVar[bool] = False

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.emitter: Emitter | None = None
        #: set by the collector itself once its bounded input is read to the end; never set on an
        #: unbounded one. Clearing it asks a bounded collector to read its input again (tests).
        self.finished = False

    def bind(self, emitter: Emitter) -> None:
        self.emitter = emitter

    def run_once(self) -> int:
        """Read what is available now; return records read (pull collectors). Push collectors: 0."""
        return 0

    def first_run(self) -> bool:
        """For bounded collectors that read their whole input in one run_once(): True on the
        first call, which marks the collector `finished`; False after. Raises if the collector
        was never bound to an emitter."""
        if self.finished:
            return False
        if self.emitter is None:
            raise RuntimeError(f"{self.name}: run_once() before bind()")
        self.finished = True
        return True

    def routes(self) -> dict[tuple[str, str], Any]:
        """HTTP routes this collector serves: {(method, path): handler(request) -> Response}."""
        return {}

    def emitter_never_waits(self) -> bool:
        """For `core.http.inline(handler, self.emitter_never_waits)` on a push route."""
        return self.emitter is not None and self.emitter.never_waits()


class ListEmitter:
    """An Emitter that keeps what it is given (tests, `warden deadletters replay --dry-run`)."""
    durability = "none: kept in a list in memory"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.dead: list[tuple[Any, str, str]] = []
        self.dead_formats: list[tuple[str, ...]] = []     # the formats of each letter in `dead`

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def dead_letter(self, raw: Any, reason: str, source: str = "", formats: tuple[str, ...] = ()) -> None:
        self.dead.append((raw, reason, source))
        self.dead_formats.append(tuple(formats))

    def flush(self) -> None:
        pass

    def full(self) -> bool:
        return False

    def never_waits(self) -> bool:
        return True
