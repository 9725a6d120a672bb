"""The inline guard endpoint enforces the block list that the blocklist responder maintains
(the same SQLite file in the data dir), without any extra configuration."""
from __future__ import annotations

import requests

from core import registry
from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from responders.blocklist import BlockList


def test_guard_denies_a_blocked_client_and_allows_others(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "allow_unauthenticated": True}})
    guard = registry.create("collector", "guard/t", {})
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), stages=("collect",), collectors=[guard])
    p.start()
    try:
        BlockList(tmp_path / "w" / "blocklist.db").add("client", "mallory", reason="prompt injection alert", ttl=3600)
        host, port = p.http.address
        url = f"http://{host}:{port}/v1/guard"
        denied = requests.post(url, json={"prompt": "What is the capital of France?", "client_id": "mallory"}).json()
        assert denied["decision"] == "deny" and denied["stage"] == "blocklist"
        assert "prompt injection alert" in denied["reason"]
        allowed = requests.post(url, json={"prompt": "What is the capital of France?", "client_id": "alice"}).json()
        assert allowed["decision"] == "allow"
    finally:
        p.close()
