"""Fixtures for the real Kafka broker and Elasticsearch node of deploy/local.

scripts/test starts the stack and sets WARDEN_REQUIRE_STACK=1: then a missing service is a test
failure, not a skip. Run alone, these tests start the stack themselves when WARDEN_START_STACK=1,
and otherwise skip with the reason.
"""
from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KAFKA = os.environ.get("WARDEN_KAFKA_BOOTSTRAP", f"127.0.0.1:{os.environ.get('WARDEN_KAFKA_PORT', '9092')}")
ES = os.environ.get("WARDEN_ES_URL", f"http://127.0.0.1:{os.environ.get('WARDEN_ES_PORT', '9200')}")


def _port_open(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host.replace("http://", "").replace("//", ""), int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack():
    if not (_port_open(KAFKA) and _port_open(ES.replace("http://", ""))):
        if os.environ.get("WARDEN_START_STACK") == "1" or os.environ.get("WARDEN_REQUIRE_STACK") == "1":
            subprocess.run([str(ROOT / "deploy" / "local" / "stack"), "up"], check=True)
        else:
            pytest.skip("Kafka/Elasticsearch not running: ./scripts/test starts them (or WARDEN_START_STACK=1)")
    return {"kafka": KAFKA, "es": ES}


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_cfg(stack, run_id, tmp_path):
    """A config on the real Kafka and Elasticsearch, isolated by topic prefix, groups and index prefix;
    its indices and index templates are deleted afterwards (left behind, a few hundred runs fill the
    local node's 1,000-shard limit and every later index creation fails). Its topics are left (a
    fresh broker per CI run; `rm -rf deploy/local/.data/kafka-data` with the stack down resets a
    developer's)."""
    from agent.config import parse
    cfg = parse({
        "data_dir": str(tmp_path / "warden"),
        "bus": {"type": "kafka", "bootstrap": stack["kafka"], "topic_prefix": f"t{run_id}.", "partitions": 3},
        "store": {"type": "elasticsearch", "hosts": [stack["es"]], "index_prefix": f"warden-t{run_id}"},
        "pipeline": {"group_prefix": f"g{run_id}-", "batch_size": 500, "checkpoint_interval_s": 0.5},
    })
    yield cfg
    _clean_up(cfg)


def _clean_up(cfg) -> None:
    """Best effort: a test that stopped a service has restarted it, but a failed one may not have."""
    from elasticsearch import Elasticsearch
    prefix = cfg.store.index_prefix
    es = Elasticsearch(cfg.store.hosts, request_timeout=10)
    try:
        names = list(es.indices.get(index=f"{prefix}*", expand_wildcards="all", ignore_unavailable=True))
        if names:   # by name: Elasticsearch refuses wildcard deletes (action.destructive_requires_name)
            es.indices.delete(index=",".join(names), ignore_unavailable=True)
        templates = es.indices.get_index_template(name=f"{prefix}*").get("index_templates", [])
        for t in templates:
            es.indices.delete_index_template(name=t["name"])
    except Exception:  # noqa: BLE001 - cleanup must not turn a pass into an error
        pass
    finally:
        es.close()


@pytest.fixture
def es_client(stack):
    from elasticsearch import Elasticsearch
    es = Elasticsearch(stack["es"])
    yield es
    es.close()
