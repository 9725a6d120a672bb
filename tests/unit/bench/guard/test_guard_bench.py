"""The guard benchmark runs end to end on a small sample (no timing assertions): leave-one-source-out
with the TF-IDF candidate over three small sources, the everyday fixture and the latency figures."""
from __future__ import annotations

import itertools
import json


def test_guard_bench_small(shared_data, tmp_path):
    from bench.guard.cli import render, run
    src = shared_data / "prompts" / "prompt_injection_dev.jsonl"
    rows = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    pick = []
    for source in ("s-labs", "neuralchemy"):
        for label in (0, 1):
            pick += list(itertools.islice((r for r in rows if r["source"].startswith(source) and r["label"] == label), 60))
    xstest = shared_data / "prompts" / "extra" / "xstest_safe.jsonl"
    pick += [json.loads(x) for x in xstest.read_text(encoding="utf-8").splitlines()[:40]]
    # a small copy of the dev file's layout: each row's source is its own `source` field
    (tmp_path / "prompt_injection_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pick), encoding="utf-8")

    res = run(str(tmp_path), loso=True, candidates=("tfidf",), latency=True, requests=5, rate=1000.0)
    [rep] = res["leave_one_source_out"]
    metrics = {s["metric"] for s in rep["sources"]}
    assert rep["candidate"] == "tfidf" and len(rep["sources"]) >= 3
    assert "balanced_accuracy" in metrics and "tnr" in metrics          # mixed and benign-only sources
    assert all(0.0 <= s["value"] <= 1.0 for s in rep["sources"])
    worst = rep["worst"]["balanced_accuracy"]
    assert worst["value"] == min(s["value"] for s in rep["sources"] if s["metric"] == "balanced_accuracy")
    assert res["everyday"]["prompts"] >= 200 and 0.0 <= res["everyday"]["tnr"] <= 1.0
    single = res["latency"]["single"]["latency_ms"]
    assert single["p50"] <= single["p99"]
    text = render(res)
    assert "worst balanced accuracy" in text and "everyday prompts" in text
