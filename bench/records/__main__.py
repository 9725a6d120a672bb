"""What the embedded default holds while ingesting: N inference records POSTed to /v1/inference
in batches through the real HTTP server, the stages running in between (the default detectors).
Prints the records held by the bus (peak and at the end), the records it dropped after every
stage committed them, 503 answers, and the process RSS before / after (informative: Python keeps
freed memory in its own pools).

    python -m bench.records [--records 50000] [--batch 500] [--max-held 200000]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time

import orjson
import requests


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def inference(i: int) -> dict:
    return {"schema": "warden.inference", "model": f"m{i % 5}", "time": 1767571200 + i,
            "features": {"x": i % 13, "y": 0.5}, "prediction": i % 2, "client_id": f"c{i % 50}"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--max-held", type=int, default=200_000)
    a = ap.parse_args()
    from agent.config import parse
    from core.counters import Counters
    from agent.pipeline import Pipeline
    from agent.runtime import Runtime
    from collectors.http_ingest import HttpIngestCollector

    with tempfile.TemporaryDirectory() as d:
        cfg = parse({"data_dir": d, "bus": {"max_held_records": a.max_held},
                     "http": {"enabled": True, "port": 0, "max_body_bytes": 50_000_000}})
        p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[HttpIngestCollector("http_ingest/b")])
        p.start()
        host, port = p.http.address
        url = f"http://{host}:{port}/v1/inference"
        before, peak, busy, t0 = rss_mb(), 0, 0, time.perf_counter()
        for start in range(0, a.records, a.batch):
            body = orjson.dumps([inference(i) for i in range(start, min(start + a.batch, a.records))])
            while (r := requests.post(url, data=body, headers={"Content-Type": "application/json"})).status_code == 503:
                busy += 1
                p.drain(idle_rounds=1)
            assert r.status_code == 200, r.text
            peak = max(peak, p.rt.bus.held())
            p.drain(idle_rounds=1)
        bus = p.rt.bus
        written = sum(sum(bus.end_offsets(p.rt.topic(t)).values()) for t in ("inference", "findings", "alerts"))
        print(f"records posted: {a.records} in batches of {a.batch} ({time.perf_counter() - t0:.0f} s)")
        print(f"bus: held peak {peak}, held at the end {bus.held()}, written to inference/findings/alerts {written}, "
              f"unread tail trimmed {bus.unread_trimmed}, 503 answers {busy}")
        print(f"RSS: {before:.0f} MB before, {rss_mb():.0f} MB after")
        p.close()


if __name__ == "__main__":
    main()
