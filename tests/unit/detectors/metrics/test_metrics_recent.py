"""The bounded window of recent points behind every metric alert's chart (detectors/metrics/recent.py)."""
from __future__ import annotations

import pytest

from core.event import Event
from core.registry import create
from detectors.metrics.recent import RecentPoints


def _series(n: int, jump_at: int, entity: str = "node-1", name: str = "gpu.memory.used") -> list[Event]:
    return [Event.create(source="t", kind="metric", entity=entity, name=name, time=1000.0 + 60 * i,
                         value=(100.0 + (i % 5)) + (500.0 if i >= jump_at else 0.0)) for i in range(n)]


def test_window_is_bounded_and_ordered():
    r = RecentPoints(size=10)
    keys = [("e", "m")] * 25
    r.observe(keys, range(25), range(25), [1.0] * 25, [0.5] * 25, [i == 24 for i in range(25)], [True] * 25)
    ch = r.chart_for(("e", "m"), until=1e9, threshold_k=3.0)
    assert [p[0] for p in ch["points"]] == list(range(15, 25))
    assert ch["crossings"] == 1 and ch["points"][-1][4] is True
    assert [p[0] for p in r.chart_for(("e", "m"), until=19, threshold_k=None)["points"]] == list(range(15, 20))


@pytest.mark.parametrize("detector", ["baseline", "gpu_memory_leak"])
def test_findings_carry_the_chart_and_snapshots_keep_the_window(detector):
    d = create("detector", f"{detector}/t", {})
    evs = _series(80, 60) if detector == "baseline" else \
        [Event.create(source="t", kind="metric", entity="n", name="gpu.memory.used", time=1000.0 + 60 * i,
                      value=1e10 + 1e7 * (i % 3) + (2e8 * (i - 40) if i >= 40 else 0.0), attributes={"gpu.index": "0", "gpu.memory.total": 8e10}) for i in range(80)]
    first, rest = evs[:40], evs[40:]
    d.process(first)
    blob = d.snapshot("n" if detector != "baseline" else "node-1")
    d2 = create("detector", f"{detector}/t", {})
    d2.restore(blob, "n" if detector != "baseline" else "node-1")
    findings = d2.process(rest)
    assert findings
    ch = findings[0].evidence["chart"]
    assert ch["points"][0][0] < rest[0].time                  # points from before the restore
    assert ch["points"][-1][0] <= findings[0].time
    assert ch["crossings"] >= 1
    assert (ch["threshold_k"] is not None) == (detector == "baseline")


def test_forget_drops_the_entity_window():
    d = create("detector", "baseline/t", {})
    d.process(_series(40, 100, entity="a") + _series(40, 100, entity="b"))
    d.forget("a")
    assert {r["key"][0] for r in d.recent.dump()} == {"b"}
