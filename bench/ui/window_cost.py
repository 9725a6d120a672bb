"""What the chart window (detectors/metrics/recent.py) costs the metric detectors' `process`:
the baseline detector over 200,000 events of 500 series, in batches of 1,000, with and without
`_remember` (best of 3 runs each, CPU time).

    python -m bench.ui.window_cost
"""
from __future__ import annotations

import time

import numpy as np

from core.event import Event
from core.registry import create
from detectors.metrics.recent import ChartWindow


def _run(evs) -> float:
    d = create("detector", "baseline/bench", {})
    t = time.process_time()
    for i in range(0, len(evs), 1000):
        d.process(evs[i:i + 1000])
    return time.process_time() - t


def main() -> None:
    rng = np.random.default_rng(1)
    evs = [Event.create(source="b", kind="metric", entity=f"n{i % 500}", name="m", time=1000.0 + i,
                        value=float(rng.normal())) for i in range(200_000)]
    _run(evs[:20_000])                               # compile the kernels
    with_window = min(_run(evs) for _ in range(3))
    keep = ChartWindow._remember
    ChartWindow._remember = lambda self, events, res: None
    try:
        without = min(_run(evs) for _ in range(3))
    finally:
        ChartWindow._remember = keep
    print(f"baseline.process, 200k events: {with_window:.3f} s CPU with the window, {without:.3f} s without: "
          f"{(with_window - without) / len(evs) * 1e6:.2f} us per event")


if __name__ == "__main__":
    main()
