"""Encode / decode cost of the records that cross the bus: events and findings, through the
codec's fast paths (prints CPU microseconds per record, best of `--repeat` runs).

    python -m bench.codec [--records 20000] [--repeat 9]
"""
from __future__ import annotations

import argparse
import time
import timeit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=9)
    a = ap.parse_args()
    from core import codec
    from core.event import Event, Finding
    n = a.records
    evs = [Event.create(source="otlp/x", kind="metric", entity=f"node-{i % 50}", name="gpu.utilization",
                        time=1.7e9 + i, value=0.5 + (i % 7) / 10,
                        attributes={"gpu.index": i % 8, "host.name": f"h{i % 50}"}) for i in range(n)]
    fs = [Finding.create(detector="baseline/default", entity=f"node-{i % 50}", time=1.7e9 + i, score=4.2,
                         threshold=3.0, severity="high", title="t", evidence={"metric": "gpu.utilization", "z": 4.2},
                         event_ids=[f"e{i}"], tags=["x"], rule="gpu.utilization") for i in range(n)]
    eb, fb = [codec.encode(e) for e in evs], [codec.encode(f) for f in fs]

    def best(fn) -> float:
        return min(timeit.repeat(fn, number=1, repeat=a.repeat, timer=time.process_time)) / n * 1e6
    print(f"event encode    {best(lambda: [codec.encode(e) for e in evs]):.2f} us/record")
    print(f"event decode    {best(lambda: [codec.decode(b, 'event') for b in eb]):.2f} us/record")
    print(f"event batch     {best(lambda: codec.decode_events(eb)):.2f} us/record (decode_events)")
    print(f"finding encode  {best(lambda: [codec.encode(f) for f in fs]):.2f} us/record")
    print(f"finding decode  {best(lambda: [codec.decode(b, 'finding') for b in fb]):.2f} us/record")


if __name__ == "__main__":
    main()
