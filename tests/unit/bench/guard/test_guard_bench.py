"""The guard benchmark runs end to end on a small sample (no timing assertions)."""
from __future__ import annotations


def test_guard_bench_small(shared_data):
    from bench.guard import main
    data = shared_data / "prompts" / "prompt_injection_dev.jsonl"
    res = main(data, holdout_source="neuralchemy", requests=5, rate=1000.0, limit=150,
               train_kwargs={"limit": 400, "embeddings": False, "lex_epochs": 2})
    q = res["in_source"]
    assert 0.0 <= q["balanced_accuracy"] <= 1.0 and q["n"] == 150
    assert set(q) >= {"accuracy_injection", "accuracy_benign", "by_source", "embedding_stage_share"}
    assert all(s.endswith("/validation") for s in q["by_source"])
    oos = res["out_of_source"]
    assert oos["holdout_source"] == "neuralchemy" and oos["holdout"]["n"] == 150
    assert not any(s.startswith("neuralchemy") for s in oos["trained_on"])
    lat = res["latency"]
    assert lat["all"]["n"] == 5 and lat["all"]["p50"] <= lat["all"]["p99"]
