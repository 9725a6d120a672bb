"""The act stage's watermark clock."""
from __future__ import annotations

from agent.stages.act.clock import WatermarkClock


def test_the_watermark_moves_forward_only_and_wall_time_advances_it():
    mono = {"t": 50.0}
    c = WatermarkClock(lambda: mono["t"])
    assert c.now() == 0.0
    c.advance(1000.0)
    mono["t"] += 5
    assert c.now() == 1005.0 and c.watermark == 1000.0
    c.advance(1003.0)                       # older than the clock now: ignored
    assert c.now() == 1005.0 and c.watermark == 1000.0
    c.advance(2000.0)
    assert c.now() == 2000.0
