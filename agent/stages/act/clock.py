"""The act stage's clock: the event-time watermark of the alerts it has seen, which also advances
with the wall time spent since it last moved (so group timers fire while the stage is idle, and a
replay of a recorded incident groups exactly as the live run did). Kept with the checkpoint."""
from __future__ import annotations

from typing import Callable

NS, KEY = "act", "watermark"


class WatermarkClock:
    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.watermark = 0.0
        self._moved_at = monotonic()

    def now(self) -> float:
        """Event-time watermark, advanced by the wall time spent since it last moved."""
        return self.watermark + (self.monotonic() - self._moved_at)

    def advance(self, t: float) -> None:
        if t > self.now():
            self.watermark = t
            self._moved_at = self.monotonic()

    # state ----------------------------------------------------------------------------------------
    def restore(self, state) -> None:
        wm = state.get(NS, KEY)
        if wm:
            self.advance(float(wm))

    def snapshot_items(self) -> list[tuple[str, str, bytes]]:
        return [(NS, KEY, str(self.watermark).encode())]
