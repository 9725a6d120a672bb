"""The web page with 10,000 alerts: alert list first paint and alert page time.

    python -m bench.ui [--alerts 10000] [--runs 7] [--store sqlite|elasticsearch]

Makes N alerts (every one a metric alert with a 120-point chart, the largest kind of document),
serves the page with warden's HTTP server and drives Debian's headless Chromium (selenium):
- first paint: the browser's `first-contentful-paint` of /ui/alerts (navigation start → first
  content drawn), unfiltered, filtered (status + free text) and page 100 (deep paging);
- server time: wall time of one GET of the alert list and of an alert page (python requests,
  keep-alive), median and p90 over the runs.
Targets (issue 12): list first paint < 1 s, alert page < 500 ms.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
import uuid

import requests

from core.event import SEVERITIES, Alert


def make_alerts(n: int, seed: int = 7) -> list[Alert]:
    rng = random.Random(seed)
    out = []
    t0 = 1.77e9
    for i in range(n):
        first = t0 + i * 30.0
        ent = f"gpu-node-{rng.randrange(200)}"
        pts = []
        for j in range(120):
            v = 100.0 + rng.gauss(0, 2) + (40.0 if j > 110 else 0.0)
            pts.append([first - (119 - j) * 60.0, v, 100.0, 2.0, j > 110])
        out.append(Alert(
            id=uuid.UUID(int=rng.getrandbits(128)).hex, rule=rng.choice(["metric-anomaly", "gpu-leak", "slo"]),
            title=f"gpu.memory.used up on {ent}: {pts[-1][1]:.4g} vs baseline 100", severity=rng.choice(SEVERITIES),
            entity=ent, group_key=f"incident-{i // 3}", status=rng.choice(["firing", "resolved", "resolved"]),
            first_seen=first, last_seen=first + 600.0, count=rng.randrange(1, 50), detector="baseline/default",
            evidence={"metric": "gpu.memory.used", "value": pts[-1][1], "baseline": 100.0, "scale": 2.0,
                      "zscore": 20.0, "direction": "up",
                      "chart": {"metric": "gpu.memory.used", "points": pts, "threshold_k": 7.0, "direction": "both",
                                "crossings": 9}},
            labels={"alertname": "metric-anomaly", "entity": ent}))
    return out


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--store", choices=["sqlite", "elasticsearch"], default="sqlite")
    ap.add_argument("--es", default="http://127.0.0.1:9200")
    args = ap.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from agent.config import parse
    from agent.http.server import HttpServer
    from core.stores import create_store
    from agent.ui import install
    from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS

    tmp = tempfile.mkdtemp(prefix="warden-bench-ui-")
    store_cfg = {"type": "sqlite"} if args.store == "sqlite" else \
        {"type": "elasticsearch", "hosts": [args.es], "index_prefix": f"warden-benchui{uuid.uuid4().hex[:6]}"}
    cfg = parse({"data_dir": tmp, "store": store_cfg})
    store = create_store(cfg)
    store.start()
    alerts = make_alerts(args.alerts)
    t = time.perf_counter()
    for i in range(0, len(alerts), 1000):
        store.upsert_alerts(alerts[i:i + 1000])
    store.flush()
    print(f"{len(alerts)} alerts written to {args.store} in {time.perf_counter() - t:.1f}s")
    token = uuid.uuid4().hex
    srv = HttpServer("127.0.0.1", 0, token=token, rate_limit_rps=0)
    install(srv, cfg, store)
    srv.start()
    base = "http://%s:%d" % srv.address

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='warden-bench-chromium-')}")
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        drv.get(base + "/ui/login")
        drv.find_element(By.ID, "token").send_keys(token)
        drv.find_element(By.ID, "sign-in").click()
        time.sleep(0.5)
        sess = requests.Session()
        sess.post(base + "/ui/login", data={"token": token}, allow_redirects=False)
        pages = {"list": "/ui/alerts", "list filtered": "/ui/alerts?status=firing&q=gpu-node-1",
                 "list page 100": "/ui/alerts?page=100", "alert page": f"/ui/alerts/{alerts[len(alerts) // 2].id}"}
        print(f"{'page':<16} {'first paint ms (median / p90)':>30} {'server ms (median / p90)':>26}")
        for name, path in pages.items():
            fcp, srv_ms = [], []
            for _ in range(args.runs):
                drv.get(base + path)
                v = drv.execute_script(
                    "const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null")
                if v is not None:
                    fcp.append(float(v))
                t = time.perf_counter()
                r = sess.get(base + path)
                srv_ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            rows = drv.find_elements(By.CSS_SELECTOR, "tr.alert") if name.startswith("list") else []
            print(f"{name:<16} {statistics.median(fcp):>16.0f} / {_pct(fcp, 0.9):<12.0f}"
                  f" {statistics.median(srv_ms):>12.1f} / {_pct(srv_ms, 0.9):<10.1f}"
                  + (f"  ({len(rows)} rows)" if rows else ""))
    finally:
        drv.quit()
        srv.close()
        store.close()
        if args.store == "elasticsearch":
            for suffix in ("alerts", "actions"):
                requests.delete(f"{args.es}/{store_cfg['index_prefix']}-{suffix}", timeout=10)
                requests.delete(f"{args.es}/_index_template/{store_cfg['index_prefix']}-{suffix}", timeout=10)


if __name__ == "__main__":
    main()
